package main

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) end to end,
// against sessOP: a minimal OpenID Provider whose tokens the test signs
// itself, so that every flawed logout token is correctly signed except for
// the flaw under test.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/loginapp/login/internal/session/redistest"
)

const (
	sessOPClient = "bc-client"
	sessBCEvent  = "http://schemas.openid.net/event/backchannel-logout"
)

// sessOP is a minimal provider: discovery, keys, an authorization endpoint
// that signs the next user in without a form, the token and userinfo
// endpoints.
type sessOP struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	kid     string
	foreign *ecdsa.PrivateKey // a key the provider does not publish

	mu    sync.Mutex
	next  [2]string            // sub and sid of the next login
	codes map[string][3]string // code -> sub, sid, nonce
}

func sessStartOP(t *testing.T) *sessOP {
	t.Helper()
	op := &sessOP{kid: "bc-key-1", codes: map[string][3]string{}}
	var err error
	if op.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if op.foreign, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := op.srv.URL
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"userinfo_endpoint": iss + "/userinfo", "jwks_uri": iss + "/jwks",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
			"code_challenge_methods_supported":      []string{"S256"},
			"backchannel_logout_supported":          true, "backchannel_logout_session_supported": true,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: op.kid, Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := randomString(16)
		op.mu.Lock()
		op.codes[code] = [3]string{op.next[0], op.next[1], q.Get("nonce")}
		op.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		login, ok := op.codes[r.PostForm.Get("code")]
		delete(op.codes, r.PostForm.Get("code"))
		op.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		idToken := op.sign(t, op.key, "JWT", map[string]any{
			"iss": op.srv.URL, "aud": sessOPClient, "sub": login[0], "sid": login[1], "nonce": login[2],
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + login[0], "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		sub := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer at-")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"sub": sub, "name": "User " + sub, "email": sub + "@example.com"})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

// sign returns a compact JWS of claims with key (and the provider's kid).
func (op *sessOP) sign(t *testing.T, key *ecdsa.PrivateKey, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: op.kid}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logoutClaims is a valid logout token's claims for sub and sid.
func (op *sessOP) logoutClaims(sub, sid string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": op.srv.URL, "aud": sessOPClient, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomString(16), "events": map[string]any{sessBCEvent: map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// sessBCApp is an app using sessOP, and its logged-in browsers.
type sessBCApp struct {
	op  *sessOP
	app *testApp
}

func sessStartBCApp(t *testing.T) *sessBCApp {
	t.Helper()
	return sessStartBCAppWith(t, nil)
}

// sessStartBCAppWith is sessStartBCApp with more settings (a Redis store).
func sessStartBCAppWith(t *testing.T, extra map[string]string) *sessBCApp {
	t.Helper()
	op := sessStartOP(t)
	env := map[string]string{
		"OIDC_ISSUER_URL": op.srv.URL, "OIDC_CLIENT_ID": sessOPClient, "OIDC_CLIENT_SECRET": "bc-secret",
		"SESSION_SECRET": sessSecret,
	}
	for k, v := range extra {
		env[k] = v
	}
	app := startApp(t, env)
	app.waitReady(t)
	return &sessBCApp{op: op, app: app}
}

// login signs a new browser in as sub in the provider session sid.
func (a *sessBCApp) login(t *testing.T, sub, sid string) *client {
	t.Helper()
	a.op.mu.Lock()
	a.op.next = [2]string{sub, sid}
	a.op.mu.Unlock()
	c := newClient(t)
	resp, at := c.follow(a.app.URL + "/login")
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(at, "/profile") {
		t.Fatalf("login as %s: %d at %s\n%s", sub, resp.StatusCode, at, truncate(resp.Body, 1500))
	}
	return c
}

// post sends a back-channel logout request with the form body.
func (a *sessBCApp) post(t *testing.T, form url.Values) *response {
	t.Helper()
	resp := newClient(t).postForm(a.app.URL+"/backchannel-logout", form)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("back-channel logout answer has Cache-Control %q, want no-store", cc)
	}
	return resp
}

func (a *sessBCApp) logout(t *testing.T, token string) *response {
	t.Helper()
	return a.post(t, url.Values{"logout_token": {token}})
}

func TestSessBackchannelLogout(t *testing.T) {
	a := sessStartBCApp(t)

	t.Run("sid ends that session only", func(t *testing.T) {
		one := a.login(t, "u-sid", "op-session-1")
		two := a.login(t, "u-sid", "op-session-2")
		if r := a.logout(t, a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("", "op-session-1"))); r.StatusCode != http.StatusOK {
			t.Fatalf("valid logout token with sid: %d, want 200\n%s", r.StatusCode, r.Body)
		}
		if sessLoggedIn(t, one, a.app) {
			t.Error("the session of the sid survived")
		}
		if !sessLoggedIn(t, two, a.app) {
			t.Error("the user's session in another provider session ended too")
		}
	})

	t.Run("sid and sub end that session only", func(t *testing.T) {
		one := a.login(t, "u-both", "op-session-3")
		two := a.login(t, "u-both", "op-session-4")
		if r := a.logout(t, a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("u-both", "op-session-3"))); r.StatusCode != http.StatusOK {
			t.Fatalf("valid logout token with sub and sid: %d, want 200\n%s", r.StatusCode, r.Body)
		}
		if sessLoggedIn(t, one, a.app) || !sessLoggedIn(t, two, a.app) {
			t.Error("want only the session of the sid ended")
		}
	})

	t.Run("sub alone ends all the user's sessions", func(t *testing.T) {
		one := a.login(t, "u-all", "op-session-5")
		two := a.login(t, "u-all", "")
		other := a.login(t, "u-other", "op-session-6")
		if r := a.logout(t, a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("u-all", ""))); r.StatusCode != http.StatusOK {
			t.Fatalf("valid logout token with sub: %d, want 200\n%s", r.StatusCode, r.Body)
		}
		if sessLoggedIn(t, one, a.app) || sessLoggedIn(t, two, a.app) {
			t.Error("one of the user's sessions survived")
		}
		if !sessLoggedIn(t, other, a.app) {
			t.Error("another user's session ended")
		}
	})

	t.Run("no session to end is still 200", func(t *testing.T) {
		if r := a.logout(t, a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("nobody", "no-session"))); r.StatusCode != http.StatusOK {
			t.Fatalf("logout of an unknown session: %d, want 200", r.StatusCode)
		}
	})

	t.Run("replayed jti", func(t *testing.T) {
		token := a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("u-replay", ""))
		if r := a.logout(t, token); r.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d, want 200", r.StatusCode)
		}
		c := a.login(t, "u-replay", "op-session-7")
		if r := a.logout(t, token); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("replay: %d, want 400", r.StatusCode)
		}
		if !sessLoggedIn(t, c, a.app) {
			t.Error("a replayed logout token ended a new session")
		}
	})

	// Every flaw alone, on a correctly signed token otherwise: 400, and the
	// session stays.
	victim := a.login(t, "u-victim", "op-victim")
	edit := func(f func(c map[string]any)) string {
		c := a.op.logoutClaims("u-victim", "op-victim")
		f(c)
		return a.op.sign(t, a.op.key, "logout+jwt", c)
	}
	valid := a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("u-victim", "op-victim"))
	parts := strings.Split(valid, ".")
	now := time.Now()
	invalid := map[string]url.Values{
		"bad signature":  {"logout_token": {parts[0] + "." + parts[1] + "." + strings.Split(edit(func(map[string]any) {}), ".")[2]}},
		"foreign key":    {"logout_token": {a.op.sign(t, a.op.foreign, "logout+jwt", a.op.logoutClaims("u-victim", "op-victim"))}},
		"unsigned":       {"logout_token": {"eyJhbGciOiJub25lIn0." + parts[1] + "."}},
		"not a JWT":      {"logout_token": {"not-a-jwt"}},
		"no token":       {},
		"two tokens":     {"logout_token": {valid, valid}},
		"wrong iss":      {"logout_token": {edit(func(c map[string]any) { c["iss"] = "https://evil.example.com" })}},
		"wrong aud":      {"logout_token": {edit(func(c map[string]any) { c["aud"] = "another-client" })}},
		"extra aud":      {"logout_token": {edit(func(c map[string]any) { c["aud"] = []string{sessOPClient, "another-client"} })}},
		"missing iat":    {"logout_token": {edit(func(c map[string]any) { delete(c, "iat") })}},
		"iat too old":    {"logout_token": {edit(func(c map[string]any) { c["iat"] = now.Add(-time.Hour).Unix(); delete(c, "exp") })}},
		"iat in future":  {"logout_token": {edit(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() })}},
		"expired":        {"logout_token": {edit(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })}},
		"missing jti":    {"logout_token": {edit(func(c map[string]any) { delete(c, "jti") })}},
		"missing events": {"logout_token": {edit(func(c map[string]any) { delete(c, "events") })}},
		"other event":    {"logout_token": {edit(func(c map[string]any) { c["events"] = map[string]any{"http://example.com/other": map[string]any{}} })}},
		"event not an object": {"logout_token": {edit(func(c map[string]any) {
			c["events"] = map[string]any{sessBCEvent: "yes"}
		})}},
		"events not an object": {"logout_token": {edit(func(c map[string]any) { c["events"] = []string{sessBCEvent} })}},
		"with nonce":           {"logout_token": {edit(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" })}},
		"neither sub nor sid":  {"logout_token": {edit(func(c map[string]any) { delete(c, "sub"); delete(c, "sid") })}},
	}
	for name, form := range invalid {
		t.Run("invalid: "+name, func(t *testing.T) {
			r := a.post(t, form)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400\n%s", name, r.StatusCode, r.Body)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Error == "" {
				t.Errorf("400 body %q is not a JSON error", r.Body)
			}
			if !sessLoggedIn(t, victim, a.app) {
				t.Fatalf("%s ended the session", name)
			}
		})
	}

	// The harness itself: the unflawed token is accepted, so the 400s above
	// are about the flaws.
	if r := a.logout(t, valid); r.StatusCode != http.StatusOK {
		t.Fatalf("the valid token: %d, want 200\n%s", r.StatusCode, r.Body)
	}
	if sessLoggedIn(t, victim, a.app) {
		t.Fatal("the valid token did not end the session")
	}
	if got := fmt.Sprint(newClient(t).get(a.app.URL + "/backchannel-logout").StatusCode); got != "405" {
		t.Errorf("GET /backchannel-logout = %s, want 405", got)
	}
}

// TestSessBackchannelLogoutStoreFault: a back-channel logout that the store
// could not carry out (Redis stalled, or killed) answers 503 and marks
// nothing, so that the provider's retry of the same token ends the session
// once Redis is back, instead of being refused as a replay.
func TestSessBackchannelLogoutStoreFault(t *testing.T) {
	for _, fault := range []string{"stalled", "killed"} {
		t.Run(fault, func(t *testing.T) {
			rds := redistest.Start(t)
			a := sessStartBCAppWith(t, map[string]string{"SESSION_STORE": rds.URL()})
			c := a.login(t, "u-fault-"+fault, "op-fault-"+fault)
			token := a.op.sign(t, a.op.key, "logout+jwt", a.op.logoutClaims("", "op-fault-"+fault))
			switch fault {
			case "stalled":
				rds.Pause()
			case "killed":
				if err := rds.Client().Save(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
				rds.Kill()
			}
			if r := a.logout(t, token); r.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("logout token while Redis is %s: %d, want 503", fault, r.StatusCode)
			}
			switch fault {
			case "stalled":
				rds.Resume()
			case "killed":
				rds.Restart()
			}
			a.app.waitReady(t)
			if !sessLoggedIn(t, c, a.app) {
				t.Fatal("the session ended although the logout answered 503")
			}
			if r := a.logout(t, token); r.StatusCode != http.StatusOK {
				t.Fatalf("the provider's retry of the same token: %d, want 200 (not a replay)\n%s", r.StatusCode, r.Body)
			}
			if sessLoggedIn(t, c, a.app) {
				t.Error("the session outlived the retried logout")
			}
			if r := a.logout(t, token); r.StatusCode != http.StatusBadRequest {
				t.Errorf("a third use of the token: %d, want 400 (replay)", r.StatusCode)
			}
		})
	}
}

// TestSessBackchannelLimits: one client can make the endpoint verify and
// log only so much: beyond 600 requests a minute it gets 429 with
// Retry-After, and a rejected token's text in the log is cut short however
// long the client made it.
func TestSessBackchannelLimits(t *testing.T) {
	a := sessStartBCAppWith(t, map[string]string{"LOG_LEVEL": "info"})
	huge := a.op.logoutClaims("u-huge", "")
	huge["iss"] = strings.Repeat("https://evil.example/", 1500) // 31 KB in the error
	if r := a.logout(t, a.op.sign(t, a.op.key, "logout+jwt", huge)); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("huge forged token: %d, want 400", r.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // info lines are written in batches
	refused := 0
	for _, line := range strings.Split(a.app.Stderr.String(), "\n") {
		if strings.Contains(line, "back-channel logout refused") {
			refused++
			if len(line) > 1000 {
				t.Errorf("a rejected token made a %d-byte log line", len(line))
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d log lines for the refused token, want 1:\n%.3000s", refused, a.app.Stderr.String())
	}
	c := newClient(t)
	limited := 0
	for i := range 650 {
		r := c.postForm(a.app.URL+"/backchannel-logout", url.Values{"logout_token": {"not-a-jwt"}})
		if r.StatusCode == http.StatusTooManyRequests {
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			if limited == 0 && i < 599 {
				t.Fatalf("limited after %d requests, want 600", i)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Error("650 requests in a minute from one client were never limited")
	}
}
