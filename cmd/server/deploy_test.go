package main

// Tests of the app as it is deployed rather than as a laptop runs it: the
// provider in trouble while sessions need their tokens renewed, hostile
// requests at the edge.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/oidctest"
)

// TestRefreshOutageKeepsSession: a token refresh that fails because the
// provider is down, slow or answering 5xx keeps the session and its refresh
// token: the request gets a clear 503 (an alert for htmx), and once the
// provider is back a later request refreshes and the user is still signed
// in. Only a definitive refusal (invalid_grant) ends the session.
func TestRefreshOutageKeepsSession(t *testing.T) {
	outages := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"503", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		}},
		{"hangs past OIDC_HTTP_TIMEOUT", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
	}
	for _, tc := range outages {
		t.Run(tc.name, func(t *testing.T) {
			op, app := confSetup(t, oidctest.Config{TokenLifetime: 2 * time.Second}, map[string]string{
				"OIDC_SCOPES":       "openid profile email offline_access",
				"OIDC_HTTP_TIMEOUT": "700ms",
			})
			c := newClient(t)
			confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
			time.Sleep(2100 * time.Millisecond) // the tokens expire
			op.SetTokenOutage(tc.h)

			page := c.get(app.URL + "/profile")
			if page.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("GET /profile during the outage = %d, want 503:\n%s", page.StatusCode, truncate(page.Body, 1500))
			}
			if msg := page.Doc(t).Find(`[data-testid="error-card"]`).Text(); !strings.Contains(msg, "still signed in") {
				t.Errorf("the 503 page does not say the session is kept:\n%s", truncate(msg, 500))
			}
			if idx := c.get(app.URL + "/"); idx.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET / during the outage = %d, want 503 (not the login card of a signed-out user)", idx.StatusCode)
			}
			frag := c.get(app.URL+"/profile/userinfo", "HX-Request", "true")
			if frag.StatusCode != http.StatusServiceUnavailable || frag.Header.Get("HX-Retarget") != "#alerts" || frag.Header.Get("HX-Redirect") != "" {
				t.Errorf("htmx during the outage = %d HX-Retarget %q HX-Redirect %q, want a 503 alert for the page", frag.StatusCode, frag.Header.Get("HX-Retarget"), frag.Header.Get("HX-Redirect"))
			}
			// While the provider is known to be down, pages fail at once
			// instead of each waiting out the timeout.
			start := time.Now()
			if r := c.get(app.URL + "/profile"); r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("second GET /profile during the outage = %d", r.StatusCode)
			}
			if d := time.Since(start); d > 300*time.Millisecond {
				t.Errorf("a page during a known outage took %v", d)
			}

			op.SetTokenOutage(nil)
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := c.get(app.URL + "/profile")
				if r.StatusCode == http.StatusOK {
					break
				}
				if r.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
					t.Fatalf("after the outage: GET /profile = %d (Location %q), want 200 once refreshed", r.StatusCode, r.Header.Get("Location"))
				}
				time.Sleep(200 * time.Millisecond)
			}
			var refreshed bool
			for _, tr := range op.TokenRequests() {
				if tr.Form.Get("grant_type") == "refresh_token" && tr.Error == "" {
					refreshed = true
				}
			}
			if !refreshed {
				t.Error("the session came back without a successful refresh")
			}
		})
	}

	t.Run("invalid_grant ends the session", func(t *testing.T) {
		op, app := confSetup(t, oidctest.Config{TokenLifetime: 2 * time.Second}, map[string]string{"OIDC_SCOPES": "openid profile email offline_access"})
		op.SetScenario(oidctest.Scenario{Refresh: confToken(http.StatusBadRequest, "application/json", `{"error":"invalid_grant"}`)})
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		time.Sleep(2100 * time.Millisecond)
		if r := c.get(app.URL + "/profile"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("after invalid_grant: GET /profile = %d to %q, want 303 to the login", r.StatusCode, r.Header.Get("Location"))
		}
		confAssertAnonymous(t, c, app)
	})
}

// TestJunkLoginCookies: a request stuffed with junk login-* cookies gets a
// bounded number of Set-Cookie lines back, not one per cookie.
func TestJunkLoginCookies(t *testing.T) {
	_, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/login", nil)
	var b strings.Builder
	for i := range 2000 {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("login-")
		b.WriteString(strings.Repeat("j", 4))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("0", i%7))
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=x")
	}
	req.Header.Set("Cookie", b.String())
	resp := c.do(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /login with junk cookies = %d", resp.StatusCode)
	}
	if n := len(resp.Header.Values("Set-Cookie")); n > 12 {
		t.Errorf("a request with 2000 junk login cookies got %d Set-Cookie lines", n)
	}
}
