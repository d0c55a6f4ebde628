package auth_test

// Helpers for the tests that drive the relying party against oidctest, the
// hostile test provider, through the RP's exported methods only.

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/oidctest"
)

const testRedirect = "http://app.test/callback"

// newTestRP returns a relying party registered at p with these scopes.
func newTestRP(t *testing.T, p *oidctest.Provider, scopes ...string) *auth.RP {
	t.Helper()
	p.RegisterRedirectURI(testRedirect)
	return auth.New(auth.Config{
		Issuer:        p.Issuer,
		ClientID:      p.ClientID,
		ClientSecret:  p.ClientSecret,
		RedirectURL:   testRedirect,
		PostLogoutURL: "http://app.test/",
		Scopes:        scopes,
		HTTPClient:    auth.NewHTTPClient(5 * time.Second),
	})
}

// testLogin runs one login with the provider's current scenario: a new
// attempt, the authorization request (the provider redirects back at once),
// then Finish with the callback it sent.
func testLogin(t *testing.T, rp *auth.RP) (*auth.Login, error) {
	t.Helper()
	a := rp.NewAttempt("")
	target, err := rp.AuthCodeURL(t.Context(), a)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(target)
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("authorization request answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cb, err := auth.ParseCallback(back.Query())
	if err != nil {
		t.Fatalf("ParseCallback: %v", err)
	}
	return rp.Finish(t.Context(), a, cb)
}
