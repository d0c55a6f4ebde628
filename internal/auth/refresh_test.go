package auth_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/oidctest"
)

// TestRefreshIDToken: a refreshed ID token (OpenID Connect Core 12.2) passes
// the same checks as the login's, except the nonce, and keeps the login's
// sub. Every login here is good; only the refresh misbehaves.
func TestRefreshIDToken(t *testing.T) {
	p := oidctest.New(t, oidctest.Config{TokenLifetime: time.Minute})
	rp := newTestRP(t, p, "openid", "profile", "email", "offline_access")

	claims := func(edit func(c map[string]any)) oidctest.Scenario {
		return oidctest.Scenario{RefreshClaims: edit}
	}
	respond := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	inFuture := func(d time.Duration) int64 { return time.Now().Add(d).Unix() }

	refused := []struct {
		name string
		s    oidctest.Scenario
	}{
		{"another sub", claims(func(c map[string]any) { c["sub"] = "oidctest|mallory" })},
		{"another iss", claims(func(c map[string]any) { c["iss"] = p.Issuer + "/other" })},
		{"another aud", claims(func(c map[string]any) { c["aud"] = "other-client" })},
		{"extra untrusted audience", claims(func(c map[string]any) {
			c["aud"] = []string{p.ClientID, "other-client"}
			c["azp"] = p.ClientID
		})},
		{"several audiences without azp", claims(func(c map[string]any) { c["aud"] = []string{p.ClientID, p.ClientID} })},
		{"wrong azp", claims(func(c map[string]any) { c["azp"] = "other-client" })},
		{"iat in the future", claims(func(c map[string]any) { c["iat"] = inFuture(10 * time.Minute) })},
		{"no iat", claims(func(c map[string]any) { delete(c, "iat") })},
		{"expired", claims(func(c map[string]any) { c["exp"] = inFuture(-time.Minute) })},
		{"no exp", claims(func(c map[string]any) { delete(c, "exp") })},
		{"no sub", claims(func(c map[string]any) { delete(c, "sub") })},
		{"at_hash of another access token", claims(func(c map[string]any) { c["at_hash"] = oidctest.AtHash("another access token") })},
		{"bad signature: corrupted", oidctest.Scenario{RefreshSign: oidctest.SignCorrupted}},
		{"bad signature: foreign key under the real kid", oidctest.Scenario{RefreshSign: oidctest.SignForeignKid}},
		{"bad signature: key not in the JWKS", oidctest.Scenario{RefreshSign: oidctest.SignUnknownKid}},
		{"alg none", oidctest.Scenario{RefreshSign: oidctest.SignNone}},
		{"HS256 with the client secret", oidctest.Scenario{RefreshSign: oidctest.SignHS256WithClientSecret}},
		{"HS256 keyed with the public key", oidctest.Scenario{RefreshSign: oidctest.SignHS256WithPublicKey}},
		{"id_token not a JWT", oidctest.Scenario{RefreshResponse: func(r map[string]any) { r["id_token"] = "not.a.jwt" }}},
		{"provider refuses the refresh token", oidctest.Scenario{Refresh: respond(http.StatusBadRequest, `{"error":"invalid_grant"}`)}},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			p.SetScenario(tt.s)
			login, err := testLogin(t, rp)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if login.RefreshToken == "" {
				t.Fatal("no refresh token with offline_access")
			}
			out, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject)
			if !errors.Is(err, auth.ErrRefreshFailed) {
				t.Fatalf("Refresh = %+v, %v; want ErrRefreshFailed", out, err)
			}
			if out != nil {
				t.Errorf("a refused refresh returned tokens")
			}
		})
	}

	accepted := []struct {
		name      string
		s         oidctest.Scenario
		noIDToken bool
	}{
		{"good (no nonce, as Core 12.2 allows)", oidctest.Scenario{}, false},
		{"iat within clock skew", claims(func(c map[string]any) { c["iat"] = inFuture(time.Minute) }), false},
		{"azp is the client", claims(func(c map[string]any) { c["azp"] = p.ClientID }), false},
		{"aud an array with only the client", claims(func(c map[string]any) { c["aud"] = []string{p.ClientID} }), false},
		{"signed without kid", oidctest.Scenario{RefreshSign: oidctest.SignNoKid}, false},
		{"no id_token in the response", oidctest.Scenario{RefreshResponse: func(r map[string]any) { delete(r, "id_token") }}, true},
	}
	for _, tt := range accepted {
		t.Run("accepted/"+tt.name, func(t *testing.T) {
			p.SetScenario(tt.s)
			login, err := testLogin(t, rp)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			before := len(p.TokenRequests())
			out, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if out.AccessToken == "" || out.AccessToken == login.AccessToken {
				t.Errorf("no new access token")
			}
			if out.RefreshToken == "" || out.RefreshToken == login.RefreshToken {
				t.Errorf("the rotated refresh token was not kept")
			}
			if tt.noIDToken {
				if out.IDToken != "" {
					t.Errorf("IDToken = %q without an id_token in the response", out.IDToken)
				}
			} else if out.IDToken == "" || out.IDToken == login.IDToken {
				t.Errorf("no new ID token")
			}
			if d := time.Until(out.TokenExpiry); d < 50*time.Second || d > 70*time.Second {
				t.Errorf("TokenExpiry in %v, want about the 1 minute lifetime", d)
			}
			trs := p.TokenRequests()
			if len(trs) != before+1 {
				t.Fatalf("%d token requests for one refresh", len(trs)-before)
			}
			tr := trs[len(trs)-1]
			if tr.Form.Get("grant_type") != "refresh_token" || tr.AuthMethod != "client_secret_basic" || !tr.ClientAuthOK || tr.Form.Has("client_secret") {
				t.Errorf("refresh request: grant_type %q, auth %s (ok %v), secret in body %v; want refresh_token with client_secret_basic",
					tr.Form.Get("grant_type"), tr.AuthMethod, tr.ClientAuthOK, tr.Form.Has("client_secret"))
			}
		})
	}

	t.Run("rotation: the old refresh token is refused, the new one works", func(t *testing.T) {
		p.SetScenario(oidctest.Scenario{})
		login, err := testLogin(t, rp)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		first, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject)
		if err != nil {
			t.Fatalf("first refresh: %v", err)
		}
		if _, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject); !errors.Is(err, auth.ErrRefreshFailed) {
			t.Errorf("refresh with the rotated-out token = %v, want ErrRefreshFailed", err)
		}
		if _, err := rp.Refresh(t.Context(), first.RefreshToken, login.Subject); err != nil {
			t.Errorf("refresh with the new token: %v", err)
		}
	})

	t.Run("no refresh token without offline_access", func(t *testing.T) {
		p.SetScenario(oidctest.Scenario{})
		login, err := testLogin(t, newTestRP(t, p, "openid", "profile", "email"))
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if login.RefreshToken != "" {
			t.Errorf("a refresh token without offline_access")
		}
	})

	t.Run("revoked refresh tokens are refused", func(t *testing.T) {
		p.SetScenario(oidctest.Scenario{})
		login, err := testLogin(t, rp)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		p.RevokeRefreshTokens()
		if _, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject); !errors.Is(err, auth.ErrRefreshFailed) {
			t.Errorf("refresh with a revoked token = %v, want ErrRefreshFailed", err)
		}
	})
}

// TestRefreshOutage: a refresh that fails because the provider is down,
// slow, overloaded or answering 5xx is an outage (KindUnavailable), never
// ErrRefreshFailed, and right after one the next refreshes fail at once
// without asking the provider, until the pause has passed.
func TestRefreshOutage(t *testing.T) {
	respond := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		refresh http.HandlerFunc
	}{
		{"503", respond(http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)},
		{"500 with an HTML page", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<html>oops</html>", 500) }},
		{"429", respond(http.StatusTooManyRequests, `{"error":"slow_down"}`)},
		{"400 temporarily_unavailable", respond(http.StatusBadRequest, `{"error":"temporarily_unavailable"}`)},
		{"hangs past the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, oidctest.Config{TokenLifetime: time.Minute})
			p.RegisterRedirectURI(testRedirect)
			rp := auth.New(auth.Config{
				Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
				RedirectURL: testRedirect, PostLogoutURL: "http://app.test/",
				Scopes:     []string{"openid", "offline_access"},
				HTTPClient: auth.NewHTTPClient(500 * time.Millisecond),
			})
			// A login's refresh uses the scenario of that login.
			p.SetScenario(oidctest.Scenario{Refresh: tt.refresh})
			login, err := testLogin(t, rp)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			_, err = rp.Refresh(t.Context(), login.RefreshToken, login.Subject)
			if err == nil || errors.Is(err, auth.ErrRefreshFailed) || auth.KindOf(err) != auth.KindUnavailable {
				t.Fatalf("Refresh = %v, want an outage (KindUnavailable), not ErrRefreshFailed", err)
			}
			before := len(p.TokenRequests())
			if _, err := rp.Refresh(t.Context(), login.RefreshToken, login.Subject); auth.KindOf(err) != auth.KindUnavailable {
				t.Errorf("refresh right after an outage = %v, want an outage at once", err)
			}
			if n := len(p.TokenRequests()) - before; n != 0 {
				t.Errorf("refresh right after an outage asked the provider %d times, want 0", n)
			}
		})
	}
}
