package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wrkScript counts, in every wrk thread, the responses that are the real
// page (status 200 and the marker in the body) and those that are not, and
// prints one JSON line at the end.
const wrkScript = `
local marker = os.getenv("BENCH_MARKER")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and body and body:find(marker, 1, true) then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"good":%d,"bad":%d,"errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), g, b,
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

// load is what one wrk run measured.
type load struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	P50US      int64 `json:"p50_us"`
	P99US      int64 `json:"p99_us"`
	Good       int64 `json:"good"`
	Bad        int64 `json:"bad"`
	Errors     int64 `json:"errors"`
	// CPUSeconds is the CPU the server process used during the run (from
	// /proc, not from wrk).
	CPUSeconds float64 `json:"-"`
}

func (l load) rps() float64 { return float64(l.Requests) / (float64(l.DurationUS) / 1e6) }

// cpuPerRequestUS is the server's CPU per request, in µs: unlike the
// request rate, it does not depend on whether the load generator, on its
// shared core, kept the server busy all the time.
func (l load) cpuPerRequestUS() float64 { return l.CPUSeconds * 1e6 / float64(max(l.Requests, 1)) }

// target is one URL to load, with the headers to send and the marker every
// response must contain.
type target struct {
	name    string
	slug    string // file name for profiles
	debug   string // the app's DEBUG_ADDR, for profiles
	pid     int    // the server process, for its CPU time
	url     string
	headers []string
	marker  string
}

// runWrkCPU is runWrk with the CPU time the server used meanwhile.
func runWrkCPU(t target, conns int, d time.Duration, scriptDir string) (load, error) {
	before, err := cpuSeconds(t.pid)
	if err != nil {
		return load{}, err
	}
	l, err := runWrk(t, conns, d, scriptDir)
	if err != nil {
		return l, err
	}
	after, err := cpuSeconds(t.pid)
	l.CPUSeconds = after - before
	return l, err
}

// runWrk drives t with conns connections for d, from the load core.
func runWrk(t target, conns int, d time.Duration, scriptDir string) (load, error) {
	script := filepath.Join(scriptDir, "check.lua")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
			return load{}, err
		}
	}
	args := []string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%s", d), "--timeout", "5s", "-s", script}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	args = append(args, t.url)
	cmd := exec.Command("wrk", args...)
	cmd.Env = append(os.Environ(), "BENCH_MARKER="+t.marker)
	out, err := cmd.Output()
	if err != nil {
		return load{}, fmt.Errorf("wrk %s: %v: %s", t.name, err, out)
	}
	var l load
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if err := json.NewDecoder(bytes.NewReader([]byte(last))).Decode(&l); err != nil {
		return load{}, fmt.Errorf("wrk %s output %q: %v", t.name, out, err)
	}
	if l.Bad > 0 || l.Errors > 0 || l.Good == 0 {
		return l, fmt.Errorf("%s: %d responses were not the real page and %d errors (of %d): the measurement is void", t.name, l.Bad, l.Errors, l.Requests)
	}
	return l, nil
}
