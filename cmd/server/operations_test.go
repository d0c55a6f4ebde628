package main

// Tests of what an operator sees: the Prometheus metrics on their own
// listener, JSON logs, and the security events in them.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/oidctest"
	"github.com/loginapp/login/internal/session/redistest"
)

// scrape GETs the metrics and returns the exposition text.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	return string(b)
}

// metricValue returns the value of the first series whose line starts with
// series (name and labels exactly as exposed), or -1.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestMetrics: with METRICS_ADDR the app serves Prometheus metrics on that
// listener only; after a login, a failed login and a logout they say so,
// with route patterns (never raw paths) and no user ids.
func TestMetrics(t *testing.T) {
	addr := freePort(t)
	app := startApp(t, map[string]string{"METRICS_ADDR": addr})
	c := newClient(t)
	sessLogin(t, c, app, "alice")
	c.get(app.URL + "/profile/userinfo?x=1")
	c.get(app.URL + "/nope/" + strings.Repeat("z", 40))
	c.get(app.URL + "/callback?state=forged&code=x")
	resp := c.postForm(app.URL+"/logout", url.Values{}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	c.postForm(app.URL+"/logout", url.Values{}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")

	text := scrape(t, addr)
	for series, want := range map[string]float64{
		`loginapp_logins_started_total`:                                                   1,
		`loginapp_logins_total{outcome="success"}`:                                        1,
		`loginapp_logins_total{outcome="state"}`:                                          1,
		`loginapp_logins_total{outcome="token_check"}`:                                    0,
		`loginapp_sessions_ended_total{kind="logout"}`:                                    1,
		`loginapp_cross_origin_refused_total`:                                             1,
		`loginapp_http_requests_total{code="2xx",method="GET",route="/profile/userinfo"}`: 1,
		`loginapp_http_requests_total{code="4xx",method="GET",route="unmatched"}`:         1,
		`loginapp_http_requests_total{code="3xx",method="POST",route="/logout"}`:          1,
	} {
		if got := metricValue(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{
		`loginapp_provider_request_duration_seconds_count{endpoint="discovery",outcome="2xx"}`,
		`loginapp_provider_request_duration_seconds_count{endpoint="token",outcome="2xx"}`,
		`loginapp_provider_request_duration_seconds_count{endpoint="userinfo",outcome="2xx"}`,
		`loginapp_provider_request_duration_seconds_count{endpoint="jwks",outcome="2xx"}`,
		`loginapp_http_request_duration_seconds_count{method="GET",route="/profile"}`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if got := metricValue(text, series); got < 1 {
			t.Errorf("%s = %v, want at least 1", series, got)
		}
	}
	// Bounded labels: no raw path, no user.
	for _, leak := range []string{"zzzz", "alice", "devidp|", "x=1"} {
		if strings.Contains(text, leak) {
			t.Errorf("the metrics contain %q", leak)
		}
	}
	// Never on the public listener.
	if r := newClient(t).get(app.URL + "/metrics"); r.StatusCode != http.StatusNotFound {
		t.Errorf("public GET /metrics = %d, want 404", r.StatusCode)
	}
}

// TestMetricsLoginFailureKinds: each kind of failed login has its outcome.
func TestMetricsLoginFailureKinds(t *testing.T) {
	addr := freePort(t)
	op, app := confSetup(t, oidctest.Config{}, map[string]string{"METRICS_ADDR": addr})
	cases := []struct {
		outcome string
		s       oidctest.Scenario
	}{
		{"provider_error", oidctest.Scenario{AuthError: "access_denied"}},
		{"token_check", oidctest.Scenario{Claims: confSet("nonce", "wrong")}},
		{"userinfo", oidctest.Scenario{UserInfo: confSet("sub", "someone-else")}},
		{"unavailable", oidctest.Scenario{Token: confToken(http.StatusBadGateway, "text/html", "<h1>down</h1>")}},
	}
	for _, tc := range cases {
		op.SetScenario(tc.s)
		c := newClient(t)
		if r := c.confLogin(app); r.StatusCode < 400 {
			t.Fatalf("%s: callback = %d, want a failure", tc.outcome, r.StatusCode)
		}
	}
	text := scrape(t, addr)
	for _, tc := range cases {
		if got := metricValue(text, `loginapp_logins_total{outcome="`+tc.outcome+`"}`); got != 1 {
			t.Errorf("logins_total{outcome=%q} = %v, want 1", tc.outcome, got)
		}
	}
}

// TestJSONLogs: with LOG_FORMAT=json every line on stderr is a JSON object,
// access lines and the dev provider's included, but the banner lines the
// contract fixes; the security events carry event=, the request id, and no
// tokens or cookies.
func TestJSONLogs(t *testing.T) {
	app := startApp(t, map[string]string{"LOG_FORMAT": "json", "LOG_LEVEL": "info"})
	c := newClient(t)
	sessLogin(t, c, app, "alice")
	c.get(app.URL + "/profile")
	c.postForm(app.URL+"/logout", url.Values{}, "Sec-Fetch-Site", "same-origin")
	app.stop()

	var events []map[string]any
	access := 0
	for _, line := range strings.Split(strings.TrimSpace(app.Stderr.String()), "\n") {
		if strings.HasPrefix(line, "dev user: ") || strings.HasPrefix(line, "listening on ") || strings.HasPrefix(line, "dev mode: ") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if obj["msg"] == "request" {
			access++
		}
		if obj["event"] != nil {
			events = append(events, obj)
		}
	}
	if access < 3 {
		t.Errorf("%d JSON access lines, want one per request", access)
	}
	want := map[string]bool{"login_succeeded": false, "session_ended": false}
	for _, e := range events {
		if _, ok := want[e["event"].(string)]; ok {
			want[e["event"].(string)] = true
		}
		if e["request_id"] == "" || e["request_id"] == nil || e["client"] == nil {
			t.Errorf("event without request id or client: %v", e)
		}
		if e["sub"] != "devidp|alice" {
			t.Errorf("event %v has sub %v, want devidp|alice", e["event"], e["sub"])
		}
	}
	for ev, seen := range want {
		if !seen {
			t.Errorf("no %s event in the log", ev)
		}
	}
	if jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.`); jwt.MatchString(app.Stderr.String()) {
		t.Error("a JWT is in the log")
	}
}

// TestSessionStoreMetrics: the session store's operations are timed and
// counted by operation and backend, and the gauge of live sessions follows
// logins and logouts, with the embedded store, one Redis and a Redis
// Cluster.
func TestSessionStoreMetrics(t *testing.T) {
	stores := []struct {
		backend string
		env     func(t *testing.T) map[string]string
	}{
		{"bolt", func(*testing.T) map[string]string { return map[string]string{} }},
		{"redis", func(t *testing.T) map[string]string {
			return map[string]string{"SESSION_STORE": redistest.Start(t).URL()}
		}},
		{"redis-cluster", func(t *testing.T) map[string]string {
			return map[string]string{"SESSION_STORE": redistest.StartCluster(t).URL()}
		}},
	}
	for _, st := range stores {
		t.Run(st.backend, func(t *testing.T) {
			addr := freePort(t)
			env := st.env(t)
			env["METRICS_ADDR"] = addr
			app := startApp(t, env)
			app.waitReady(t)
			live := `loginapp_sessions_live{backend="` + st.backend + `"}`
			series := func(name, op string) string {
				return name + `{backend="` + st.backend + `",operation="` + op + `"}`
			}
			want := func(what string, text, series string, ok func(float64) bool, desc string) {
				t.Helper()
				if got := metricValue(text, series); !ok(got) {
					t.Errorf("%s: %s = %v, want %s", what, series, got, desc)
				}
			}
			is := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
			positive := func(v float64) bool { return v > 0 }

			want("at start", scrape(t, addr), live, is(0), "0")
			alice, bob := newClient(t), newClient(t)
			sessLogin(t, alice, app, "alice")
			sessLogin(t, bob, app, "bob")
			if r := alice.get(app.URL + "/profile"); r.StatusCode != http.StatusOK {
				t.Fatalf("GET /profile = %d", r.StatusCode)
			}
			text := scrape(t, addr)
			want("after two logins", text, live, is(2), "2")
			want("after two logins", text, series("loginapp_session_store_operation_duration_seconds_count", "get"), positive, "> 0")
			want("after two logins", text, series("loginapp_session_store_operation_duration_seconds_count", "put"), is(2), "2")
			want("after two logins", text, series("loginapp_session_store_operation_duration_seconds_count", "used"), positive, "> 0 (the login states, checked before the code exchange)")
			want("after two logins", text, series("loginapp_session_store_errors_total", "get"), is(0), "0")
			want("after two logins", text, `loginapp_sessions_removed_total{backend="`+st.backend+`",reason="cap"}`, is(0), "0")

			if r := alice.postForm(app.URL+"/logout", url.Values{}, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout = %d", r.StatusCode)
			}
			text = scrape(t, addr)
			want("after a logout", text, live, is(1), "1")
			want("after a logout", text, series("loginapp_session_store_operation_duration_seconds_count", "delete"), positive, "> 0")
			for _, leak := range []string{"alice", "bob", "login:s:"} {
				if strings.Contains(text, leak) {
					t.Errorf("the metrics contain %q", leak)
				}
			}
		})
	}
}

// TestExpiredSessionMetrics: a browser that comes back after its session's
// idle timeout, before the embedded store's sweep, is anonymous, counted
// once as an expired session with a security event, and its cookie and
// record are gone.
func TestExpiredSessionMetrics(t *testing.T) {
	addr := freePort(t)
	app := startApp(t, map[string]string{"METRICS_ADDR": addr, "SESSION_IDLE_TIMEOUT": "1s", "LOG_LEVEL": "info"})
	c := newClient(t)
	sessLogin(t, c, app, "alice")
	cookie := c.cookie(app, "session")
	if cookie == nil {
		t.Fatal("no session cookie after login")
	}
	time.Sleep(1200 * time.Millisecond)

	r := c.get(app.URL + "/profile")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /profile after the idle timeout = %d, want 303 to the login", r.StatusCode)
	}
	cleared := false
	for _, sc := range r.Cookies() {
		if sc.Name == cookie.Name && sc.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("the response does not clear the expired session's cookie")
	}
	text := scrape(t, addr)
	if got := metricValue(text, `loginapp_sessions_ended_total{kind="expired"}`); got != 1 {
		t.Errorf(`sessions_ended_total{kind="expired"} = %v, want 1`, got)
	}
	if got := metricValue(text, `loginapp_sessions_live{backend="bolt"}`); got != 0 {
		t.Errorf("live sessions = %v, want 0: the dead record is deleted", got)
	}
	if got := metricValue(text, `loginapp_sessions_removed_total{backend="bolt",reason="swept"}`); got != 0 {
		t.Errorf("removed by the sweep = %v, want 0: the browser ended it first", got)
	}

	// The same cookie again (a browser that did not take the response):
	// counted once.
	replay := newClient(t)
	u, _ := url.Parse(app.URL)
	replay.jar.SetCookies(u, []*http.Cookie{cookie})
	replay.get(app.URL + "/profile")
	if got := metricValue(scrape(t, addr), `loginapp_sessions_ended_total{kind="expired"}`); got != 1 {
		t.Errorf(`sessions_ended_total{kind="expired"} after the cookie came again = %v, want 1`, got)
	}
	app.stop()
	events := 0
	for _, line := range strings.Split(app.Stderr.String(), "\n") {
		if strings.Contains(line, "event=session_ended") && strings.Contains(line, "reason=expired") {
			events++
			if !strings.Contains(line, `sub=devidp|alice`) && !strings.Contains(line, `sub="devidp|alice"`) {
				t.Errorf("the event does not name the subject: %s", line)
			}
		}
	}
	if events != 1 {
		t.Errorf("%d session_ended reason=expired events, want 1", events)
	}
}
