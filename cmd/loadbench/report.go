package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// report renders the figures and the budgets of issue 6 as a markdown table.
// metricsTarget is /profile on an app that serves (and so collects) its
// metrics; its ratio to "authenticated /profile" is what metrics cost.
const metricsTarget = "authenticated /profile, metrics on"

func report(o options, targets []target, results [][]load, appLogin, baseLogin loginCost, appStart, baseStart time.Duration, appIdle, baseIdle rss) string {
	var b strings.Builder
	stat := func(i int, f func(load) float64) float64 {
		var xs []float64
		for _, l := range results[i] {
			xs = append(xs, f(l))
		}
		return median(xs)
	}
	rps := func(i int) float64 { return stat(i, load.rps) }
	p50 := func(i int) float64 { return stat(i, func(l load) float64 { return float64(l.P50US) / 1000 }) }
	p99 := func(i int) float64 { return stat(i, func(l load) float64 { return float64(l.P99US) / 1000 }) }
	cpu := func(i int) float64 { return stat(i, load.cpuPerRequestUS) }
	base := rps(0)
	// The budgets of issue 12 (and issue 6's p99).
	budgets := map[string]float64{
		"authenticated /profile":              0.7,
		"anonymous index /":                   0.9,
		"authenticated /profile, Redis store": 0.5,
	}
	index := map[string]int{}
	for i, t := range targets {
		index[t.name] = i
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintf(&b, "Run %s on %s CPUs (%s/%s), %s; %d rounds of %s per target, %d connections, wrk pinned to CPU 1 and servers to CPU 0 (redis-server on CPU %s). Medians over rounds. Server CPU per request is the server process's CPU time (from /proc) over the run's requests, redis-server's not included: unlike the request rate, it does not depend on whether wrk, on its shared core, kept the server busy.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), onlineCPUs(), runtime.GOOS, runtime.GOARCH, runtime.Version(), o.rounds, o.duration, o.conns, o.redisCPU)
	b.WriteString("| target | req/s | p50 ms | p99 ms | req/s ratio to baseline | budget | server CPU µs/req | requests per CPU-second, ratio to baseline |\n|---|---:|---:|---:|---:|---|---:|---:|\n")
	for i, t := range targets {
		ratio := rps(i) / base
		budget := ""
		if min, ok := budgets[t.name]; ok {
			budget = fmt.Sprintf("≥ %.1f×: %s", min, verdict(ratio >= min))
		}
		if t.name == "authenticated /profile" {
			budget += fmt.Sprintf("; p99 ≤ 2× baseline's (%.2f×): %s", p99(i)/p99(0), verdict(p99(i) <= 2*p99(0)))
		}
		if t.name == metricsTarget {
			if j, ok := index["authenticated /profile"]; ok {
				cost := 1 - rps(i)/rps(j)
				budget = fmt.Sprintf("metrics cost %.1f%% of /profile: ≤ 5%%: %s", 100*cost, verdict(cost <= 0.05))
			}
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.2f× | %s | %.1f | %.2f× |\n", t.name, rps(i), p50(i), p99(i), ratio, budget, cpu(i), cpu(0)/cpu(i))
	}
	cpuRatio := appLogin.cpuPerMS / baseLogin.cpuPerMS
	perCPU := baseLogin.cpuPerMS / appLogin.cpuPerMS // logins per CPU-second, app to baseline
	memRatio := appLogin.rssMiB.total / baseLogin.rssMiB.total
	idleRatio := appIdle.total / baseIdle.total
	startRatio := float64(appStart) / float64(baseStart)
	b.WriteString("\n| measurement | app | baseline | ratio | budget |\n|---|---:|---:|---:|---|\n")
	fmt.Fprintf(&b, "| logins per server CPU-second (full round trip vs minimal code exchange), %d logins | %.0f | %.0f | %.2f× | ≥ 0.6×: %s |\n", appLogin.n, 1000/appLogin.cpuPerMS, 1000/baseLogin.cpuPerMS, perCPU, verdict(perCPU >= 0.6))
	fmt.Fprintf(&b, "| server CPU per login | %.2f ms | %.2f ms | %.2f× | |\n", appLogin.cpuPerMS, baseLogin.cpuPerMS, cpuRatio)
	fmt.Fprintf(&b, "| resident memory at rest (of it file pages) | %.1f MiB (%.1f) | %.1f MiB (%.1f) | %.2f× | ≤ 2×: %s |\n", appIdle.total, appIdle.file, baseIdle.total, baseIdle.file, idleRatio, verdict(idleRatio <= 2))
	fmt.Fprintf(&b, "| logins per second (4 at a time, provider included) | %.0f | %.0f | %.2f× | |\n", appLogin.perSecond, baseLogin.perSecond, appLogin.perSecond/baseLogin.perSecond)
	fmt.Fprintf(&b, "| resident memory after %d logins (of it file pages, e.g. the store's mmap) | %.1f MiB (%.1f) | %.1f MiB (%.1f) | %.2f× | ≤ 3×: %s |\n", appLogin.n, appLogin.rssMiB.total, appLogin.rssMiB.file, baseLogin.rssMiB.total, baseLogin.rssMiB.file, memRatio, verdict(memRatio <= 3))
	fmt.Fprintf(&b, "| cold start to first /healthz 200 (median of %d, outside dev mode) | %.1f ms | %.1f ms | %.2f× | ≤ 3×: %s |\n", o.coldStarts, ms(appStart), ms(baseStart), startRatio, verdict(startRatio <= 3))
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// onlineCPUs is the machine's CPU count (runtime.NumCPU sees only the CPU
// this process is pinned to).
func onlineCPUs() string {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return strconv.Itoa(runtime.NumCPU())
	}
	s := strings.TrimSpace(string(b)) // e.g. "0-1"
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		return strconv.Itoa(b - a + 1)
	}
	return s
}
