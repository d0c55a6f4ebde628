package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/oidctest"
)

// TestAttemptExpiry: a login attempt is good for 10 minutes (attemptTTL,
// RFC 9700 4.7.1). The handlers' clock (Config.Now) is moved forward between
// /login and /callback; the attempt cookie itself stays fresh, so only the
// check of the attempt's age can refuse the callback. A stale callback is a
// 400 that creates no session and does not redeem the code.
func TestAttemptExpiry(t *testing.T) {
	const base = "http://app.test"
	op := oidctest.New(t, oidctest.Config{})
	op.RegisterRedirectURI(base + "/callback")
	log := slog.New(slog.DiscardHandler)
	store := newTestStore(t, log)
	rp := auth.New(auth.Config{
		Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		RedirectURL: base + "/callback", PostLogoutURL: base + "/", Scopes: []string{"openid", "profile", "email"},
	})
	var skew atomic.Int64 // how far the handlers' clock is ahead
	srv, err := NewServer(Config{
		BaseURL: base, Secret: []byte(testSecret),
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	}, log, rp, store)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(r *http.Request) *http.Response {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Result()
	}
	noRedirects := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	tests := []struct {
		name  string
		later time.Duration
		ok    bool
	}{
		{"at once", 0, true},
		{"9 minutes later", 9 * time.Minute, true},
		{"10 minutes and 1 second later", 10*time.Minute + time.Second, false},
		{"an hour later", time.Hour, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skew.Store(0)
			sub := fmt.Sprintf("oidctest|attempt-%d", i)
			op.SetScenario(oidctest.Scenario{User: oidctest.User(sub, "Attempt User", "attempt@example.test")})

			// /login: the attempt cookie and the trip to the provider,
			// which answers with a code at once.
			login := serve(httptest.NewRequest(http.MethodGet, base+"/login", nil))
			if login.StatusCode != http.StatusSeeOther {
				t.Fatalf("GET /login = %d", login.StatusCode)
			}
			resp, err := noRedirects.Get(login.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || back.Query().Get("code") == "" {
				t.Fatalf("the provider answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}

			// The callback, after the clock moved on.
			skew.Store(int64(tt.later))
			tokenCalls := len(op.TokenRequests())
			r := httptest.NewRequest(http.MethodGet, back.String(), nil)
			for _, c := range login.Cookies() {
				r.AddCookie(c)
			}
			cb := serve(r)
			page := body(t, cb)
			var sessionCookie *http.Cookie
			for _, c := range cb.Cookies() {
				if c.Name == store.Name() && c.MaxAge >= 0 && c.Value != "" {
					sessionCookie = c
				}
			}
			sessions, err := store.Backend().DeleteSubject(t.Context(), sub)
			if err != nil {
				t.Fatal(err)
			}

			if tt.ok {
				if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile" {
					t.Fatalf("callback %v after /login = %d (Location %q), want 303 to /profile\n%s", tt.later, cb.StatusCode, cb.Header.Get("Location"), page)
				}
				if sessionCookie == nil || sessions != 1 {
					t.Errorf("callback %v after /login: session cookie %v, %d sessions stored; want one", tt.later, sessionCookie != nil, sessions)
				}
				return
			}
			if cb.StatusCode != http.StatusBadRequest {
				t.Fatalf("callback %v after /login = %d (Location %q), want 400\n%s", tt.later, cb.StatusCode, cb.Header.Get("Location"), page)
			}
			if !strings.Contains(page, "took too long") {
				t.Errorf("the error page does not say the sign-in expired:\n%s", page)
			}
			if sessionCookie != nil || sessions != 0 {
				t.Errorf("a stale callback created a session (cookie %v, %d stored)", sessionCookie != nil, sessions)
			}
			if n := len(op.TokenRequests()) - tokenCalls; n != 0 {
				t.Errorf("a stale callback redeemed the code (%d token requests)", n)
			}
		})
	}
}
