// Command loadbench measures the app against a bare net/http baseline in one
// run, on this machine, and prints the ratios: authenticated /profile, the
// /profile/userinfo fragment, the anonymous index, full login round trips,
// resident memory after many logins, and cold start. Servers run pinned to
// CPU 0 and the load generator (wrk) to CPU 1 where taskset exists. Every
// measured response is checked to be the real page (200 and the user's
// name), so a redirect to the login can never pass as speed.
//
//	go build -o bin/server ./cmd/server && go run ./cmd/loadbench -server bin/server
//
// See docs/BENCHMARKS.md for the method and the latest figures.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/loginapp/login/internal/devidp"
)

type options struct {
	server     string
	duration   time.Duration
	rounds     int
	conns      int
	logins     int
	coldStarts int
	redis      bool
	out        string
	pprofDir   string
	redisCPU   string
}

func main() {
	var o options
	var baselineAddr, baselineDebug, issuer, clientID, clientSecret string
	smoke := flag.Bool("smoke", false, "a few seconds in all: to check that the benchmark works, not to measure")
	timeout := flag.Duration("timeout", 20*time.Minute, "give up (and stop every child process) after this long")
	flag.StringVar(&o.server, "server", "bin/server", "the server binary to measure (a release build: go build -o bin/server ./cmd/server)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each round runs every target once, alternating")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections")
	flag.IntVar(&o.logins, "logins", 10000, "logins for the login cost and memory figures")
	flag.IntVar(&o.coldStarts, "cold-starts", 5, "process starts for the cold start figure")
	flag.BoolVar(&o.redis, "redis", true, "also measure /profile with the Redis session store (needs redis-server)")
	flag.StringVar(&o.out, "out", "", "also write the table (markdown) to this file")
	flag.StringVar(&o.redisCPU, "redis-cpu", "1", "CPU for redis-server: 1 (default) stands for Redis on another machine, sharing the load generator's core rather than the app's; 0 puts it on the app's core")
	flag.StringVar(&o.pprofDir, "pprof", "", "save CPU and heap profiles of the app under load (last round) into this directory")
	flag.StringVar(&baselineAddr, "baseline-serve", "", "internal: serve the baseline on this address")
	flag.StringVar(&baselineDebug, "baseline-debug", "", "internal: serve the baseline's profiles on this address")
	flag.StringVar(&issuer, "issuer", "", "internal: the baseline's provider")
	flag.StringVar(&clientID, "client-id", "", "internal")
	flag.StringVar(&clientSecret, "client-secret", "", "internal")
	flag.Parse()
	if baselineAddr != "" {
		if err := serveBaseline(baselineAddr, baselineDebug, issuer, clientID, clientSecret); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *smoke {
		o.duration, o.rounds, o.logins, o.coldStarts = time.Second, 1, 50, 2
		*timeout = min(*timeout, 3*time.Minute)
	}
	watchdog(*timeout)
	if err := pinSelf(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// pinSelf re-executes the benchmark on CPU 1 (the load core) when taskset
// exists and it is not pinned yet; servers are started on CPU 0.
func pinSelf() error {
	if os.Getenv("LOADBENCH_PINNED") == "1" {
		return nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench: no taskset: servers and load share the cores")
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1", self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "LOADBENCH_PINNED=1")
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// proc is a started server process.
type proc struct {
	cmd *exec.Cmd
	url string
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	if err := waitOrKill(p.cmd, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %s: %v\n", p.cmd.Path, err)
	}
}

// waitOrKill waits for cmd to exit after a signal; past d it asks for a
// goroutine dump (SIGQUIT), kills it and says so.
func waitOrKill(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return fmt.Errorf("did not exit within %v of SIGINT", d)
	}
}

// started are the child processes, for the watchdog to kill.
var (
	startedMu sync.Mutex
	started   []*exec.Cmd
)

func track(cmd *exec.Cmd) {
	startedMu.Lock()
	started = append(started, cmd)
	startedMu.Unlock()
}

// watchdog ends the whole benchmark, children included, after d: a
// benchmark must never hang a CI run.
func watchdog(d time.Duration) {
	time.AfterFunc(d, func() {
		fmt.Fprintf(os.Stderr, "loadbench: still running after %v: giving up\n", d)
		startedMu.Lock()
		for _, c := range started {
			if c.Process != nil {
				c.Process.Kill()
			}
		}
		startedMu.Unlock()
		os.Exit(1)
	})
}

// syncBuffer collects a child's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts argv on the server core and waits for its "listening on
// URL" line (on stdout or stderr).
func startProc(argv []string, env []string) (*proc, error) {
	if _, err := exec.LookPath("taskset"); err == nil {
		argv = append([]string{"taskset", "-c", "0"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	track(cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok && !sent {
				found <- strings.TrimSpace(u)
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case u := <-found:
		return &proc{cmd: cmd, url: u}, nil
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s printed no 'listening on' line in 20s", argv)
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const sessionSecret = "loadbench-session-secret-0123456789abcdef"

func appEnv(addr, issuer, dataDir, store, debugAddr string, extra ...string) []string {
	return append([]string{
		"GOGC=" + os.Getenv("GOGC"), // passed on for experiments; empty is the default
		"DEBUG_ADDR=" + debugAddr,
		"PATH=" + os.Getenv("PATH"),
		"LISTEN_ADDR=" + addr,
		"OIDC_ISSUER_URL=" + issuer,
		"OIDC_CLIENT_ID=bench",
		"OIDC_CLIENT_SECRET=bench-secret",
		"SESSION_SECRET=" + sessionSecret,
		"DATA_DIR=" + dataDir,
		"SESSION_STORE=" + store,
		"LOGIN_RATE_LIMIT=100000000",
	}, extra...)
}

func bench(o options) error {
	if _, err := os.Stat(o.server); err != nil {
		return fmt.Errorf("server binary %s: %v (build it: go build -o bin/server ./cmd/server)", o.server, err)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	if o.redis {
		if _, err := exec.LookPath("redis-server"); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: no redis-server: skipping the Redis figure")
			o.redis = false
		}
	}
	tmp, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	self, _ := os.Executable()

	appAddr, redisAppAddr, baseAddr, metricsAppAddr := freeAddr(), freeAddr(), freeAddr(), freeAddr()
	debugAddr, rdebugAddr, baseDebugAddr := "", "", ""
	if o.pprofDir != "" {
		debugAddr, rdebugAddr, baseDebugAddr = freeAddr(), freeAddr(), freeAddr()
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
	}
	idp, err := devidp.Start(context.Background(), devidp.Config{
		ClientID: "bench", ClientSecret: "bench-secret",
		RedirectURIs: []string{
			"http://" + appAddr + "/callback", "http://" + redisAppAddr + "/callback", "http://" + baseAddr + "/callback", "http://" + metricsAppAddr + "/callback",
		},
		PostLogoutRedirectURIs: []string{"http://" + appAddr + "/"},
	})
	if err != nil {
		return err
	}
	defer idp.Close()
	user := idp.Users()[0]

	baseArgs := []string{self, "-baseline-serve", baseAddr, "-issuer", idp.Issuer(), "-client-id", "bench", "-client-secret", "bench-secret"}
	if baseDebugAddr != "" {
		baseArgs = append(baseArgs, "-baseline-debug", baseDebugAddr)
	}
	baseline, err := startProc(baseArgs, []string{"PATH=" + os.Getenv("PATH")})
	if err != nil {
		return err
	}
	defer baseline.stop()
	app, err := startProc([]string{o.server}, appEnv(appAddr, idp.Issuer(), filepath.Join(tmp, "app"), "", debugAddr))
	if err != nil {
		return err
	}
	defer app.stop()
	if err := waitReady(app.url); err != nil {
		return err
	}
	if err := waitHealthy(baseline.url); err != nil {
		return err
	}
	// Resident memory at rest: started, ready, nothing served yet.
	time.Sleep(200 * time.Millisecond)
	appIdle, err := rssMiB(app.pid())
	if err != nil {
		return err
	}
	baseIdle, err := rssMiB(baseline.pid())
	if err != nil {
		return err
	}
	cookie, err := loginCookie(app.url, user)
	if err != nil {
		return fmt.Errorf("log in to the app: %w", err)
	}

	targets := []target{
		{name: "baseline: bare net/http, fixed 2 KB page", slug: "baseline", debug: baseDebugAddr, pid: baseline.pid(), url: baseline.url + "/", marker: "Baseline page"},
		{name: "authenticated /profile", slug: "profile", debug: debugAddr, pid: app.pid(), url: app.url + "/profile", headers: []string{"Cookie: " + cookie}, marker: user.Name},
		{name: "/profile/userinfo fragment (htmx)", slug: "userinfo", debug: debugAddr, pid: app.pid(), url: app.url + "/profile/userinfo", headers: []string{"Cookie: " + cookie, "HX-Request: true"}, marker: user.Subject},
		{name: "anonymous index /", slug: "index", debug: debugAddr, pid: app.pid(), url: app.url + "/", marker: "Log In"},
	}
	// The same app with its metrics served (and so collected), to see
	// what they cost.
	mapp, err := startProc([]string{o.server}, appEnv(metricsAppAddr, idp.Issuer(), filepath.Join(tmp, "mapp"), "", "", "METRICS_ADDR="+freeAddr()))
	if err != nil {
		return err
	}
	defer mapp.stop()
	if err := waitReady(mapp.url); err != nil {
		return err
	}
	mcookie, err := loginCookie(mapp.url, user)
	if err != nil {
		return fmt.Errorf("log in to the app with metrics: %w", err)
	}
	targets = append(targets, target{name: metricsTarget, pid: mapp.pid(), url: mapp.url + "/profile", headers: []string{"Cookie: " + mcookie}, marker: user.Name})

	if o.redis {
		stopRedis, redisURL, err := startRedis(o.redisCPU)
		if err != nil {
			return err
		}
		defer stopRedis()
		rapp, err := startProc([]string{o.server}, appEnv(redisAppAddr, idp.Issuer(), filepath.Join(tmp, "rapp"), redisURL, rdebugAddr))
		if err != nil {
			return err
		}
		defer rapp.stop()
		if err := waitReady(rapp.url); err != nil {
			return err
		}
		rcookie, err := loginCookie(rapp.url, user)
		if err != nil {
			return fmt.Errorf("log in to the Redis app: %w", err)
		}
		targets = append(targets, target{name: "authenticated /profile, Redis store", slug: "profile-redis", debug: rdebugAddr, pid: rapp.pid(), url: rapp.url + "/profile", headers: []string{"Cookie: " + rcookie}, marker: user.Name})
	}

	results := make([][]load, len(targets))
	for r := range o.rounds {
		for i, t := range targets {
			var l load
			profile := o.pprofDir != "" && t.debug != "" && r == o.rounds-1
			err := whileProfiled(profile, t, o.duration, o.pprofDir, func() (err error) {
				l, err = runWrkCPU(t, o.conns, o.duration, tmp)
				return err
			})
			if err != nil {
				return err
			}
			results[i] = append(results[i], l)
			fmt.Fprintf(os.Stderr, "round %d: %-45s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  CPU %5.1f µs/req\n", r+1, t.name, l.rps(), float64(l.P50US)/1000, float64(l.P99US)/1000, l.cpuPerRequestUS())
		}
	}

	// Logins: CPU per login on each server, then resident memory.
	var appLogin, baseLogin loginCost
	err = whileProfiled(o.pprofDir != "", target{slug: "login", debug: debugAddr}, 4*time.Second, o.pprofDir, func() (err error) {
		appLogin, err = measureLogins(app, user, o.logins, true)
		return err
	})
	if err != nil {
		return err
	}
	err = whileProfiled(o.pprofDir != "", target{slug: "baseline-login", debug: baseDebugAddr}, 4*time.Second, o.pprofDir, func() (err error) {
		baseLogin, err = measureLogins(baseline, user, o.logins, false)
		return err
	})
	if err != nil {
		return err
	}

	// Cold start, outside dev mode, against the running provider.
	appStart, err := coldStart(o.coldStarts, func(i int) []string { return []string{o.server} }, func(i int) []string {
		return appEnv(freeAddr(), idp.Issuer(), filepath.Join(tmp, fmt.Sprintf("cold%d", i)), "", "")
	})
	if err != nil {
		return err
	}
	baseStart, err := coldStart(o.coldStarts, func(i int) []string {
		return []string{self, "-baseline-serve", freeAddr(), "-issuer", idp.Issuer(), "-client-id", "bench", "-client-secret", "bench-secret"}
	}, func(int) []string { return []string{"PATH=" + os.Getenv("PATH")} })
	if err != nil {
		return err
	}

	table := report(o, targets, results, appLogin, baseLogin, appStart, baseStart, appIdle, baseIdle)
	fmt.Print(table)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(table), 0o644)
	}
	return nil
}

func waitReady(base string) error { return waitFor(base, "/readyz") }

// waitHealthy waits for /healthz (the baseline has no /readyz).
func waitHealthy(base string) error { return waitFor(base, "/healthz") }

func waitFor(base, path string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s%s not 200 in 20s", base, path)
}

var authRequestID = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signIn walks a login from startURL through the dev provider's form and
// returns the last response's body and URL.
func signIn(c *http.Client, startURL string, user devidp.User) (string, *url.URL, error) {
	resp, err := c.Get(startURL)
	if err != nil {
		return "", nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := authRequestID.FindSubmatch(page)
	if m == nil {
		return "", nil, fmt.Errorf("no login form at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	form := url.Values{"authRequestID": {string(m[1])}, "username": {user.Username}, "password": {user.Password}}
	resp, err = c.PostForm(resp.Request.URL.ResolveReference(&url.URL{Path: "/login"}).String(), form)
	if err != nil {
		return "", nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", nil, fmt.Errorf("login ended with %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return string(body), resp.Request.URL, nil
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// loginCookie logs in and returns the session cookie as a Cookie header value.
func loginCookie(base string, user devidp.User) (string, error) {
	c := newBrowser()
	body, at, err := signIn(c, base+"/login", user)
	if err != nil {
		return "", err
	}
	if at.Path != "/profile" || !strings.Contains(body, user.Name) {
		return "", fmt.Errorf("login ended at %s without the user's name", at)
	}
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "session" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", errors.New("no session cookie after login")
}

// loginCost is what n logins cost a server.
type loginCost struct {
	n         int
	cpuPerMS  float64 // CPU milliseconds per login
	perSecond float64
	rssMiB    rss
}

// measureLogins runs n full logins, 4 at a time, each in a new browser, and
// reads the server's CPU time and resident memory.
func measureLogins(p *proc, user devidp.User, n int, isApp bool) (loginCost, error) {
	cpu0, err := cpuSeconds(p.pid())
	if err != nil {
		return loginCost{}, err
	}
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				body, at, err := signIn(newBrowser(), p.url+"/login", user)
				if err == nil && isApp && (at.Path != "/profile" || !strings.Contains(body, user.Name)) {
					err = fmt.Errorf("login ended at %s without the name", at)
				}
				if err == nil && !isApp && !strings.Contains(body, "Baseline page") {
					err = fmt.Errorf("baseline login ended at %s without its page", at)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return loginCost{}, firstErr
	}
	elapsed := time.Since(start)
	cpu1, err := cpuSeconds(p.pid())
	if err != nil {
		return loginCost{}, err
	}
	rss, err := rssMiB(p.pid())
	if err != nil {
		return loginCost{}, err
	}
	return loginCost{n: n, cpuPerMS: (cpu1 - cpu0) * 1000 / float64(n), perSecond: float64(n) / elapsed.Seconds(), rssMiB: rss}, nil
}

// coldStart starts a fresh process n times and returns the median time from
// start to the first 200 on /healthz.
func coldStart(n int, argv func(int) []string, env func(int) []string) (time.Duration, error) {
	var times []time.Duration
	client := &http.Client{Timeout: time.Second}
	for i := range n {
		a, e := argv(i), env(i)
		addr := ""
		for _, kv := range append(a, e...) {
			if v, ok := strings.CutPrefix(kv, "LISTEN_ADDR="); ok {
				addr = v
			}
		}
		if addr == "" {
			addr = a[2] // -baseline-serve ADDR
		}
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Env = e
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		track(cmd)
		for {
			resp, err := client.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 20*time.Second {
				cmd.Process.Kill()
				return 0, fmt.Errorf("%s: no /healthz 200 in 20s:\n%s", a[0], out.String())
			}
			time.Sleep(500 * time.Microsecond)
		}
		times = append(times, time.Since(start))
		cmd.Process.Signal(os.Interrupt)
		if err := waitOrKill(cmd, 10*time.Second); err != nil {
			return 0, fmt.Errorf("%s: %v; its output:\n%s", a[0], err, out.String())
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// startRedis starts a throwaway redis-server pinned to cpu.
func startRedis(cpu string) (func(), string, error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	argv := []string{"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if _, err := exec.LookPath("taskset"); err == nil {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	track(cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return nil, "", errors.New("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }, "redis://" + addr + "/0", nil
}

// whileProfiled runs fn; when profile is set, it records t's profiles
// (saveProfiles, over d) at the same time.
func whileProfiled(profile bool, t target, d time.Duration, dir string, fn func() error) error {
	if !profile {
		return fn()
	}
	saved := make(chan error, 1)
	go func() { saved <- saveProfiles(t, d, dir) }()
	err := fn()
	if perr := <-saved; err == nil {
		err = perr
	}
	return err
}

// saveProfiles records a CPU profile of the app while wrk loads t (for most
// of the run), then a heap profile.
func saveProfiles(t target, d time.Duration, dir string) error {
	secs := max(1, int(d/time.Second)-1)
	client := &http.Client{Timeout: d + 30*time.Second}
	for _, p := range []struct{ path, file string }{
		{fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), t.slug + ".cpu.pprof"},
		{"/debug/pprof/heap", t.slug + ".heap.pprof"},
	} {
		resp, err := client.Get("http://" + t.debug + p.path)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("profile %s: %v %d", p.path, err, resp.StatusCode)
		}
		if err := os.WriteFile(filepath.Join(dir, p.file), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
