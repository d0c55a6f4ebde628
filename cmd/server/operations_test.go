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

	"github.com/loginapp/login/internal/oidctest"
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
