package oidctest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/management"
	"github.com/loginapp/login/internal/oidctest"
)

func client(t *testing.T, p *oidctest.Provider, mutate func(*management.Config)) *management.Client {
	t.Helper()
	cfg := management.Config{BaseURL: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret, Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := management.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const alice = "oidctest|alice"

// TestMgmtWellBehaved: the subset works with the app's client, and the
// provider records what the client sent.
func TestMgmtWellBehaved(t *testing.T) {
	p := oidctest.New(t, oidctest.Config{})
	c := client(t, p, nil)
	u, err := c.User(t.Context(), alice)
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if u.Name != "Alice Conformance" || !u.CanChangePassword() || u.Primary().Connection != oidctest.DatabaseConnection {
		t.Errorf("alice = %+v", u)
	}
	p.SetMgmtUser(oidctest.Auth0User(oidctest.User("google-oauth2|7", "Sam Social", "sam@example.test"), "google-oauth2"))
	if sam, err := c.User(t.Context(), "google-oauth2|7"); err != nil || !sam.Primary().IsSocial || sam.CanChangePassword() {
		t.Errorf("social user: %+v, %v", sam, err)
	}

	p2 := u.Profile()
	p2.Nickname, p2.Timezone = "al", "Europe/Berlin"
	if got, err := c.UpdateUser(t.Context(), alice, u.Changes(p2)); err != nil || got.Profile() != p2 {
		t.Fatalf("UpdateUser = %+v, %v; want profile %+v", got, err, p2)
	}
	if meta, _ := p.MgmtUser(alice)["user_metadata"].(map[string]any); meta["timezone"] != "Europe/Berlin" {
		t.Errorf("stored user_metadata = %v", meta)
	}
	if _, err := c.SendVerificationEmail(t.Context(), alice); err != nil {
		t.Errorf("SendVerificationEmail: %v", err)
	}
	if err := c.ChangePassword(t.Context(), "alice@example.test", oidctest.DatabaseConnection); err != nil {
		t.Errorf("ChangePassword: %v", err)
	}

	reqs := p.MgmtRequests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests recorded, want 5", len(reqs))
	}
	if reqs[0].Path != "/api/v2/users/oidctest%7Calice" || reqs[0].UserID != alice || !reqs[0].BearerOK {
		t.Errorf("GET recorded as %+v", reqs[0])
	}
	if patch := reqs[2]; patch.Method != http.MethodPatch || len(patch.Body) != 2 || patch.Body["nickname"] != "al" {
		t.Errorf("PATCH body %v, want only nickname and user_metadata", patch.Body)
	}
	if cp := reqs[4]; cp.Path != oidctest.ChangePasswordPath || cp.Authorization != "" || cp.Body["client_id"] != p.ClientID {
		t.Errorf("change_password recorded as %+v, want the client id and no Authorization", cp)
	}
	tokens := p.MgmtTokenRequests()
	if len(tokens) != 1 || !tokens[0].ClientAuthOK || tokens[0].Audience != p.MgmtAudience() || tokens[0].AuthMethod != "client_secret_post" || tokens[0].Form.Has("client_secret") {
		t.Errorf("token requests %+v, want one client_secret_post grant for the audience, recorded without the secret", tokens)
	}

	// The discovered token endpoint answers the grant too, as Auth0's does.
	c2 := client(t, p, func(c *management.Config) { c.TokenURL = p.Issuer + oidctest.TokenPath })
	if _, err := c2.User(t.Context(), alice); err != nil {
		t.Errorf("with the token from %s: %v", oidctest.TokenPath, err)
	}
}

// TestMgmtHostile: each hostile scenario reaches the app's client as the
// error it must handle.
func TestMgmtHostile(t *testing.T) {
	tests := []struct {
		name      string
		cfg       oidctest.Config
		scenario  oidctest.MgmtScenario
		call      string // "get" or "patch"
		wantKind  error
		wantRetry time.Duration
	}{
		{"429 Retry-After seconds", oidctest.Config{}, oidctest.MgmtScenario{API: oidctest.RateLimited("12")}, "get", management.ErrRateLimited, 12 * time.Second},
		{"429 Retry-After date", oidctest.Config{}, oidctest.MgmtScenario{API: oidctest.RateLimited(time.Now().Add(40 * time.Second).UTC().Format(http.TimeFormat))}, "get", management.ErrRateLimited, 40 * time.Second},
		{"429 X-RateLimit-Reset", oidctest.Config{}, oidctest.MgmtScenario{API: oidctest.RateLimitedUntil(time.Now().Add(25 * time.Second))}, "patch", management.ErrRateLimited, 25 * time.Second},
		{"503", oidctest.Config{}, oidctest.MgmtScenario{API: oidctest.ServerError(503)}, "get", management.ErrUnavailable, 0},
		{"slow answer", oidctest.Config{}, oidctest.MgmtScenario{Delay: 10 * time.Second}, "get", management.ErrUnavailable, 0},
		{"hanging answer", oidctest.Config{}, oidctest.MgmtScenario{API: oidctest.Hang}, "patch", management.ErrUnavailable, 0},
		{"another user's answer", oidctest.Config{}, oidctest.MgmtScenario{User: oidctest.AnswerFor("oidctest|mallory")}, "get", management.ErrInvalidResponse, 0},
		{"another user's PATCH answer", oidctest.Config{}, oidctest.MgmtScenario{User: oidctest.AnswerFor("oidctest|mallory")}, "patch", management.ErrInvalidResponse, 0},
		{"token refused", oidctest.Config{}, oidctest.MgmtScenario{Token: oidctest.RefuseToken(403, "access_denied", "Client is not authorized to access the API")}, "get", management.ErrTokenRefused, 0},
		{"token rate limited", oidctest.Config{}, oidctest.MgmtScenario{Token: oidctest.RateLimited("3")}, "get", management.ErrRateLimited, 3 * time.Second},
		{"slow token endpoint", oidctest.Config{}, oidctest.MgmtScenario{TokenDelay: 10 * time.Second}, "get", management.ErrUnavailable, 0},
		{"wrong management secret", oidctest.Config{MgmtClientID: "m2m", MgmtClientSecret: "other"}, oidctest.MgmtScenario{}, "get", management.ErrTokenRefused, 0},
		{"wrong audience", oidctest.Config{MgmtAudience: "https://canonical.example/api/v2/"}, oidctest.MgmtScenario{}, "get", management.ErrTokenRefused, 0},
		{"read:users only", oidctest.Config{MgmtScopes: []string{"read:users"}}, oidctest.MgmtScenario{}, "patch", management.ErrForbidden, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, tt.cfg)
			p.SetMgmtScenario(tt.scenario)
			c := client(t, p, func(c *management.Config) {
				c.Timeout = 300 * time.Millisecond
				if tt.cfg.MgmtClientID != "" {
					c.ClientID, c.ClientSecret = tt.cfg.MgmtClientID, "not-"+tt.cfg.MgmtClientSecret
				}
			})
			start := time.Now()
			var err error
			if tt.call == "get" {
				_, err = c.User(t.Context(), alice)
			} else {
				_, err = c.UpdateUser(t.Context(), alice, management.UserUpdate{Nickname: new("al")})
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v, want at most about the 300ms timeout", took)
			}
			var e *management.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantKind) {
				t.Fatalf("error %v, want %v", err, tt.wantKind)
			}
			if d := e.RetryAfter - tt.wantRetry; d < -time.Second || d > time.Second {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if strings.Contains(err.Error(), p.ClientSecret) {
				t.Error("the error shows the client secret")
			}
		})
	}
}

// TestMgmtStrict: what a careless client would get away with elsewhere is
// refused here.
func TestMgmtStrict(t *testing.T) {
	p := oidctest.New(t, oidctest.Config{})
	c := client(t, p, nil)
	if err := c.ChangePassword(t.Context(), "sam@example.test", "google-oauth2"); !errors.Is(err, management.ErrBadRequest) {
		t.Errorf("change_password for a social connection: %v, want ErrBadRequest", err)
	}
	other := client(t, p, func(c *management.Config) { c.AppClientID = "someone-else" })
	if err := other.ChangePassword(t.Context(), "alice@example.test", oidctest.DatabaseConnection); !errors.Is(err, management.ErrBadRequest) {
		t.Errorf("change_password with another client id: %v, want ErrBadRequest", err)
	}
	if _, err := c.User(t.Context(), "oidctest|nobody"); !errors.Is(err, management.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	for _, r := range p.MgmtRequests() {
		if r.Path == oidctest.ChangePasswordPath && r.Authorization != "" {
			t.Error("a token went to change_password")
		}
	}
}
