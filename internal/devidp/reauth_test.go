package devidp_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/devidp"
)

// authorize starts an authorization request in browser b and follows it
// until either the login form shows (form != nil) or the provider sends the
// browser back to the app, with a code or an error (back).
func authorize(t *testing.T, b *http.Client, d discovery, ar authRequest) (form *page, back url.Values) {
	t.Helper()
	resp, err := b.Get(authorizeURL(t, d, ar))
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		resp.Body.Close()
		loc := mustParse(t, resp.Header.Get("Location"))
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
			t.Fatalf("redirected to %q, want %q", got, redirectURI)
		}
		return nil, loc.Query()
	}
	p := readPage(t, resp)
	if resp.StatusCode != http.StatusOK || p.doc.Find("input[name=password]").Length() != 1 {
		t.Fatalf("authorize: status %d, want the login form or a redirect to the app; body %s", resp.StatusCode, p.body)
	}
	return &p, nil
}

// mustForm is authorize for a request that must show the login form.
func mustForm(t *testing.T, b *http.Client, d discovery, ar authRequest) page {
	t.Helper()
	form, back := authorize(t, b, d, ar)
	if form == nil {
		// The code itself is not printed: codes stay out of logs.
		t.Fatalf("authorize %v: back to the app (error %q, code present %v), want the login form", ar.extra, back.Get("error"), back.Has("code"))
	}
	return *form
}

// codeFrom returns the code of a redirect back to the app.
func codeFrom(t *testing.T, back url.Values, state string) string {
	t.Helper()
	if e := back.Get("error"); e != "" {
		t.Fatalf("authorization error %q: %s", e, back.Get("error_description"))
	}
	if back.Get("state") != state || back.Get("code") == "" {
		t.Fatalf("redirect state %q, code present %v; want state %q and a code", back.Get("state"), back.Get("code") != "", state)
	}
	return back.Get("code")
}

// loginCode submits the login form and returns the code it leads to.
func loginCode(t *testing.T, b *http.Client, form page, username, password, state string) string {
	t.Helper()
	resp := submitLogin(t, b, form, username, password)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("after login: status %d, want 302 to the app; body %s", resp.StatusCode, body)
	}
	return codeFrom(t, mustParse(t, resp.Header.Get("Location")).Query(), state)
}

// exchange redeems code and returns the verified ID token's claims and the
// token response.
func exchange(t *testing.T, srv *devidp.Server, d discovery, code, verifier string) (idClaims, tokenResponse) {
	t.Helper()
	tr := postToken(t, d, codeForm(code, verifier), false)
	if tr.status != http.StatusOK {
		t.Fatalf("code exchange: status %d, error %q: %s", tr.status, tr.Error, tr.ErrorDescription)
	}
	_, c := verifyIDToken(t, srv, tr.IDToken)
	return c, tr
}

// TestIDTokenAuthTime: the ID token's auth_time is when the password was
// typed, and every refreshed ID token keeps it (Core 12.2).
func TestIDTokenAuthTime(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	b := newBrowser(t)
	verifier, challenge := pkce(t)
	ar := authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}
	form := openLoginPage(t, b, d, ar)
	// Let the form sit a little, so that the time of the request and the
	// time of the password differ by at least a second.
	time.Sleep(1100 * time.Millisecond)
	before := time.Now().Unix()
	code := loginCode(t, b, form, "alice", "alice-password", "s")
	after := time.Now().Unix()
	claims, tr := exchange(t, srv, d, code, verifier)
	if claims.AuthTime < before || claims.AuthTime > after {
		t.Fatalf("auth_time = %d, want the time of the password, in [%d, %d]", claims.AuthTime, before, after)
	}

	time.Sleep(1100 * time.Millisecond)
	refresh := postToken(t, d, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, false)
	if refresh.status != http.StatusOK {
		t.Fatalf("refresh: status %d, error %q", refresh.status, refresh.Error)
	}
	_, refreshed := verifyIDToken(t, srv, refresh.IDToken)
	if refreshed.AuthTime != claims.AuthTime {
		t.Errorf("refreshed auth_time = %d, want the original %d", refreshed.AuthTime, claims.AuthTime)
	}
	if refreshed.IssuedAt <= claims.AuthTime {
		t.Errorf("refreshed iat = %d, want later than auth_time %d", refreshed.IssuedAt, claims.AuthTime)
	}
}

// TestReauthRequestsShowTheForm: max_age and prompt=login show the form,
// with a notice saying why, and the new ID token's auth_time is fresh.
func TestReauthRequestsShowTheForm(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	tests := []struct {
		name       string
		extra      url.Values
		wantNotice bool
	}{
		{"plain", nil, false},
		{"max_age=0", url.Values{"max_age": {"0"}}, true},
		{"max_age=600", url.Values{"max_age": {"600"}}, true},
		{"prompt=login", url.Values{"prompt": {"login"}}, true},
		{"login_hint", url.Values{"prompt": {"login"}, "login_hint": {"bob@example.com"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			verifier, challenge := pkce(t)
			ar := authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256", extra: tt.extra}
			form := mustForm(t, b, d, ar)
			if got := form.doc.Find(`[data-testid="reauth-notice"]`).Length() == 1; got != tt.wantNotice {
				t.Errorf("re-authentication notice shown = %v, want %v", got, tt.wantNotice)
			}
			wantUser := ""
			if tt.extra.Has("login_hint") {
				wantUser = "bob"
			}
			if got, _ := form.doc.Find("input[name=username]").Attr("value"); got != wantUser {
				t.Errorf("username field = %q, want %q", got, wantUser)
			}
			before := time.Now().Unix()
			claims, _ := exchange(t, srv, d, loginCode(t, b, form, "bob", "bob-password", "s"), verifier)
			if claims.AuthTime < before || claims.AuthTime > time.Now().Unix() {
				t.Errorf("auth_time = %d, want about now (%d)", claims.AuthTime, before)
			}
		})
	}
}

// TestSSOSession: with Config.SSOSessionLifetime a signed-in browser gets a
// code without the form and with the original auth_time and sid, until a
// request asks for a fresh authentication (max_age older than the session,
// max_age=0, prompt=login); prompt=none works only with a session;
// end_session ends it.
func TestSSOSession(t *testing.T) {
	srv := startOP(t, func(c *devidp.Config) { c.SSOSessionLifetime = time.Hour })
	d := getDiscovery(t, srv)
	b := newBrowser(t)
	verifier, challenge := pkce(t)
	req := func(extra url.Values) authRequest {
		return authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256", extra: extra}
	}

	first, tr := exchange(t, srv, d, loginCode(t, b, mustForm(t, b, d, req(nil)), "alice", "alice-password", "s"), verifier)
	time.Sleep(1200 * time.Millisecond) // the session is now more than a second old

	silent := []struct {
		name  string
		extra url.Values
	}{
		{"plain", nil},
		{"max_age within the session", url.Values{"max_age": {"3600"}}},
		{"prompt=none", url.Values{"prompt": {"none"}}},
	}
	for _, tt := range silent {
		t.Run("silent/"+tt.name, func(t *testing.T) {
			form, back := authorize(t, b, d, req(tt.extra))
			if form != nil {
				t.Fatal("the login form shows, want a code at once")
			}
			got, _ := exchange(t, srv, d, codeFrom(t, back, "s"), verifier)
			if got.AuthTime != first.AuthTime || got.SID != first.SID || got.Subject != first.Subject {
				t.Errorf("auth_time, sid, sub = %d, %q, %q; want the session's %d, %q, %q",
					got.AuthTime, got.SID, got.Subject, first.AuthTime, first.SID, first.Subject)
			}
		})
	}

	fresh := []struct {
		name  string
		extra url.Values
	}{
		{"max_age older than the session", url.Values{"max_age": {"1"}}},
		{"max_age=0", url.Values{"max_age": {"0"}}},
		{"prompt=login", url.Values{"prompt": {"login"}}},
	}
	for _, tt := range fresh {
		t.Run("fresh/"+tt.name, func(t *testing.T) {
			form, _ := authorize(t, b, d, req(tt.extra))
			if form == nil {
				t.Fatal("a code without the form, want the form")
			}
			if got, _ := form.doc.Find("input[name=username]").Attr("value"); got != "alice" {
				t.Errorf("username field = %q, want the session's alice", got)
			}
			if form.doc.Find(`[data-testid="reauth-notice"]`).Length() != 1 {
				t.Error("no re-authentication notice")
			}
		})
	}

	// Typing the password again renews auth_time and keeps the session.
	renewed, _ := exchange(t, srv, d, loginCode(t, b, mustForm(t, b, d, req(url.Values{"prompt": {"login"}})), "alice", "alice-password", "s"), verifier)
	if renewed.AuthTime <= first.AuthTime || renewed.SID != first.SID {
		t.Errorf("after re-authentication auth_time, sid = %d, %q; want later than %d, and %q", renewed.AuthTime, renewed.SID, first.AuthTime, first.SID)
	}
	if form, back := authorize(t, b, d, req(nil)); form != nil {
		t.Error("after re-authentication the form shows again")
	} else if got, _ := exchange(t, srv, d, codeFrom(t, back, "s"), verifier); got.AuthTime != renewed.AuthTime {
		t.Errorf("silent auth_time = %d, want the renewed %d", got.AuthTime, renewed.AuthTime)
	}

	// Another user signing in in the same browser starts another session.
	bob, _ := exchange(t, srv, d, loginCode(t, b, mustForm(t, b, d, req(url.Values{"prompt": {"login"}})), "bob", "bob-password", "s"), verifier)
	if bob.SID == first.SID || bob.Subject != "devidp|bob" {
		t.Errorf("bob's sid, sub = %q, %q; want a new sid for devidp|bob", bob.SID, bob.Subject)
	}

	// A browser without a session gets login_required for prompt=none.
	if form, back := authorize(t, newBrowser(t), d, req(url.Values{"prompt": {"none"}})); form != nil || back.Get("error") != "login_required" || back.Get("state") != "s" {
		t.Errorf("prompt=none without a session: form %v, error %q, state %q; want login_required with the state", form != nil, back.Get("error"), back.Get("state"))
	}

	// end_session ends the browser's session.
	resp, err := b.Get(d.EndSessionEndpoint + "?" + url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {postLogoutURI}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if form, _ := authorize(t, b, d, req(nil)); form == nil {
		t.Error("after end_session a code without the form")
	}
	if _, back := authorize(t, b, d, req(url.Values{"prompt": {"none"}})); back.Get("error") != "login_required" {
		t.Errorf("prompt=none after end_session: error %q, want login_required", back.Get("error"))
	}
}

// TestNoSSOByDefault: without SSOSessionLifetime, a browser that signed in
// sees the form again and gets no cookie from the provider.
func TestNoSSOByDefault(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	b := newBrowser(t)
	_, challenge := pkce(t)
	ar := authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}
	loginCode(t, b, mustForm(t, b, d, ar), "alice", "alice-password", "s")
	if cookies := b.Jar.Cookies(mustParse(t, srv.Issuer())); len(cookies) != 0 {
		var names []string
		for _, c := range cookies {
			names = append(names, c.Name)
		}
		t.Errorf("the provider set cookies %s, want none", strings.Join(names, ", "))
	}
	if form, _ := authorize(t, b, d, ar); form == nil {
		t.Error("the second authorization gives a code without the form")
	}
}
