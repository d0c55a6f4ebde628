package handlers

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/loginapp/login/assets"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/clientip"
)

// TestHeadOnEveryGetRoute: HEAD answers like GET, without a body.
func TestHeadOnEveryGetRoute(t *testing.T) {
	f := newFixture(t)
	cookie := f.login(t, []byte(`{"sub":"u1","name":"U"}`), "id")
	// A real server: it is net/http that leaves out a HEAD's body.
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, c *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/", "/login", "/profile", "/profile/userinfo", "/logout", "/healthz", "/readyz", assets.Path("css/app.css"), "/nope"} {
		for _, c := range []*http.Cookie{nil, cookie} {
			get, _ := send(http.MethodGet, path, c)
			head, b := send(http.MethodHead, path, c)
			if head.StatusCode != get.StatusCode {
				t.Errorf("HEAD %s (cookie %v) = %d, GET = %d", path, c != nil, head.StatusCode, get.StatusCode)
			}
			if b != "" {
				t.Errorf("HEAD %s has a body of %d bytes", path, len(b))
			}
			if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
				t.Errorf("HEAD %s Content-Type %q, GET %q", path, head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
			}
		}
	}
}

// TestMethodNotAllowed: any method a path does not serve is 405 with the
// Allow header listing those it does.
func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		method, path, allow string
	}{
		{"OPTIONS", "/", "GET, HEAD"},
		{"OPTIONS", "/profile", "GET, HEAD"},
		{"POST", "/profile", "GET, HEAD"},
		{"DELETE", "/logout", "GET, HEAD, POST"},
		{"PUT", "/backchannel-logout", "POST"},
		{"GET", "/backchannel-logout", "POST"},
		{"PROPFIND", "/healthz", "GET, HEAD"},
		{"TRACE", "/", "GET, HEAD"},
		{"POST", assets.Path("css/app.css"), "GET, HEAD"},
	}
	for _, tt := range tests {
		resp := f.do(t, tt.method, tt.path, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.allow)
		}
	}
	if resp := f.do(t, "OPTIONS", "/nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("OPTIONS /nope = %d, want 404", resp.StatusCode)
	}
}

// TestLongPathLoggedOnce: a 404 for a 200 KB path writes a few hundred
// bytes of log, not the path twice.
func TestLongPathLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixtureWith(t, log, func(c *Config) { c.AccessLog = &logs })
	path := "/" + strings.Repeat("x", 200<<10)
	if resp := f.do(t, http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET long path = %d, want 404", resp.StatusCode)
	}
	if logs.Len() > 2048 {
		t.Errorf("a 200 KB path wrote %d bytes of log", logs.Len())
	}
	if n := strings.Count(logs.String(), "xxxxxxxxxx"); n == 0 {
		t.Error("the path is not in the log at all")
	}
}

// TestHXRedirectSameOrigin: HX-Redirect never names another site.
func TestHXRedirectSameOrigin(t *testing.T) {
	for _, p := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "/%09/evil.example", "javascript:alert(1)", ""} {
		w := httptest.NewRecorder()
		setHXRedirect(w, p)
		if got := w.Header().Get("HX-Redirect"); got != "/" {
			t.Errorf("setHXRedirect(%q) sent %q, want /", p, got)
		}
	}
	w := httptest.NewRecorder()
	setHXRedirect(w, "/login?returnTo=%2Fprofile")
	if got := w.Header().Get("HX-Redirect"); got != "/login?returnTo=%2Fprofile" {
		t.Errorf("a safe path became %q", got)
	}

	// Whatever path an htmx request has, no answer carries an unsafe
	// HX-Redirect.
	f := newFixture(t)
	for _, p := range []string{"//evil.example", "/profile//evil.example", "/%2F%2Fevil.example", "/profile/userinfo"} {
		resp := f.do(t, http.MethodGet, p, nil, "HX-Request", "true")
		if h := resp.Header.Get("HX-Redirect"); h != "" && !auth.SameOriginPath(h) {
			t.Errorf("GET %s (htmx) sent HX-Redirect %q", p, h)
		}
	}
}

// TestHTMXErrorIsAnAlert: an htmx request that fails keeps its status and
// gets an alert aimed at the page's alert region, not a whole error page.
func TestHTMXErrorIsAnAlert(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, http.MethodGet, "/login", nil, "HX-Request", "true") // the provider is down
	b := body(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("HX-Retarget") != "#alerts" || resp.Header.Get("HX-Reswap") != "innerHTML" {
		t.Fatalf("htmx error = %d HX-Retarget %q HX-Reswap %q", resp.StatusCode, resp.Header.Get("HX-Retarget"), resp.Header.Get("HX-Reswap"))
	}
	d := doc(t, b)
	if strings.Contains(b, "<html") || d.Find(`[data-testid="alert"]`).Length() != 1 || !strings.Contains(b, resp.Header.Get("X-Request-Id")) {
		t.Errorf("htmx error body is not an alert with the reference:\n%s", b)
	}
	// Every page has the region.
	if d := doc(t, body(t, f.do(t, http.MethodGet, "/", nil))); d.Find(`#alerts[role="alert"]`).Length() != 1 {
		t.Error("the index has no #alerts region")
	}
}

// TestRateLimitBehindProxy: behind a trusted proxy every client has its own
// login bucket; a client's own X-Forwarded-For, from an untrusted peer,
// changes nothing.
func TestRateLimitBehindProxy(t *testing.T) {
	trusted, _ := clientip.Parse("10.0.0.0/8")
	var logs bytes.Buffer
	f := newFixtureWith(t, slog.New(slog.DiscardHandler), func(c *Config) {
		c.LoginRate = 3
		c.Proxies = trusted
		c.AccessLog = &logs
	})
	login := func(peer, xff string) int {
		r := httptest.NewRequest(http.MethodGet, "/login", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		return w.Code
	}
	// Ten users behind one proxy: nobody is limited.
	for i := range 10 {
		for range 3 {
			if code := login("10.0.0.2:5000", "198.51.100."+string(rune('1'+i))); code == http.StatusTooManyRequests {
				t.Fatalf("user %d behind the proxy was limited by the others", i)
			}
		}
	}
	// One of them is limited after its own 3.
	if code := login("10.0.0.2:5000", "198.51.100.1"); code != http.StatusTooManyRequests {
		t.Errorf("4th login of one client behind the proxy = %d, want 429", code)
	}
	// The access line names the client, not the proxy.
	if !strings.Contains(logs.String(), "client=198.51.100.1 ") {
		t.Errorf("access lines do not name the forwarded client:\n%.500s", logs.String())
	}
	// An untrusted peer rotating X-Forwarded-For is still one bucket.
	limited := false
	for i := range 6 {
		if login("203.0.113.5:1234", "192.0.2."+string(rune('1'+i))) == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Error("a spoofed X-Forwarded-For from an untrusted peer escaped the rate limit")
	}
}

// TestSignedOutNotice: the index a browser lands on after logging out says
// so, once.
func TestSignedOutNotice(t *testing.T) {
	f := newFixture(t)
	cookie := f.login(t, []byte(`{"sub":"u1","name":"U"}`), "id")
	resp := f.do(t, http.MethodPost, "/logout", cookie, "Sec-Fetch-Site", "same-origin")
	var note *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "signed-out" && c.MaxAge > 0 {
			note = c
		}
	}
	if note == nil || !note.HttpOnly {
		t.Fatalf("logout set no signed-out note: %v", resp.Cookies())
	}
	first := f.do(t, http.MethodGet, "/", note)
	if d := doc(t, body(t, first)); d.Find(`[data-testid="signed-out"]`).Length() != 1 || d.Find(`[data-testid="login-card"]`).Length() != 1 {
		t.Error("the index after logout does not say the visitor signed out")
	}
	cleared := false
	for _, c := range first.Cookies() {
		if c.Name == "signed-out" && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("the note was not cleared after showing")
	}
	if d := doc(t, body(t, f.do(t, http.MethodGet, "/", nil))); d.Find(`[data-testid="signed-out"]`).Length() != 0 {
		t.Error("the plain index says the visitor signed out")
	}
}
