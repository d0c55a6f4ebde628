package main

// The conformance suite: the real server, started by run, against a hostile
// OpenID Provider (internal/oidctest) that misbehaves in one way per login.
// Accepted means logged in (GET /profile shows the user); rejected means a
// 4xx error page (502 when the provider can not be reached), no session
// cookie, /profile still sends to the login, and no userinfo call after a
// bad ID token. The test names carry the OpenID RP certification test ids
// where there is one; docs/SECURITY.md maps every check to its test.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/loginapp/login/internal/oidctest"
)

// confSecret is SESSION_SECRET for the conformance apps.
const confSecret = "conformance-session-secret-0123456789abcdef"

// confSessionCookie is the session cookie's name on an http base URL.
const confSessionCookie = "session"

// confStart runs the app against op with extra settings on top, registers
// its callback at op and waits until it is ready.
func confStart(t *testing.T, op *oidctest.Provider, extra map[string]string) *testApp {
	t.Helper()
	app := confStartNotReady(t, op, extra)
	app.waitReady(t)
	return app
}

// confStartNotReady is confStart without waiting for the provider's
// metadata, for providers that never become usable.
func confStartNotReady(t *testing.T, op *oidctest.Provider, extra map[string]string) *testApp {
	t.Helper()
	env := map[string]string{
		"OIDC_ISSUER_URL":    op.Issuer,
		"OIDC_CLIENT_ID":     op.ClientID,
		"OIDC_CLIENT_SECRET": op.ClientSecret,
		"SESSION_SECRET":     confSecret,
		"OIDC_HTTP_TIMEOUT":  "3s",
	}
	for k, v := range extra {
		env[k] = v
	}
	app := startApp(t, env)
	op.RegisterRedirectURI(app.URL + "/callback")
	if base := env["APP_BASE_URL"]; base != "" {
		op.RegisterRedirectURI(base + "/callback")
	}
	return app
}

// confStartPublic runs the app with APP_BASE_URL=public (which does not
// resolve) on a loopback port, and returns it with URL set to where it
// actually listens, ready.
func confStartPublic(t *testing.T, op *oidctest.Provider, public string) *testApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"OIDC_ISSUER_URL":    op.Issuer,
		"OIDC_CLIENT_ID":     op.ClientID,
		"OIDC_CLIENT_SECRET": op.ClientSecret,
		"SESSION_SECRET":     confSecret,
		"APP_BASE_URL":       public,
		"LISTEN_ADDR":        addr,
		"DATA_DIR":           t.TempDir(),
		"LOGIN_RATE_LIMIT":   "100000",
		"LOG_LEVEL":          "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := &testApp{URL: "http://" + addr, Stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { app.done <- run(ctx, nil, environ(env), io.Discard, app.Stderr) }()
	t.Cleanup(app.stop)
	op.RegisterRedirectURI(public + "/callback")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(app.Stderr.String(), "listening on ") {
		select {
		case err := <-app.done:
			app.done <- err
			t.Fatalf("run exited: %v\n%s", err, app.Stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 'listening on' within 20s:\n%s", app.Stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	app.waitReady(t)
	return app
}

// confSetup is a provider with cfg and an app that uses it, ready.
func confSetup(t *testing.T, cfg oidctest.Config, extra map[string]string) (*oidctest.Provider, *testApp) {
	t.Helper()
	op := oidctest.New(t, cfg)
	return op, confStart(t, op, extra)
}

// confAuthorize starts a login at startPath, lets the provider answer, and
// returns the callback URL it redirects the browser to, without visiting it.
func (c *client) confAuthorize(app *testApp, startPath string) string {
	c.t.Helper()
	start := c.get(app.URL + startPath)
	if start.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("GET %s = %d, want 303 to the provider:\n%s", truncate(startPath, 200), start.StatusCode, truncate(start.Body, 2000))
	}
	at := c.get(start.Header.Get("Location"))
	if at.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("provider's authorization endpoint = %d, want 303 back to the app:\n%s", at.StatusCode, truncate(at.Body, 2000))
	}
	next, err := at.Request.URL.Parse(at.Header.Get("Location"))
	if err != nil {
		c.t.Fatalf("provider's Location: %v", err)
	}
	return next.String()
}

// confLogin walks one login and returns the app's answer to the callback.
func (c *client) confLogin(app *testApp) *response {
	c.t.Helper()
	return c.get(c.confAuthorize(app, "/login"))
}

// confWithQuery returns rawURL with its query replaced.
func confWithQuery(t *testing.T, rawURL string, edit func(q url.Values)) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %s: %v", rawURL, err)
	}
	q := u.Query()
	edit(q)
	u.RawQuery = q.Encode()
	return u.String()
}

// confSetCookie returns the cookie named name that resp sets, or nil.
func confSetCookie(resp *response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// confAssertLoggedIn checks that the callback answer is a 303 to wantPath
// and that the client now sees the profile of wantName.
func confAssertLoggedIn(t *testing.T, c *client, app *testApp, resp *response, wantPath, wantName string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback = %d, want 303 (logged in):\n%s", resp.StatusCode, truncate(resp.Body, 2000))
	}
	if got := resp.Header.Get("Location"); got != wantPath {
		t.Errorf("callback Location = %q, want %q", got, wantPath)
	}
	if ck := confSetCookie(resp, confSessionCookie); ck == nil || ck.Value == "" {
		t.Errorf("callback set no session cookie")
	}
	profile := c.get(app.URL + "/profile")
	if profile.StatusCode != http.StatusOK {
		t.Fatalf("GET /profile after login = %d, want 200", profile.StatusCode)
	}
	if got := strings.TrimSpace(profile.Doc(t).Find(`[data-testid="profile-name"]`).Text()); got != wantName {
		t.Errorf("profile name = %q, want %q", got, wantName)
	}
}

// confAssertRejected checks that resp is the error page with status want,
// that it set no session, and that the client is still anonymous.
func confAssertRejected(t *testing.T, c *client, app *testApp, resp *response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Errorf("status = %d, want %d:\n%s", resp.StatusCode, want, truncate(resp.Body, 1500))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		t.Fatalf("a rejected callback redirected to %q", resp.Header.Get("Location"))
	}
	doc := resp.Doc(t)
	if doc.Find(`[data-testid="error-card"]`).Length() != 1 {
		t.Errorf("no error page in the response:\n%s", truncate(resp.Body, 1500))
	}
	if got := doc.Find(`[data-testid="error-status"]`).Text(); !strings.Contains(got, fmt.Sprint(resp.StatusCode)) {
		t.Errorf("error page shows %q, not the status %d", got, resp.StatusCode)
	}
	if ck := confSetCookie(resp, confSessionCookie); ck != nil && ck.Value != "" {
		t.Errorf("a rejected callback set a session cookie")
	}
	confAssertAnonymous(t, c, app)
}

// confAssertAnonymous checks that the client has no session: /profile
// redirects to the login and the details fragment is 401.
func confAssertAnonymous(t *testing.T, c *client, app *testApp) {
	t.Helper()
	p := c.get(app.URL + "/profile")
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/login") {
		t.Errorf("GET /profile = %d to %q, want 303 to /login (anonymous)", p.StatusCode, p.Header.Get("Location"))
	}
	if u := c.get(app.URL + "/profile/userinfo"); u.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /profile/userinfo = %d, want 401 (anonymous)", u.StatusCode)
	}
}

// confSet and confDel edit claims.
func confSet(k string, v any) func(map[string]any) {
	return func(c map[string]any) { c[k] = v }
}

func confDel(k string) func(map[string]any) {
	return func(c map[string]any) { delete(c, k) }
}

// confToken makes the token endpoint answer status with body.
func confToken(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// confIDToken makes the token endpoint answer a well-formed token response
// whose id_token member is idToken (any JSON value).
func confIDToken(idToken any) func(map[string]any) {
	return func(resp map[string]any) { resp["id_token"] = idToken }
}

// confLastNonce is the nonce of the provider's latest authorization request.
func confLastNonce(t *testing.T, op *oidctest.Provider) string {
	t.Helper()
	reqs := op.AuthRequests()
	if len(reqs) == 0 {
		t.Fatal("the provider saw no authorization request")
	}
	return reqs[len(reqs)-1].Get("nonce")
}

// TestConformanceIDToken runs one login per provider behaviour: every
// check of OpenID Connect Core 3.1.3.7 on the ID token, the token endpoint's
// failures and the userinfo sub check.
func TestConformanceIDToken(t *testing.T) {
	const alice = "Alice Conformance"
	now := time.Now().Unix()
	unparseableKeys := func(keys []json.RawMessage) []json.RawMessage {
		return append([]json.RawMessage{
			json.RawMessage(`{"kty":"FUTURE","kid":"future-1","x":"AAAA"}`),
			json.RawMessage(`{"kty":"EC","kid":"bad-curve","crv":"P-999","x":"AAAA","y":"AAAA"}`),
			json.RawMessage(`{"kty":"RSA","kid":"no-modulus","e":"AQAB"}`),
		}, keys...)
	}
	tests := []struct {
		name string
		cfg  oidctest.Config
		s    oidctest.Scenario
		// want is 0 for a login that must succeed, else the status.
		want int
		// userinfo is how many userinfo calls the app may make.
		userinfo int
	}{
		// Accepted.
		{name: "rp-response_type-code", want: 0, userinfo: 1},
		{name: "rp-id_token-sig-rs256", s: oidctest.Scenario{Sign: oidctest.SignRS256}, userinfo: 1},
		{name: "rp-id_token-kid-absent-single-jwks", s: oidctest.Scenario{Sign: oidctest.SignNoKid}, userinfo: 1},
		// A token without kid is tried against every key of the JWKS:
		// whichever verifies proves the provider signed it.
		{name: "rp-id_token-kid-absent-multiple-jwks", cfg: oidctest.Config{Keys: 3}, s: oidctest.Scenario{Sign: oidctest.SignNoKidWithKey(2)}, userinfo: 1},
		{name: "rp-discovery-jwks_uri-keys/unparseable key types skipped", cfg: oidctest.Config{JWKS: unparseableKeys}, userinfo: 1},
		{name: "rp-id_token-aud/azp is the client", s: oidctest.Scenario{Claims: confSet("azp", oidctest.DefaultClientID)}, userinfo: 1},
		{name: "rp-id_token-aud/array with only the client", s: oidctest.Scenario{Claims: confSet("aud", []string{oidctest.DefaultClientID})}, userinfo: 1},
		{name: "rp-id_token-iat/within clock skew", s: oidctest.Scenario{Claims: confSet("iat", now+60)}, userinfo: 1},

		// Rejected: the signature.
		{name: "rp-id_token-sig-none", s: oidctest.Scenario{Sign: oidctest.SignNone}, want: 400},
		{name: "rp-id_token-bad-sig-rs256/foreign key under the real kid", s: oidctest.Scenario{Sign: oidctest.SignForeignKid}, want: 400},
		{name: "rp-id_token-bad-sig-rs256/corrupted signature", s: oidctest.Scenario{Sign: oidctest.SignCorrupted}, want: 400},
		{name: "rp-id_token-bad-sig-hs256/client secret", s: oidctest.Scenario{Sign: oidctest.SignHS256WithClientSecret}, want: 400},
		{name: "rp-id_token-bad-sig-hs256/keyed with the public key", s: oidctest.Scenario{Sign: oidctest.SignHS256WithPublicKey}, want: 400},
		{name: "rp-id_token-kid-absent/key not in the JWKS", s: oidctest.Scenario{Sign: func(p *oidctest.Provider, b []byte) (string, error) {
			return oidctest.SignWithKey(p.ForeignKey(), false)(p, b)
		}}, want: 400},
		{name: "rp-id_token-sig/unknown kid", s: oidctest.Scenario{Sign: oidctest.SignUnknownKid}, want: 400},

		// Rejected: the claims.
		{name: "rp-id_token-issuer-mismatch", s: oidctest.Scenario{Claims: confSet("iss", "https://evil.example")}, want: 400},
		{name: "rp-id_token-aud/wrong", s: oidctest.Scenario{Claims: confSet("aud", "someone-else")}, want: 400},
		{name: "rp-id_token-aud/missing", s: oidctest.Scenario{Claims: confDel("aud")}, want: 400},
		{name: "rp-id_token-aud/extra untrusted audience", s: oidctest.Scenario{Claims: func(c map[string]any) {
			c["aud"] = []string{oidctest.DefaultClientID, "untrusted-party"}
			c["azp"] = oidctest.DefaultClientID
		}}, want: 400},
		{name: "rp-id_token-aud/azp mismatch", s: oidctest.Scenario{Claims: confSet("azp", "someone-else")}, want: 400},
		{name: "rp-id_token-iat/missing", s: oidctest.Scenario{Claims: confDel("iat")}, want: 400},
		{name: "rp-id_token-iat/far future", s: oidctest.Scenario{Claims: confSet("iat", now+3600)}, want: 400},
		{name: "rp-id_token-sub/missing", s: oidctest.Scenario{Claims: confDel("sub")}, want: 400},
		{name: "rp-id_token-sub/empty", s: oidctest.Scenario{Claims: confSet("sub", "")}, want: 400},
		{name: "rp-nonce-invalid/wrong", s: oidctest.Scenario{Claims: confSet("nonce", "not-the-nonce-of-this-login")}, want: 400},
		{name: "rp-nonce-invalid/missing", s: oidctest.Scenario{Claims: confDel("nonce")}, want: 400},
		{name: "rp-id_token-exp/expired", s: oidctest.Scenario{Claims: confSet("exp", now-60)}, want: 400},
		{name: "rp-id_token-exp/missing", s: oidctest.Scenario{Claims: confDel("exp")}, want: 400},
		{name: "rp-id_token-bad-at_hash", s: oidctest.Scenario{Claims: confSet("at_hash", oidctest.AtHash("another access token"))}, want: 400},

		// Rejected: malformed tokens.
		{name: "id_token/empty", s: oidctest.Scenario{TokenResponse: confIDToken("")}, want: 400},
		{name: "id_token/not a string", s: oidctest.Scenario{TokenResponse: confIDToken(42)}, want: 400},
		{name: "id_token/not a JWT", s: oidctest.Scenario{Sign: oidctest.SignRaw("not-a-jwt")}, want: 400},
		{name: "id_token/three junk parts", s: oidctest.Scenario{Sign: oidctest.SignRaw("a.b.c")}, want: 400},
		{name: "id_token/five parts (JWE)", s: oidctest.Scenario{Sign: oidctest.SignRaw("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d")}, want: 400},
		{name: "id_token/header not JSON", s: oidctest.Scenario{Sign: oidctest.SignRaw("bm90IGpzb24.eyJzdWIiOiJ4In0.c2ln")}, want: 400},
		{name: "id_token/100 KB", s: oidctest.Scenario{Sign: oidctest.SignRaw(strings.Repeat("A", 100<<10) + ".b.c")}, want: 400},

		// Rejected: the token endpoint.
		{name: "token endpoint/400 invalid_grant", s: oidctest.Scenario{Token: confToken(400, "application/json", `{"error":"invalid_grant"}`)}, want: 400},
		{name: "token endpoint/401 invalid_client", s: oidctest.Scenario{Token: confToken(401, "application/json", `{"error":"invalid_client"}`)}, want: 400},
		{name: "token endpoint/500", s: oidctest.Scenario{Token: confToken(500, "text/plain", "internal error")}, want: 502},
		{name: "token endpoint/garbage HTML", s: oidctest.Scenario{Token: confToken(200, "text/html", "<html><body>garbage</body></html>")}, want: 400},
		{name: "token endpoint/garbage JSON", s: oidctest.Scenario{Token: confToken(200, "application/json", `{"access_token":42,`)}, want: 400},
		{name: "token endpoint/no id_token", s: oidctest.Scenario{TokenResponse: confDel("id_token")}, want: 400},

		// Rejected: userinfo.
		{name: "rp-userinfo-bad-sub-claim", s: oidctest.Scenario{UserInfo: confSet("sub", "oidctest|mallory")}, want: 400, userinfo: 1},
		{name: "rp-userinfo/missing sub", s: oidctest.Scenario{UserInfo: confDel("sub")}, want: 400, userinfo: 1},
		{name: "rp-userinfo/sub not a string", s: oidctest.Scenario{UserInfo: confSet("sub", 7)}, want: 400, userinfo: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, app := confSetup(t, tc.cfg, nil)
			op.SetScenario(tc.s)
			c := newClient(t)
			resp := c.confLogin(app)
			if tc.want == 0 {
				confAssertLoggedIn(t, c, app, resp, "/profile", alice)
			} else {
				confAssertRejected(t, c, app, resp, tc.want)
			}
			if got := len(op.UserinfoRequests()); got != tc.userinfo {
				t.Errorf("userinfo calls = %d, want %d", got, tc.userinfo)
			}
		})
	}
}

// TestConformanceTokenEndpointHangs: a token endpoint that never answers is
// bounded by OIDC_HTTP_TIMEOUT and reported as unreachable (502).
func TestConformanceTokenEndpointHangs(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	op, app := confSetup(t, oidctest.Config{}, map[string]string{"OIDC_HTTP_TIMEOUT": "1s"})
	op.SetScenario(oidctest.Scenario{Token: hang})
	c := newClient(t)
	callback := c.confAuthorize(app, "/login")
	start := time.Now()
	resp := c.get(callback)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("callback took %v with a 1s provider timeout", took)
	}
	confAssertRejected(t, c, app, resp, http.StatusBadGateway)
	if n := len(op.UserinfoRequests()); n != 0 {
		t.Errorf("userinfo calls = %d, want 0", n)
	}
}

// TestConformanceRequests checks what the app sends the provider:
// rp-response_type-code with a fresh state, nonce and S256 code_challenge
// (RFC 7636), scope with openid (rp-scope-userinfo-claims), the exact
// redirect_uri, client_secret_basic with form-encoded credentials
// (rp-token_endpoint-client_secret_basic), the verifier, one userinfo call
// with the Bearer header (rp-userinfo-bearer-header), and that none of the
// codes, tokens or secrets appear in the app's log.
func TestConformanceRequests(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, map[string]string{"LOG_LEVEL": "debug"})
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")

	auths := op.AuthRequests()
	if len(auths) != 1 {
		t.Fatalf("authorization requests = %d, want 1", len(auths))
	}
	a := auths[0]
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             op.ClientID,
		"redirect_uri":          app.URL + "/callback",
		"code_challenge_method": "S256",
	} {
		if got := a.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	scopes := strings.Fields(a.Get("scope"))
	for _, s := range []string{"openid", "profile", "email"} {
		if !slices.Contains(scopes, s) {
			t.Errorf("scope %q lacks %s", a.Get("scope"), s)
		}
	}
	for _, k := range []string{"state", "nonce"} {
		// 32 random bytes, base64url: at least 256 bits of entropy.
		if v := a.Get(k); len(v) < 43 {
			t.Errorf("%s = %q is shorter than 43 characters", k, v)
		}
	}
	for _, k := range []string{"code_verifier", "client_secret"} {
		if a.Query.Has(k) {
			t.Errorf("authorization request carries %s", k)
		}
	}

	toks := op.TokenRequests()
	if len(toks) != 1 {
		t.Fatalf("token requests = %d, want 1", len(toks))
	}
	tr := toks[0]
	if tr.AuthMethod != "client_secret_basic" || !tr.ClientAuthOK {
		t.Errorf("client authentication = %s (ok %v), want client_secret_basic with the right secret", tr.AuthMethod, tr.ClientAuthOK)
	}
	if !tr.PKCEOK {
		t.Errorf("code_verifier does not match the S256 code_challenge")
	}
	if v := tr.Form.Get("code_verifier"); len(v) < 43 || len(v) > 128 {
		t.Errorf("code_verifier has %d characters, want 43 to 128 (RFC 7636 4.1)", len(v))
	}
	if got := tr.Form.Get("redirect_uri"); got != app.URL+"/callback" {
		t.Errorf("token request redirect_uri = %q, want %q", got, app.URL+"/callback")
	}
	if tr.Form.Get("grant_type") != "authorization_code" || tr.Form.Has("client_secret") {
		t.Errorf("token request form has grant_type %q, client_secret in body %v", tr.Form.Get("grant_type"), tr.Form.Has("client_secret"))
	}

	uis := op.UserinfoRequests()
	if len(uis) != 1 {
		t.Fatalf("userinfo requests = %d, want exactly 1", len(uis))
	}
	if !uis[0].BearerOK || uis[0].TokenElsewhere || uis[0].Method != http.MethodGet {
		t.Errorf("userinfo request: Bearer header ok %v, token also in query/body %v, method %s", uis[0].BearerOK, uis[0].TokenElsewhere, uis[0].Method)
	}

	// rp-scope-userinfo-claims: the provider releases name and email only
	// for the profile and email scopes; the card shows both.
	profile := c.get(app.URL + "/profile")
	if got := profile.Doc(t).Find(`[data-testid="profile-email"]`).Text(); got != "alice@example.test" {
		t.Errorf("profile email = %q, want the userinfo email", got)
	}

	// A second login gets fresh secrets.
	c2 := newClient(t)
	c2.confLogin(app)
	b := op.AuthRequests()[1]
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if a.Get(k) == b.Get(k) {
			t.Errorf("%s repeated across logins", k)
		}
	}

	// Nothing secret reaches the log, even at debug level.
	iss := op.IssuedFor(a.Get("nonce"))
	logs := app.Stderr.String()
	for what, secret := range map[string]string{
		"code": iss.Code, "access token": iss.AccessToken, "ID token": iss.IDToken,
		"client secret": op.ClientSecret, "state": a.Get("state"), "nonce": a.Get("nonce"),
		"code_verifier": tr.Form.Get("code_verifier"),
	} {
		if secret == "" {
			t.Errorf("no %s recorded to look for", what)
			continue
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
}

// TestConformanceStateAndPKCE: the authorization response must belong to a
// login this browser started, once (RFC 9700 2.1, 4.7; RFC 7636; OpenID
// Connect Core 3.1.2.7 and 15.5.2).
func TestConformanceStateAndPKCE(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	tokenCalls := func() int { return len(op.TokenRequests()) }

	t.Run("missing state", func(t *testing.T) {
		c := newClient(t)
		cb := confWithQuery(t, c.confAuthorize(app, "/login"), func(q url.Values) { q.Del("state") })
		before := tokenCalls()
		confAssertRejected(t, c, app, c.get(cb), 400)
		if tokenCalls() != before {
			t.Errorf("the code was redeemed without a state")
		}
	})
	t.Run("wrong state", func(t *testing.T) {
		c := newClient(t)
		cb := confWithQuery(t, c.confAuthorize(app, "/login"), func(q url.Values) { q.Set("state", "guessed-state-value") })
		before := tokenCalls()
		confAssertRejected(t, c, app, c.get(cb), 400)
		if tokenCalls() != before {
			t.Errorf("the code was redeemed with a wrong state")
		}
	})
	t.Run("state from another browser (login CSRF)", func(t *testing.T) {
		victim, attacker := newClient(t), newClient(t)
		cb := attacker.confAuthorize(app, "/login")
		before := tokenCalls()
		confAssertRejected(t, victim, app, victim.get(cb), 400)
		if tokenCalls() != before {
			t.Errorf("another browser's code was redeemed")
		}
		// The refusal did not use up the attacker's own attempt.
		confAssertLoggedIn(t, attacker, app, attacker.get(cb), "/profile", "Alice Conformance")
	})
	t.Run("same callback twice in one browser", func(t *testing.T) {
		c := newClient(t)
		cb := c.confAuthorize(app, "/login")
		confAssertLoggedIn(t, c, app, c.get(cb), "/profile", "Alice Conformance")
		second := c.get(cb)
		if second.StatusCode != 400 {
			t.Errorf("second callback = %d, want 400", second.StatusCode)
		}
		if ck := confSetCookie(second, confSessionCookie); ck != nil {
			t.Errorf("the second callback touched the session cookie")
		}
	})
	t.Run("replayed callback with the attempt cookie", func(t *testing.T) {
		c := newClient(t)
		cb := c.confAuthorize(app, "/login")
		var attempt *http.Cookie
		u, _ := url.Parse(app.URL)
		for _, ck := range c.jar.Cookies(u) {
			if strings.HasPrefix(ck.Name, "login-") {
				attempt = ck
			}
		}
		if attempt == nil {
			t.Fatal("no login attempt cookie after /login")
		}
		confAssertLoggedIn(t, c, app, c.get(cb), "/profile", "Alice Conformance")
		before := tokenCalls()
		thief := newClient(t)
		thief.jar.SetCookies(u, []*http.Cookie{{Name: attempt.Name, Value: attempt.Value}})
		confAssertRejected(t, thief, app, thief.get(cb), 400)
		if tokenCalls() != before {
			t.Errorf("a replayed callback redeemed the code again")
		}
	})
	t.Run("code of another login with this login's state (PKCE)", func(t *testing.T) {
		c := newClient(t)
		first := c.confAuthorize(app, "/login")
		second := c.confAuthorize(app, "/login")
		secondCode, _ := url.Parse(second)
		swapped := confWithQuery(t, first, func(q url.Values) { q.Set("code", secondCode.Query().Get("code")) })
		before := len(op.TokenRequests())
		confAssertRejected(t, c, app, c.get(swapped), 400)
		trs := op.TokenRequests()
		if len(trs) != before+1 || trs[len(trs)-1].PKCEOK {
			t.Errorf("the provider did not see a wrong code_verifier for the swapped code")
		}
	})
	t.Run("code of another login, provider ignores PKCE (nonce)", func(t *testing.T) {
		op.SetScenario(oidctest.Scenario{IgnorePKCE: true})
		defer op.SetScenario(oidctest.Scenario{})
		c := newClient(t)
		first := c.confAuthorize(app, "/login")
		second := c.confAuthorize(app, "/login")
		secondCode, _ := url.Parse(second)
		swapped := confWithQuery(t, first, func(q url.Values) { q.Set("code", secondCode.Query().Get("code")) })
		before := len(op.UserinfoRequests())
		confAssertRejected(t, c, app, c.get(swapped), 400)
		if len(op.UserinfoRequests()) != before {
			t.Errorf("userinfo was called for an ID token with another login's nonce")
		}
	})
	t.Run("error=access_denied", func(t *testing.T) {
		op.SetScenario(oidctest.Scenario{AuthError: "access_denied"})
		defer op.SetScenario(oidctest.Scenario{})
		c := newClient(t)
		before := tokenCalls()
		confAssertRejected(t, c, app, c.get(c.confAuthorize(app, "/login")), 403)
		if tokenCalls() != before {
			t.Errorf("the token endpoint was called after error=access_denied")
		}
	})
}

// TestConformanceIssParameter covers RFC 9207: with
// authorization_response_iss_parameter_supported the iss parameter must be
// there and right; a present iss is checked either way; the code is never
// redeemed after a failed check (mix-up, RFC 9700 4.4).
func TestConformanceIssParameter(t *testing.T) {
	tests := []struct {
		name       string
		advertised bool
		edit       func(q url.Values)
		authError  string
		want       int
	}{
		{name: "advertised and right", advertised: true},
		{name: "advertised and missing", advertised: true, edit: func(q url.Values) { q.Del("iss") }, want: 400},
		{name: "advertised and wrong", advertised: true, edit: func(q url.Values) { q.Set("iss", "https://evil.example") }, want: 400},
		{name: "advertised, trailing slash added", advertised: true, edit: func(q url.Values) { q.Set("iss", q.Get("iss")+"/") }, want: 400},
		{name: "advertised, error with wrong iss", advertised: true, authError: "access_denied", edit: func(q url.Values) { q.Set("iss", "https://evil.example") }, want: 400},
		{name: "not advertised and absent"},
		{name: "not advertised but wrong", edit: func(q url.Values) { q.Set("iss", "https://evil.example") }, want: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, app := confSetup(t, oidctest.Config{IssParameter: tc.advertised}, nil)
			op.SetScenario(oidctest.Scenario{AuthResponse: tc.edit, AuthError: tc.authError})
			c := newClient(t)
			resp := c.confLogin(app)
			if tc.want == 0 {
				confAssertLoggedIn(t, c, app, resp, "/profile", "Alice Conformance")
				return
			}
			confAssertRejected(t, c, app, resp, tc.want)
			if n := len(op.TokenRequests()); n != 0 {
				t.Errorf("token requests = %d, want 0: the code went to the token endpoint after a failed iss check", n)
			}
		})
	}
}

// TestConformanceDiscovery covers rp-discovery-openid-configuration (the
// endpoints come from discovery, not from guesses),
// rp-discovery-issuer-not-matching-config and other unusable metadata, and
// a provider that stops answering after discovery.
func TestConformanceDiscovery(t *testing.T) {
	t.Run("rp-discovery-openid-configuration", func(t *testing.T) {
		op, app := confSetup(t, oidctest.Config{}, nil)
		if op.DiscoveryCalls() == 0 {
			t.Fatal("the app became ready without reading discovery")
		}
		c := newClient(t)
		// oidctest serves its endpoints under /op/..., where no one guesses.
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	})

	notReady := []struct {
		name string
		edit func(doc map[string]any)
		// reason is what /readyz must mention.
		reason string
	}{
		{name: "rp-discovery-issuer-not-matching-config", edit: func(d map[string]any) { d["issuer"] = d["issuer"].(string) + "/other" }, reason: "issuer"},
		{name: "no jwks_uri", edit: func(d map[string]any) { delete(d, "jwks_uri") }, reason: "jwks_uri"},
		{name: "no response_type code", edit: func(d map[string]any) { d["response_types_supported"] = []string{"id_token"} }, reason: "response_type"},
		{name: "only HS256 ID tokens", edit: func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }, reason: "asymmetric"},
	}
	for _, tc := range notReady {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t, oidctest.Config{Discovery: tc.edit})
			app := confStartNotReady(t, op, nil)
			// /readyz names the dependency; the reason, which holds the
			// provider's addresses, is in the log with the request id.
			var logged bool
			deadline := time.Now().Add(5 * time.Second)
			for !logged && time.Now().Before(deadline) {
				r := newClient(t).get(app.URL + "/readyz")
				if r.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(r.Body) != "not ready: identity provider" {
					t.Fatalf("/readyz = %d %q with unusable discovery, want 503 \"not ready: identity provider\"", r.StatusCode, r.Body)
				}
				id := r.Header.Get("X-Request-Id")
				for _, line := range strings.Split(app.Stderr.String(), "\n") {
					if strings.Contains(line, "request_id="+id) && strings.Contains(line, "discovery failed") {
						logged = true
						if !strings.Contains(line, tc.reason) {
							t.Errorf("the not-ready log line does not mention %s: %s", tc.reason, line)
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !logged {
				t.Errorf("no log line with the request id says why the provider is not ready:\n%s", app.Stderr.String())
			}
			c := newClient(t)
			if r := c.get(app.URL + "/login"); r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET /login = %d, want 503", r.StatusCode)
			}
			if n := len(op.AuthRequests()); n != 0 {
				t.Errorf("the browser was sent to a provider whose discovery is unusable (%d requests)", n)
			}
		})
	}

	unreachable := []struct {
		name  string
		cfg   oidctest.Config
		after func(op *oidctest.Provider)
	}{
		{name: "provider gone before the code exchange", after: func(op *oidctest.Provider) { op.Close() }},
		{name: "jwks_uri answers 500", after: func(op *oidctest.Provider) { op.FailJWKS(500) }},
		{name: "jwks_uri unreachable", cfg: oidctest.Config{Discovery: func(d map[string]any) { d["jwks_uri"] = "http://127.0.0.1:1/keys" }}},
	}
	for _, tc := range unreachable {
		t.Run(tc.name, func(t *testing.T) {
			op, app := confSetup(t, tc.cfg, nil)
			c := newClient(t)
			cb := c.confAuthorize(app, "/login")
			if tc.after != nil {
				tc.after(op)
			}
			confAssertRejected(t, c, app, c.get(cb), http.StatusBadGateway)
			if n := len(op.UserinfoRequests()); n != 0 {
				t.Errorf("userinfo calls = %d, want 0", n)
			}
		})
	}
}

// confCheckCookieAttrs checks a Set-Cookie header line against the
// contract: HttpOnly, SameSite=Lax, Path=/, no Domain, and Secure exactly
// when secure.
func confCheckCookieAttrs(t *testing.T, line string, secure bool) {
	t.Helper()
	attrs := map[string]string{}
	for i, part := range strings.Split(line, ";") {
		if i == 0 {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		attrs[strings.ToLower(k)] = v
	}
	if _, ok := attrs["httponly"]; !ok {
		t.Errorf("cookie without HttpOnly: %s", line)
	}
	if attrs["samesite"] != "Lax" {
		t.Errorf("cookie SameSite = %q, want Lax: %s", attrs["samesite"], line)
	}
	if attrs["path"] != "/" {
		t.Errorf("cookie Path = %q, want /: %s", attrs["path"], line)
	}
	if _, ok := attrs["domain"]; ok {
		t.Errorf("cookie with a Domain: %s", line)
	}
	if _, ok := attrs["secure"]; ok != secure {
		t.Errorf("cookie Secure = %v, want %v: %s", ok, secure, line)
	}
}

// confSetCookieLine returns the raw Set-Cookie line for name, or "".
func confSetCookieLine(resp *response, name string) string {
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// TestConformanceSessionCookies covers the contract's cookie rules and
// OWASP session management: attributes, no fixation, tampered and oversized
// cookies, no-store caching, and a cookie replayed after logout.
func TestConformanceSessionCookies(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	appURL, _ := url.Parse(app.URL)

	t.Run("attributes over http", func(t *testing.T) {
		c := newClient(t)
		start := c.get(app.URL + "/login")
		var attempt string
		for _, line := range start.Header.Values("Set-Cookie") {
			if strings.HasPrefix(line, "login-") {
				attempt = line
			}
		}
		if attempt == "" {
			t.Fatalf("/login set no attempt cookie: %v", start.Header.Values("Set-Cookie"))
		}
		confCheckCookieAttrs(t, attempt, false)
		at := c.get(start.Header.Get("Location"))
		loc, _ := at.Request.URL.Parse(at.Header.Get("Location"))
		cb := c.get(loc.String())
		line := confSetCookieLine(cb, confSessionCookie)
		if line == "" {
			t.Fatalf("callback set no %s cookie: %v", confSessionCookie, cb.Header.Values("Set-Cookie"))
		}
		confCheckCookieAttrs(t, line, false)
	})

	t.Run("attributes over https (__Host- prefix, Secure)", func(t *testing.T) {
		const public = "https://app.example.test"
		sop := oidctest.New(t, oidctest.Config{})
		sapp := confStartPublic(t, sop, public)
		// A browser would send the Secure cookies to https://app.example.test;
		// the test talks to the listener directly and carries them by hand.
		plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(rawURL string, cookies ...*http.Cookie) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
			for _, ck := range cookies {
				req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
			}
			resp, err := plain.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", rawURL, err)
			}
			resp.Body.Close()
			return resp
		}
		start := get(sapp.URL + "/login")
		var attempt *http.Cookie
		for _, ck := range start.Cookies() {
			if strings.HasPrefix(ck.Name, "__Host-login-") {
				attempt = ck
			}
		}
		if attempt == nil {
			t.Fatalf("/login set no __Host-login- cookie: %v", start.Header.Values("Set-Cookie"))
		}
		for _, line := range start.Header.Values("Set-Cookie") {
			if strings.HasPrefix(line, attempt.Name+"=") {
				confCheckCookieAttrs(t, line, true)
			}
		}
		back := get(start.Header.Get("Location")).Header.Get("Location")
		if !strings.HasPrefix(back, public+"/callback?") {
			t.Fatalf("provider redirected to %q, want the public callback", back)
		}
		cb := get(sapp.URL+strings.TrimPrefix(back, public), attempt)
		var line string
		for _, l := range cb.Header.Values("Set-Cookie") {
			if strings.HasPrefix(l, "__Host-session=") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("callback = %d set no __Host-session cookie: %v", cb.StatusCode, cb.Header.Values("Set-Cookie"))
		}
		confCheckCookieAttrs(t, line, true)
		if hsts := cb.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("https app without HSTS: %q", hsts)
		}
	})

	t.Run("no fixation: a planted cookie is never promoted", func(t *testing.T) {
		// The attacker's own valid session and an arbitrary value, each
		// planted in the victim's browser before the victim logs in.
		attacker := newClient(t)
		op.SetScenario(oidctest.Scenario{User: oidctest.User("oidctest|mallory", "Mallory Attacker", "mallory@example.test")})
		confAssertLoggedIn(t, attacker, app, attacker.confLogin(app), "/profile", "Mallory Attacker")
		op.SetScenario(oidctest.Scenario{})
		attackerCookie := attacker.cookie(app, confSessionCookie).Value

		for name, planted := range map[string]string{"attacker's session": attackerCookie, "chosen value": "attacker-chosen-session-id"} {
			t.Run(name, func(t *testing.T) {
				victim := newClient(t)
				victim.jar.SetCookies(appURL, []*http.Cookie{{Name: confSessionCookie, Value: planted}})
				resp := victim.confLogin(app)
				confAssertLoggedIn(t, victim, app, resp, "/profile", "Alice Conformance")
				got := victim.cookie(app, confSessionCookie).Value
				if got == planted {
					t.Fatalf("the planted cookie value was kept after login")
				}
				// The planted value gives no access to the victim's session.
				spy := newClient(t)
				spy.jar.SetCookies(appURL, []*http.Cookie{{Name: confSessionCookie, Value: planted}})
				if p := spy.get(app.URL + "/profile"); p.StatusCode == http.StatusOK && strings.Contains(p.Body, "Alice Conformance") {
					t.Errorf("the planted cookie sees the victim's profile")
				}
			})
		}
	})

	t.Run("tampered and oversized cookies are anonymous", func(t *testing.T) {
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		good := c.cookie(app, confSessionCookie).Value
		flip := []byte(good)
		flip[len(flip)/2] ^= 0x01
		if flip[len(flip)/2] == '=' || flip[len(flip)/2] < 0x21 {
			flip[len(flip)/2] = 'A'
		}
		// A cookie from an app with another secret, and the attempt cookie
		// under the session's name: both must fail authentication.
		other := oidctest.New(t, oidctest.Config{})
		otherApp := confStart(t, other, map[string]string{"SESSION_SECRET": "another-secret-another-secret-another-secret"})
		oc := newClient(t)
		confAssertLoggedIn(t, oc, otherApp, oc.confLogin(otherApp), "/profile", "Alice Conformance")
		foreign := oc.cookie(otherApp, confSessionCookie).Value
		ac := newClient(t)
		ac.get(app.URL + "/login")
		var attemptValue string
		for _, ck := range ac.jar.Cookies(appURL) {
			if strings.HasPrefix(ck.Name, "login-") {
				attemptValue = ck.Value
			}
		}
		for name, value := range map[string]string{
			"flipped bit":               string(flip),
			"truncated":                 good[:len(good)-5],
			"extended":                  good + "AAAA",
			"empty":                     "",
			"random base64":             "MTY5OTk5OTk5OXxhYmNkZWZ8c2lnbmF0dXJl",
			"4 KB":                      strings.Repeat("A", 4<<10),
			"60 KB":                     strings.Repeat("B", 60<<10),
			"another secret's cookie":   foreign,
			"attempt cookie as session": attemptValue,
		} {
			t.Run(name, func(t *testing.T) {
				spy := newClient(t)
				req, _ := http.NewRequest(http.MethodGet, app.URL+"/profile", nil)
				req.Header.Set("Cookie", confSessionCookie+"="+value)
				r := spy.do(req)
				if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
					t.Errorf("GET /profile = %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
				}
				req, _ = http.NewRequest(http.MethodGet, app.URL+"/profile/userinfo", nil)
				req.Header.Set("Cookie", confSessionCookie+"="+value)
				if r := spy.do(req); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET /profile/userinfo = %d, want 401", r.StatusCode)
				}
			})
		}
		// The untampered cookie still works: the cases above can fail.
		if p := c.get(app.URL + "/profile"); p.StatusCode != http.StatusOK {
			t.Errorf("the good cookie stopped working: %d", p.StatusCode)
		}
	})

	t.Run("Cache-Control no-store on user pages and cookie-setting responses", func(t *testing.T) {
		c := newClient(t)
		start := c.get(app.URL + "/login")
		at := c.get(start.Header.Get("Location"))
		loc, _ := at.Request.URL.Parse(at.Header.Get("Location"))
		cb := c.get(loc.String())
		logoutPage := c.get(app.URL + "/logout")
		profile := c.get(app.URL + "/profile")
		index := c.get(app.URL + "/")
		details := c.get(app.URL+"/profile/userinfo", "HX-Request", "true")
		out := c.postForm(app.URL+"/logout", url.Values{}, "Origin", app.URL, "Sec-Fetch-Site", "same-origin")
		for name, r := range map[string]*response{
			"/login (sets the attempt cookie)": start, "/callback (sets the session)": cb,
			"/profile": profile, "/ logged in": index, "/profile/userinfo": details,
			"GET /logout": logoutPage, "POST /logout (clears the cookie)": out,
		} {
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("%s: Cache-Control = %q, want no-store", name, cc)
			}
		}
		if len(start.Header.Values("Set-Cookie")) == 0 || len(cb.Header.Values("Set-Cookie")) == 0 || len(out.Header.Values("Set-Cookie")) == 0 {
			t.Errorf("a response that should set a cookie did not")
		}
	})

	t.Run("cookie replay after logout", func(t *testing.T) {
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		nonce := confLastNonce(t, op)
		saved := c.cookie(app, confSessionCookie).Value
		out := c.postForm(app.URL+"/logout", url.Values{}, "Origin", app.URL, "Sec-Fetch-Site", "same-origin")
		if out.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /logout = %d, want 303", out.StatusCode)
		}
		if ck := confSetCookie(out, confSessionCookie); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("logout did not expire the session cookie")
		}
		loc, _ := url.Parse(out.Header.Get("Location"))
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != op.Issuer+oidctest.EndSessionPath {
			t.Errorf("logout went to %s, want the end_session_endpoint", got)
		}
		if q := loc.Query(); q.Get("id_token_hint") != op.IssuedFor(nonce).IDToken || q.Get("post_logout_redirect_uri") != app.URL+"/" {
			t.Errorf("logout URL lacks the ID token as id_token_hint or post_logout_redirect_uri")
		}
		confAssertAnonymous(t, c, app)
		replay := newClient(t)
		replay.jar.SetCookies(appURL, []*http.Cookie{{Name: confSessionCookie, Value: saved}})
		confAssertAnonymous(t, replay, app)
	})
}

// TestConformanceCSRF: a cross-site POST to a state-changing route is
// refused and changes nothing (RFC 9700 4.7; OWASP CSRF).
func TestConformanceCSRF(t *testing.T) {
	_, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	stillIn := func(t *testing.T) {
		t.Helper()
		if p := c.get(app.URL + "/profile"); p.StatusCode != http.StatusOK {
			t.Fatalf("the session ended: GET /profile = %d", p.StatusCode)
		}
	}
	tests := []struct {
		name    string
		headers []string
	}{
		{"Sec-Fetch-Site cross-site and a foreign Origin", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"Sec-Fetch-Site cross-site only", []string{"Sec-Fetch-Site", "cross-site"}},
		{"Sec-Fetch-Site same-site (a sibling subdomain)", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://evil.127.0.0.1.nip.io"}},
		{"foreign Origin only (older browser)", []string{"Origin", "https://evil.example"}},
		{"Origin null", []string{"Origin", "null"}},
	}
	for _, tc := range tests {
		t.Run("POST /logout/"+tc.name, func(t *testing.T) {
			r := c.postForm(app.URL+"/logout", url.Values{}, tc.headers...)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site POST /logout = %d, want 403", r.StatusCode)
			}
			if ck := confSetCookie(r, confSessionCookie); ck != nil {
				t.Errorf("a refused logout touched the session cookie")
			}
			stillIn(t)
		})
	}
	t.Run("POST /backchannel-logout from a browser with a forged token", func(t *testing.T) {
		r := c.postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJvaWRjdGVzdHxhbGljZSJ9."}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /backchannel-logout = %d, want 400", r.StatusCode)
		}
		stillIn(t)
	})
	for _, route := range []string{"/", "/profile", "/profile/userinfo", "/login", "/callback"} {
		t.Run("POST "+route, func(t *testing.T) {
			r := c.postForm(app.URL+route, url.Values{}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
			if r.StatusCode != http.StatusMethodNotAllowed && r.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site POST %s = %d, want 405 or 403", route, r.StatusCode)
			}
			stillIn(t)
		})
	}
	t.Run("GET /logout has no side effect", func(t *testing.T) {
		if r := c.get(app.URL + "/logout"); r.StatusCode != http.StatusOK {
			t.Errorf("GET /logout = %d", r.StatusCode)
		}
		stillIn(t)
	})
	// The same-origin logout works, so the refusals above are not a broken
	// route.
	t.Run("same-origin POST /logout", func(t *testing.T) {
		if r := c.postForm(app.URL+"/logout", url.Values{}, "Sec-Fetch-Site", "same-origin", "Origin", app.URL); r.StatusCode != http.StatusSeeOther {
			t.Errorf("same-origin POST /logout = %d, want 303", r.StatusCode)
		}
		confAssertAnonymous(t, c, app)
	})
}

// TestConformanceReturnTo: returnTo never leaves the site (RFC 9700 4.11,
// open redirectors); same-site paths are kept.
func TestConformanceReturnTo(t *testing.T) {
	_, app := confSetup(t, oidctest.Config{}, nil)
	tests := []struct {
		name string
		// raw is the returnTo parameter exactly as it appears in the query.
		raw  string
		want string
	}{
		{"same-site path kept", url.QueryEscape("/profile?tab=details"), "/profile?tab=details"},
		{"root kept", url.QueryEscape("/"), "/"},
		{"absolute URL", url.QueryEscape("https://evil.example"), "/profile"},
		{"scheme-relative", url.QueryEscape("//evil.example"), "/profile"},
		{"scheme-relative, raw", "//evil.example", "/profile"},
		{"triple slash", url.QueryEscape("///evil.example"), "/profile"},
		{"backslash", url.QueryEscape(`/\evil.example`), "/profile"},
		{"two backslashes", url.QueryEscape(`\\evil.example`), "/profile"},
		{"scheme without slashes", url.QueryEscape("https:evil.example"), "/profile"},
		{"javascript", url.QueryEscape("javascript:alert(1)"), "/profile"},
		{"tab inside", url.QueryEscape("/\t/evil.example"), "/profile"},
		{"newline inside", url.QueryEscape("/\n/evil.example"), "/profile"},
		{"userinfo trick", url.QueryEscape("/@evil.example"), "/@evil.example"},
		{"percent-encoded //", "%2F%2Fevil.example", "/profile"},
		{"double-encoded //", "%252F%252Fevil.example", "/profile"},
		{"encoded slash after slash", url.QueryEscape("/%2Fevil.example"), "/profile"},
		{"encoded backslash after slash", url.QueryEscape("/%5Cevil.example"), "/profile"},
		{"encoded scheme", "https%3A%2F%2Fevil.example", "/profile"},
		{"encoded tab", url.QueryEscape("/%09/evil.example"), "/profile"},
		{"dot segments", url.QueryEscape("/.//evil.example"), "/evil.example"},
		{"too long", url.QueryEscape("/" + strings.Repeat("a", 3000)), "/profile"},
		{"256 bytes kept", url.QueryEscape("/" + strings.Repeat("a", 255)), "/" + strings.Repeat("a", 255)},
		{"safe but over 256 bytes dropped", url.QueryEscape("/" + strings.Repeat("a", 1500)), "/profile"},
		{"safe, 2047 bytes, dropped", url.QueryEscape("/" + strings.Repeat("%41", 682)), "/profile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			cb := c.get(c.confAuthorize(app, "/login?returnTo="+tc.raw))
			if cb.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback = %d, want 303", cb.StatusCode)
			}
			loc := cb.Header.Get("Location")
			target, err := cb.Request.URL.Parse(loc)
			if err != nil || target.Host != cb.Request.URL.Host || target.Scheme != cb.Request.URL.Scheme {
				t.Fatalf("returnTo %q led to %q, off the site", tc.raw, loc)
			}
			if strings.ContainsAny(loc, "\\\t\n\r") || strings.HasPrefix(loc, "//") {
				t.Errorf("Location %q could be read as another host", loc)
			}
			if loc != tc.want {
				t.Errorf("Location = %q, want %q", loc, tc.want)
			}
		})
	}
}

// TestConformanceRobustness: hostile input to the callback and the other
// routes is always a 4xx, never a 500 or a panic, and the process lives on.
func TestConformanceRobustness(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	big := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		// query builds the callback's raw query from a real login's code and
		// state.
		query func(code, state string) string
	}{
		{"empty query", func(code, state string) string { return "" }},
		{"10 KB code", func(code, state string) string { return "code=" + big(10<<10) + "&state=" + state }},
		{"100 KB state", func(code, state string) string { return "code=" + code + "&state=" + big(100<<10) }},
		{"100 KB code", func(code, state string) string { return "code=" + big(100<<10) + "&state=" + state }},
		{"10 KB error_description", func(code, state string) string {
			return "error=access_denied&error_description=" + big(10<<10) + "&state=" + state
		}},
		{"4000-byte code (within limits, unknown)", func(code, state string) string { return "code=" + big(4000) + "&state=" + state }},
		{"invalid UTF-8 in state", func(code, state string) string { return "code=" + code + "&state=%FF%FE" + state }},
		{"invalid UTF-8 in code", func(code, state string) string { return "code=%C3%28" + code + "&state=" + state }},
		{"NUL in code", func(code, state string) string { return "code=" + code + "%00&state=" + state }},
		{"NUL in state", func(code, state string) string { return "code=" + code + "&state=" + state + "%00" }},
		{"CRLF in error_description", func(code, state string) string {
			return "error=access_denied&error_description=a%0D%0ASet-Cookie:%20x=1&state=" + state
		}},
		{"duplicated state", func(code, state string) string { return "code=" + code + "&state=" + state + "&state=" + state }},
		{"duplicated code", func(code, state string) string { return "code=" + code + "&code=" + code + "&state=" + state }},
		{"duplicated iss", func(code, state string) string {
			return "code=" + code + "&state=" + state + "&iss=" + url.QueryEscape(op.Issuer) + "&iss=" + url.QueryEscape(op.Issuer)
		}},
		{"duplicated error", func(code, state string) string { return "error=a&error=b&state=" + state }},
		{"error and code together", func(code, state string) string { return "error=access_denied&code=" + code + "&state=" + state }},
		{"empty code", func(code, state string) string { return "code=&state=" + state }},
		{"broken percent-encoding", func(code, state string) string { return "code=%zz&state=%" }},
		{"semicolons", func(code, state string) string { return "code=" + code + ";state=" + state }},
		{"array syntax", func(code, state string) string { return "code[]=" + code + "&state[]=" + state }},
		{"unicode in state", func(code, state string) string { return "code=" + code + "&state=" + url.QueryEscape("état-☃") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			cb, _ := url.Parse(c.confAuthorize(app, "/login"))
			q := cb.Query()
			cb.RawQuery = tc.query(q.Get("code"), q.Get("state"))
			resp := c.get(cb.String())
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("status = %d, want 4xx", resp.StatusCode)
			}
			confAssertRejected(t, c, app, resp, resp.StatusCode)
			if len(resp.Header.Values("Set-Cookie")) > 0 {
				for _, line := range resp.Header.Values("Set-Cookie") {
					if strings.HasPrefix(line, "x=") {
						t.Errorf("a parameter injected a header: %s", line)
					}
				}
			}
		})
	}

	t.Run("error_description is not reflected", func(t *testing.T) {
		c := newClient(t)
		cb, _ := url.Parse(c.confAuthorize(app, "/login"))
		q := url.Values{"error": {"access_denied"}, "state": {cb.Query().Get("state")},
			"error_description": {"Your account is locked. Call +1-555-0100 <b>now</b>"}}
		cb.RawQuery = q.Encode()
		resp := c.get(cb.String())
		confAssertRejected(t, c, app, resp, http.StatusForbidden)
		if strings.Contains(resp.Body, "555-0100") {
			t.Errorf("the provider's error_description appears on our page")
		}
	})
	t.Run("100 KB returnTo on /login is dropped", func(t *testing.T) {
		c := newClient(t)
		cb := c.get(c.confAuthorize(app, "/login?returnTo=/"+big(100<<10)))
		if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile" {
			t.Errorf("callback = %d to %q, want 303 to /profile", cb.StatusCode, cb.Header.Get("Location"))
		}
	})
	t.Run("invalid UTF-8 and NUL in returnTo", func(t *testing.T) {
		c := newClient(t)
		cb := c.get(c.confAuthorize(app, "/login?returnTo=/%FF%00%FE"))
		if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile" {
			t.Errorf("callback = %d to %q, want 303 to /profile", cb.StatusCode, cb.Header.Get("Location"))
		}
	})
	t.Run("malformed logout tokens", func(t *testing.T) {
		c := newClient(t)
		for _, tok := range []string{"", "abc", "a.b", "a.b.c", "a.b.c.d.e", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", big(60 << 10), "\x00\xff"} {
			r := c.postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
			if r.StatusCode != http.StatusBadRequest {
				t.Errorf("logout_token %q: status %d, want 400", truncate(tok, 40), r.StatusCode)
			}
		}
		r := c.postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {big(1 << 20)}})
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("1 MB body: status %d, want 400", r.StatusCode)
		}
	})
	t.Run("hostile headers", func(t *testing.T) {
		c := newClient(t)
		for name, headers := range map[string][]string{
			"100 KB cookie":        {"Cookie", "session=" + big(100<<10)},
			"many cookies":         {"Cookie", strings.Repeat("login-aaaa=bbbb; ", 500)},
			"invalid UTF-8 cookie": {"Cookie", "session=\xff\xfe"},
			"htmx with bad cookie": {"HX-Request", "true", "Cookie", "session=x"},
		} {
			for _, path := range []string{"/", "/profile", "/profile/userinfo", "/login", "/callback?state=x&code=y"} {
				r := c.get(app.URL+path, headers...)
				if r.StatusCode >= 500 {
					t.Errorf("%s on %s: status %d", name, path, r.StatusCode)
				}
			}
		}
	})

	// The process is alive and nothing panicked.
	if r := newClient(t).get(app.URL + "/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d after the hostile input", r.StatusCode)
	}
	if strings.Contains(app.Stderr.String(), "panic") {
		t.Errorf("the app panicked:\n%s", truncate(app.Stderr.String(), 3000))
	}
}

// TestConformanceRateLimit: /login and /callback are limited per client
// address with a friendly 429 page; other pages are not.
func TestConformanceRateLimit(t *testing.T) {
	_, app := confSetup(t, oidctest.Config{}, map[string]string{"LOGIN_RATE_LIMIT": "3"})
	c := newClient(t)
	for i := range 3 {
		if r := c.get(app.URL + "/login"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %d = %d, want 303 within the limit", i+1, r.StatusCode)
		}
	}
	for _, path := range []string{"/login", "/callback?code=x&state=y"} {
		r := c.get(app.URL + path)
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("GET %s over the limit = %d, want 429", path, r.StatusCode)
		}
		doc := r.Doc(t)
		if doc.Find(`[data-testid="error-card"]`).Length() != 1 || !strings.Contains(doc.Find(`[data-testid="error-message"]`).Text(), "too many") {
			t.Errorf("429 is not the friendly error page:\n%s", truncate(r.Body, 1500))
		}
		if !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("429 Content-Type = %q", r.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/", "/healthz", "/profile"} {
		if r := c.get(app.URL + path); r.StatusCode == http.StatusTooManyRequests {
			t.Errorf("GET %s is rate limited", path)
		}
	}
}

// TestConformanceSecurityHeaders: a strict CSP without inline script or
// eval, nosniff, no framing, no referrer from the callback, HSTS only over
// https, and pages that need nothing inline.
func TestConformanceSecurityHeaders(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	anonIndex := c.get(app.URL + "/")
	cb := c.confLogin(app)
	pages := map[string]*response{
		"index anonymous":  anonIndex,
		"callback success": cb,
		"profile":          c.get(app.URL + "/profile"),
		"profile userinfo": c.get(app.URL + "/profile/userinfo"),
		"logout page":      c.get(app.URL + "/logout"),
		"callback error":   c.get(app.URL + "/callback?error=access_denied&state=x"),
		"not found":        c.get(app.URL + "/no-such-page"),
		"login":            c.get(app.URL + "/login"),
		"healthz":          c.get(app.URL + "/healthz"),
	}
	for name, r := range pages {
		t.Run(name, func(t *testing.T) {
			h := r.Header
			csp := h.Get("Content-Security-Policy")
			directives := map[string]string{}
			for _, d := range strings.Split(csp, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(d), " ")
				directives[k] = v
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*"} {
				if strings.Contains(csp, bad) {
					t.Errorf("CSP contains %s: %s", bad, csp)
				}
			}
			for k, want := range map[string]string{"default-src": "'none'", "script-src": "'self'", "frame-ancestors": "'none'", "base-uri": "'none'"} {
				if directives[k] != want {
					t.Errorf("CSP %s = %q, want %q (CSP: %s)", k, directives[k], want, csp)
				}
			}
			if fa := directives["form-action"]; !strings.Contains(fa, op.Issuer) || !strings.HasPrefix(fa, "'self'") {
				t.Errorf("CSP form-action = %q, want 'self' and the provider", fa)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := h.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q", got)
			}
			rp := h.Get("Referrer-Policy")
			if strings.HasPrefix(name, "callback") && rp != "no-referrer" {
				t.Errorf("Referrer-Policy on the callback = %q, want no-referrer", rp)
			}
			if rp != "no-referrer" && rp != "same-origin" && rp != "strict-origin" {
				t.Errorf("Referrer-Policy = %q", rp)
			}
			if hsts := h.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("HSTS over http: %q", hsts)
			}
			if !strings.Contains(h.Get("Content-Type"), "text/html") {
				return
			}
			doc := r.Doc(t)
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if _, ok := s.Attr("src"); !ok {
					t.Errorf("inline <script>: %s", truncate(s.Text(), 200))
				}
			})
			if doc.Find("style").Length() > 0 || doc.Find("[style]").Length() > 0 {
				t.Errorf("inline style, which the CSP blocks")
			}
			doc.Find("*").Each(func(_ int, s *goquery.Selection) {
				for _, a := range s.Nodes[0].Attr {
					if strings.HasPrefix(strings.ToLower(a.Key), "on") {
						t.Errorf("inline event handler %s=%q", a.Key, a.Val)
					}
				}
			})
		})
	}
	t.Run("HSTS over https", func(t *testing.T) {
		sop := oidctest.New(t, oidctest.Config{})
		sapp := confStartPublic(t, sop, "https://app.example.test")
		r := newClient(t).get(sapp.URL + "/")
		if hsts := r.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=63072000") {
			t.Errorf("HSTS = %q, want max-age of two years", hsts)
		}
	})
}

// TestConformanceJWKSRefetchCap: a flood of tokens with unknown kids makes
// at most a burst of two JWKS fetches and then one per refetch interval,
// and every such token fails.
func TestConformanceJWKSRefetchCap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		flood    time.Duration
	}{
		{name: "default interval", interval: 10 * time.Second},
		{name: "300ms interval", interval: 300 * time.Millisecond, flood: 1200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]string{}
			if tc.interval != 10*time.Second {
				extra["OIDC_JWKS_REFETCH_INTERVAL"] = tc.interval.String()
			}
			op, app := confSetup(t, oidctest.Config{}, extra)
			c := newClient(t)
			confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
			if n := op.JWKSCalls(); n != 1 {
				t.Fatalf("JWKS fetches after one login = %d, want 1", n)
			}
			op.SetScenario(oidctest.Scenario{Sign: oidctest.SignUnknownKid})
			start := time.Now()
			forged := 0
			for forged < 20 || time.Since(start) < tc.flood {
				fc := newClient(t)
				if r := fc.confLogin(app); r.StatusCode != http.StatusBadRequest {
					t.Fatalf("forged token %d: status %d, want 400", forged, r.StatusCode)
				}
				forged++
			}
			elapsed := time.Since(start)
			refetches := op.JWKSCalls() - 1
			allowed := 2 + int(elapsed/tc.interval)
			t.Logf("%d forged tokens in %v: %d refetches (allowed %d)", forged, elapsed.Round(time.Millisecond), refetches, allowed)
			if refetches > allowed {
				t.Errorf("%d forged tokens in %v caused %d JWKS refetches, want at most %d (one per %v)", forged, elapsed, refetches, allowed, tc.interval)
			}
			if n := len(op.UserinfoRequests()); n != 1 {
				t.Errorf("userinfo calls = %d, want 1 (the genuine login only)", n)
			}
		})
	}
}

// TestConformanceJWKSRefetchCapBackchannel: the unauthenticated
// back-channel logout endpoint is the easiest way to send the app forged
// tokens; a flood of them with unknown kids is bounded the same way.
func TestConformanceJWKSRefetchCapBackchannel(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	start := time.Now()
	for i := range 100 {
		tok, err := op.SignClaims(op.LogoutClaims("oidctest|alice", ""), oidctest.SignUnknownKid)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {tok}}); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged logout token %d: status %d, want 400", i, r.StatusCode)
		}
	}
	elapsed := time.Since(start)
	// The first token fetches the keys; then a burst of two refetches, then
	// one per interval.
	allowed := 3 + int(elapsed/(10*time.Second))
	if n := op.JWKSCalls(); n > allowed {
		t.Errorf("100 forged logout tokens in %v caused %d JWKS fetches, want at most %d", elapsed, n, allowed)
	}
}

// TestConformanceKeyRotation: rp-key-rotation-op-sign-key (rotated between
// logins) and -native (rotated just before signing): the very next login
// fetches the new keys, however soon after the last fetch it comes, with
// the default refetch interval of 10 s.
func TestConformanceKeyRotation(t *testing.T) {
	var extra map[string]string

	t.Run("rp-key-rotation-op-sign-key", func(t *testing.T) {
		op, app := confSetup(t, oidctest.Config{}, extra)
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		op.RotateKey()
		time.Sleep(time.Second)
		c2 := newClient(t)
		confAssertLoggedIn(t, c2, app, c2.confLogin(app), "/profile", "Alice Conformance")
		if n := op.JWKSCalls(); n != 2 {
			t.Errorf("JWKS fetches = %d, want 2", n)
		}
	})
	t.Run("rp-key-rotation-op-sign-key-native", func(t *testing.T) {
		op, app := confSetup(t, oidctest.Config{}, extra)
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		op.SetScenario(oidctest.Scenario{BeforeSign: (*oidctest.Provider).RotateKey})
		c2 := newClient(t)
		confAssertLoggedIn(t, c2, app, c2.confLogin(app), "/profile", "Alice Conformance")
		if n := op.JWKSCalls(); n != 2 {
			t.Errorf("JWKS fetches = %d, want 2", n)
		}
	})
	t.Run("rotation during a storm of forged logout tokens", func(t *testing.T) {
		op, app := confSetup(t, oidctest.Config{}, extra)
		c := newClient(t)
		confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
		for range 30 {
			tok, err := op.SignClaims(op.LogoutClaims("oidctest|alice", ""), oidctest.SignUnknownKid)
			if err != nil {
				t.Fatal(err)
			}
			newClient(t).postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
		}
		op.RotateKey()
		next := newClient(t)
		confAssertLoggedIn(t, next, app, next.confLogin(app), "/profile", "Alice Conformance")
	})
}

// TestConformanceBackchannelLogout covers OpenID Connect Back-Channel
// Logout 1.0 section 2.6: every check on the logout token, replay, and the
// session ending on a valid one.
func TestConformanceBackchannelLogout(t *testing.T) {
	op, app := confSetup(t, oidctest.Config{}, nil)
	c := newClient(t)
	confAssertLoggedIn(t, c, app, c.confLogin(app), "/profile", "Alice Conformance")
	nonce := confLastNonce(t, op)
	sid := op.IssuedFor(nonce).SID
	const sub = "oidctest|alice"
	post := func(t *testing.T, tok string) *response {
		t.Helper()
		r := newClient(t).postForm(app.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("back-channel logout Cache-Control = %q, want no-store", cc)
		}
		return r
	}
	sign := func(t *testing.T, claims map[string]any, f oidctest.SignFunc) string {
		t.Helper()
		tok, err := op.SignClaims(claims, f)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now().Unix()
	event := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	bad := []struct {
		name string
		edit func(c map[string]any)
		sign oidctest.SignFunc
	}{
		{"wrong iss", confSet("iss", "https://evil.example"), nil},
		{"wrong aud", confSet("aud", "someone-else"), nil},
		{"extra aud", confSet("aud", []string{oidctest.DefaultClientID, "someone-else"}), nil},
		{"no events", confDel("events"), nil},
		{"wrong event", confSet("events", map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}), nil},
		{"event not an object", confSet("events", map[string]any{"http://schemas.openid.net/event/backchannel-logout": "yes"}), nil},
		{"nonce present", confSet("nonce", "n"), nil},
		{"neither sub nor sid", func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }, nil},
		{"no iat", confDel("iat"), nil},
		{"iat too old", confSet("iat", now-3600), nil},
		{"iat in the future", confSet("iat", now+3600), nil},
		{"expired", confSet("exp", now-60), nil},
		{"no jti", confDel("jti"), nil},
		{"alg none", nil, oidctest.SignNone},
		{"bad signature", nil, oidctest.SignForeignKid},
		{"HS256 keyed with the public key", nil, oidctest.SignHS256WithPublicKey},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			claims := op.LogoutClaims(sub, sid)
			if tc.edit != nil {
				tc.edit(claims)
			}
			f := tc.sign
			if f == nil {
				f = oidctest.SignRS256
			}
			if r := post(t, sign(t, claims, f)); r.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", r.StatusCode)
			}
			if p := c.get(app.URL + "/profile"); p.StatusCode != http.StatusOK {
				t.Fatalf("an invalid logout token ended the session")
			}
		})
	}
	t.Run("an ID token is not a logout token", func(t *testing.T) {
		if r := post(t, op.IssuedFor(nonce).IDToken); r.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", r.StatusCode)
		}
	})
	t.Run("valid by sid, then replayed", func(t *testing.T) {
		tok := sign(t, op.LogoutClaims("", sid), oidctest.SignRS256)
		if r := post(t, tok); r.StatusCode != http.StatusOK {
			t.Fatalf("valid logout token: status %d, want 200", r.StatusCode)
		}
		confAssertAnonymous(t, c, app)
		if r := post(t, tok); r.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed logout token: status %d, want 400", r.StatusCode)
		}
	})
	t.Run("valid by sub ends every session of the user", func(t *testing.T) {
		a, b := newClient(t), newClient(t)
		confAssertLoggedIn(t, a, app, a.confLogin(app), "/profile", "Alice Conformance")
		confAssertLoggedIn(t, b, app, b.confLogin(app), "/profile", "Alice Conformance")
		claims := map[string]any{"iss": op.Issuer, "aud": op.ClientID, "iat": time.Now().Unix(), "jti": "jti-" + fmt.Sprint(time.Now().UnixNano()), "sub": sub, "events": event}
		if r := post(t, sign(t, claims, oidctest.SignRS256)); r.StatusCode != http.StatusOK {
			t.Fatalf("valid logout token: status %d, want 200", r.StatusCode)
		}
		confAssertAnonymous(t, a, app)
		confAssertAnonymous(t, b, app)
	})
	t.Run("keys unreachable", func(t *testing.T) {
		// A fresh app whose provider can not serve keys: not a 400 (the
		// token may be fine), so that the provider retries.
		op2, app2 := confSetup(t, oidctest.Config{}, nil)
		op2.FailJWKS(http.StatusInternalServerError)
		tok, err := op2.SignClaims(op2.LogoutClaims(sub, ""), oidctest.SignRS256)
		if err != nil {
			t.Fatal(err)
		}
		r := newClient(t).postForm(app2.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", r.StatusCode)
		}
	})
}
