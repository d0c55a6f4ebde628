package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/oidctest"
)

// TestConformanceStepUp: a re-authentication for a sensitive action
// (OpenID Connect Core 3.1.2.1 max_age, 3.1.3.7 step 13) must come back
// with an auth_time no older than asked (a missing one is an error when
// max_age was sent), not in the future, and for the same user: a
// different user must neither take over nor merge into the session. Any
// refusal leaves the session exactly as it was.
func TestConformanceStepUp(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, map[string]string{"REAUTH_MAX_AGE": "1s"})
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	time.Sleep(1200 * time.Millisecond)
	start := "/login?step_up=1&returnTo=" + url.QueryEscape("/profile/sessions")
	session := c.cookie(app, confSessionCookie).Value

	// stepUp walks one re-authentication and returns the app's answer to
	// the callback.
	stepUp := func(t *testing.T, s oidctest.Scenario, path string) *response {
		t.Helper()
		op.SetScenario(s)
		cb := c.confAuthorize(app, path)
		ar := op.AuthRequests()
		if got := ar[len(ar)-1].Get("max_age"); got != "1" {
			t.Errorf("max_age = %q, want 1", got)
		}
		return c.get(cb)
	}
	// unchanged checks that the refused step-up left Alice's session alone.
	unchanged := func(t *testing.T) {
		t.Helper()
		if ck := c.cookie(app, confSessionCookie); ck == nil || ck.Value != session {
			t.Error("the session cookie changed")
		}
		p := c.get(app.URL + "/profile")
		if p.StatusCode != http.StatusOK || !strings.Contains(p.Body, "Alice Conformance") {
			t.Errorf("after a refused step-up GET /profile = %d, want Alice's profile", p.StatusCode)
		}
		// And it is still not recent: the action is still guarded.
		if r := c.postForm(app.URL+"/profile/sessions/end-others", url.Values{}, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "step_up=") {
			t.Errorf("after a refused step-up the action is not guarded: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
	}
	hourAgo, inAnHour := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()

	t.Run("auth_time missing", func(t *testing.T) {
		confAssertRejectedKeeps(t, stepUp(t, oidctest.Scenario{Claims: confDel("auth_time")}, start), 400)
		unchanged(t)
	})
	t.Run("auth_time in the future", func(t *testing.T) {
		confAssertRejectedKeeps(t, stepUp(t, oidctest.Scenario{Claims: confSet("auth_time", inAnHour)}, start), 400)
		unchanged(t)
	})
	t.Run("another user comes back", func(t *testing.T) {
		mallory := oidctest.User("oidctest|mallory", "Mallory Other", "mallory@example.test")
		r := stepUp(t, oidctest.Scenario{User: mallory}, start)
		confAssertRejectedKeeps(t, r, 403)
		if strings.Contains(r.Body, "Mallory") {
			t.Error("the error page shows the other user")
		}
		unchanged(t)
	})
	t.Run("auth_time stale twice: prompt=login, then refused", func(t *testing.T) {
		stale := oidctest.Scenario{Claims: confSet("auth_time", hourAgo)}
		r := stepUp(t, stale, start)
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?step_up=login&") {
			t.Fatalf("stale auth_time = %d to %q, want a second try with prompt=login", r.StatusCode, r.Header.Get("Location"))
		}
		again := stepUp(t, stale, r.Header.Get("Location"))
		ar := op.AuthRequests()
		if got := ar[len(ar)-1].Get("prompt"); got != "login" {
			t.Errorf("second try prompt = %q, want login", got)
		}
		confAssertRejectedKeeps(t, again, 400)
		unchanged(t)
	})
	t.Run("a provider that ignores max_age but honours prompt=login", func(t *testing.T) {
		r := stepUp(t, oidctest.Scenario{Claims: confSet("auth_time", hourAgo)}, start)
		ok := stepUp(t, oidctest.Scenario{}, r.Header.Get("Location"))
		if ok.StatusCode != http.StatusSeeOther || ok.Header.Get("Location") != "/profile/sessions" {
			t.Fatalf("second try with a fresh auth_time = %d to %q, want back to the list", ok.StatusCode, ok.Header.Get("Location"))
		}
		if ck := c.cookie(app, confSessionCookie); ck == nil || ck.Value == session {
			t.Error("a successful step-up did not renew the session id")
		}
		if r := c.postForm(app.URL+"/profile/sessions/end-others", url.Values{}, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/profile/sessions?ended=") {
			t.Errorf("the action after the step-up = %d to %q", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

// confAssertRejectedKeeps checks that resp is the error page with status
// want and sets no session cookie (the existing one stays).
func confAssertRejectedKeeps(t *testing.T, resp *response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Errorf("status = %d, want %d:\n%s", resp.StatusCode, want, truncate(resp.Body, 1500))
	}
	if resp.Doc(t).Find(`[data-testid="error-card"]`).Length() != 1 {
		t.Errorf("no error page")
	}
	if ck := confSetCookie(resp, confSessionCookie); ck != nil {
		t.Errorf("a refused step-up set the session cookie")
	}
}

// TestConformanceManagementFaults: the Management API in trouble (rate
// limited, 5xx, slow, answering about another user, refusing the client)
// gives a clear message with the status to match, never a 500, and the
// form comes back with what the user typed.
func TestConformanceManagementFaults(t *testing.T) {
	op := oidctest.New(t, oidctest.Config{})
	app := confStart(t, op, map[string]string{
		"AUTH0_MGMT_CLIENT_ID": op.ClientID, "AUTH0_MGMT_CLIENT_SECRET": op.ClientSecret,
		"OIDC_HTTP_TIMEOUT": "700ms",
	})
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	if r := c.get(app.URL + "/profile/edit"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /profile/edit against a good API = %d", r.StatusCode)
	}
	typed := url.Values{"name": {"Alice Typed This"}, "nickname": {"al"}, "picture": {""}, "locale": {"fr"}, "timezone": {"Europe/Paris"}}
	cases := []struct {
		name    string
		s       oidctest.MgmtScenario
		status  int
		message string
	}{
		{"429 with Retry-After", oidctest.MgmtScenario{API: oidctest.RateLimited("7")}, 429, "try again in 7 s"},
		{"429 with X-RateLimit-Reset", oidctest.MgmtScenario{API: oidctest.RateLimitedUntil(time.Now().Add(30 * time.Second))}, 429, "try again in"},
		{"500", oidctest.MgmtScenario{API: oidctest.ServerError(500)}, 502, "Nothing was saved"},
		{"slow beyond the timeout", oidctest.MgmtScenario{Delay: 3 * time.Second}, 502, "Nothing was saved"},
		{"an answer about another user", oidctest.MgmtScenario{User: oidctest.AnswerFor("oidctest|mallory")}, 502, "Nothing was saved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op.SetMgmtScenario(tc.s)
			defer op.SetMgmtScenario(oidctest.MgmtScenario{})
			r := c.postForm(app.URL+"/profile/edit", typed, "Sec-Fetch-Site", "same-origin", "HX-Request", "true")
			if r.StatusCode != tc.status || r.Header.Get("HX-Retarget") != "#profile-head" {
				t.Fatalf("status %d HX-Retarget %q, want %d aimed at the form:\n%s", r.StatusCode, r.Header.Get("HX-Retarget"), tc.status, truncate(r.Body, 800))
			}
			d := r.Doc(t)
			if msg := d.Find(`[data-testid="form-error"]`).Text(); !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to say %q", msg, tc.message)
			}
			if v, _ := d.Find(`input[name="name"]`).Attr("value"); v != "Alice Typed This" {
				t.Errorf("the typed name came back as %q", v)
			}
			if d.Find(`select[name="timezone"] option[selected][value="Europe/Paris"]`).Length() != 1 {
				t.Error("the chosen time zone was lost")
			}
			if tc.status == 429 && r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
	if strings.Contains(app.Stderr.String(), op.ClientSecret) {
		t.Error("the client secret is in the log")
	}

	// A tenant that does not grant the Management API to the client: a
	// fresh app, so that no token is cached yet.
	t.Run("the token endpoint refuses the client", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Config{})
		op.SetMgmtScenario(oidctest.MgmtScenario{Token: oidctest.RefuseToken(403, "access_denied", "Client is not authorized to access the API")})
		app := confStart(t, op, map[string]string{"AUTH0_MGMT_CLIENT_ID": op.ClientID, "AUTH0_MGMT_CLIENT_SECRET": op.ClientSecret})
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		r := c.postForm(app.URL+"/profile/edit", typed, "Sec-Fetch-Site", "same-origin", "HX-Request", "true")
		if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Doc(t).Find(`[data-testid="form-error"]`).Text(), "not set up") {
			t.Fatalf("status %d, want 503 saying editing is not set up:\n%s", r.StatusCode, truncate(r.Body, 800))
		}
		if v, _ := r.Doc(t).Find(`input[name="name"]`).Attr("value"); v != "Alice Typed This" {
			t.Errorf("the typed name came back as %q", v)
		}
		if g := c.get(app.URL + "/profile/edit"); g.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET /profile/edit = %d, want 503", g.StatusCode)
		}
	})
}

// TestConformanceNoManagementClient: with a provider that is not Auth0 and
// no management client, nothing offers editing and the routes are 404.
func TestConformanceNoManagementClient(t *testing.T) {
	_, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	if n := c.get(app.URL + "/profile").Doc(t).Find(`[data-testid="edit-profile"]`).Length(); n != 0 {
		t.Error("the card offers editing without a management client")
	}
	for _, r := range []*response{
		c.get(app.URL + "/profile/edit"),
		c.postForm(app.URL+"/profile/edit", url.Values{"name": {"x"}}, "Sec-Fetch-Site", "same-origin"),
		c.postForm(app.URL+"/profile/verify-email", url.Values{}, "Sec-Fetch-Site", "same-origin"),
		c.postForm(app.URL+"/profile/password", url.Values{}, "Sec-Fetch-Site", "same-origin"),
	} {
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s = %d, want 404", r.Request.Method, r.Request.URL.Path, r.StatusCode)
		}
	}
}
