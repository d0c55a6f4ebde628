package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/session"
)

const testSecret = "test-secret-test-secret-test-secret-1234"

// deadIssuer is a loopback URL where nothing listens, so the provider is
// "down" for these handler tests; the real provider flows are tested over
// HTTP in cmd/server.
func deadIssuer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

type fixture struct {
	srv   *Server
	store *session.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureTB(t, slog.New(slog.DiscardHandler))
}

// newTestStore is a session store on a bbolt file in a temporary directory.
func newTestStore(t testing.TB, log *slog.Logger) *session.Store {
	t.Helper()
	backend, err := session.OpenBolt(t.TempDir(), session.BoltOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	store, err := session.NewStore(backend, []byte(testSecret), session.Options{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func newFixtureTB(t testing.TB, log *slog.Logger) *fixture {
	t.Helper()
	return newFixtureWith(t, log, func(*Config) {})
}

// newFixtureWith is a fixture whose handler configuration edit changes.
func newFixtureWith(t testing.TB, log *slog.Logger, edit func(*Config)) *fixture {
	t.Helper()
	store := newTestStore(t, log)
	issuer := deadIssuer(t)
	rp := auth.New(auth.Config{Issuer: issuer, ClientID: "c", ClientSecret: "s", RedirectURL: "http://app.test/callback", PostLogoutURL: "http://app.test/", Scopes: []string{"openid"}})
	cfg := Config{BaseURL: "http://app.test", Secret: []byte(testSecret), AccessLog: io.Discard}
	edit(&cfg)
	srv, err := NewServer(cfg, log, rp, store)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, store: store}
}

// login stores a session for userinfo and returns its cookie.
func (f *fixture) login(t testing.TB, userinfo []byte, idToken string) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "http://app.test/callback", nil)
	var claims struct {
		Sub string `json:"sub"`
	}
	json.Unmarshal(userinfo, &claims)
	rec := &session.Record{Subject: claims.Sub, UserInfo: userinfo, IDToken: idToken, TokenExpiry: time.Now().Add(time.Hour)}
	if err := f.store.Login(w, r, rec); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Login set %d cookies, want 1", len(cookies))
	}
	return cookies[0]
}

func (f *fixture) do(t *testing.T, method, target string, cookie *http.Cookie, headers ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func doc(t *testing.T, s string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func largeUserinfo(t testing.TB) []byte {
	t.Helper()
	// A copy of shared/fixtures/auth0-userinfo-large.json: a real Auth0
	// profile with 3 KB of metadata and HTML in a claim.
	b, err := os.ReadFile("testdata/auth0-userinfo-large.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnonymous(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		method     string
		target     string
		headers    []string
		wantStatus int
		wantHeader [2]string
	}{
		{"index shows login card", "GET", "/", nil, 200, [2]string{}},
		{"profile redirects to login and back", "GET", "/profile", nil, 303, [2]string{"Location", "/login?returnTo=%2Fprofile"}},
		{"details page is 401", "GET", "/profile/userinfo", nil, 401, [2]string{}},
		{"details for htmx: 401 + HX-Redirect", "GET", "/profile/userinfo", []string{"HX-Request", "true"}, 401, [2]string{"HX-Redirect", "/login?returnTo=%2Fprofile"}},
		{"profile for htmx: 401 + HX-Redirect", "GET", "/profile", []string{"HX-Request", "true"}, 401, [2]string{"HX-Redirect", "/login?returnTo=%2Fprofile"}},
		{"login while provider down is 503", "GET", "/login", nil, 503, [2]string{}},
		{"readyz while provider down is 503", "GET", "/readyz", nil, 503, [2]string{}},
		{"healthz", "GET", "/healthz", nil, 200, [2]string{}},
		{"logout page", "GET", "/logout", nil, 200, [2]string{}},
		{"unknown page", "GET", "/nope", nil, 404, [2]string{}},
		{"wrong method", "DELETE", "/profile", nil, 405, [2]string{}},
		{"cross-site logout refused", "POST", "/logout", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403, [2]string{}},
		{"callback without state", "GET", "/callback?code=x", nil, 400, [2]string{}},
		{"callback with unknown state", "GET", "/callback?code=x&state=y", nil, 400, [2]string{}},
		{"callback with repeated state", "GET", "/callback?code=x&state=y&state=z", nil, 400, [2]string{}},
		{"unknown asset", "GET", "/assets/css/app.css", nil, 404, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, tt.method, tt.target, nil, tt.headers...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s = %d, want %d\n%s", tt.method, tt.target, resp.StatusCode, tt.wantStatus, body(t, resp))
			}
			if h := tt.wantHeader; h[0] != "" && resp.Header.Get(h[0]) != h[1] {
				t.Errorf("%s = %q, want %q", h[0], resp.Header.Get(h[0]), h[1])
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && resp.StatusCode >= 400 {
				b := body(t, resp)
				d := doc(t, b)
				if d.Find(`[data-testid="error-card"]`).Length() != 1 && d.Find("body").Length() > 0 {
					t.Errorf("a %d without the error page", resp.StatusCode)
				}
				if id := resp.Header.Get("X-Request-Id"); d.Find("body").Length() > 0 && !strings.Contains(b, id) {
					t.Errorf("error page does not show the request id %q", id)
				}
			}
		})
	}
}

func TestLoggedIn(t *testing.T) {
	f := newFixture(t)
	info := largeUserinfo(t)
	idToken := strings.Repeat("x", 2048)
	cookie := f.login(t, info, idToken)
	if len(cookie.String()) > 300 {
		t.Errorf("session cookie is %d bytes with a large profile; the claims must stay on the server", len(cookie.String()))
	}

	resp := f.do(t, "GET", "/profile", cookie)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /profile = %d", resp.StatusCode)
	}
	d := doc(t, body(t, resp))
	if got := d.Find(`[data-testid="profile-name"]`).Text(); got != "Grace Brewster Murray Hopper" {
		t.Errorf("name = %q", got)
	}
	if got := d.Find(`[data-testid="avatar-initials"]`).Text(); got != "GH" {
		t.Errorf("initials = %q", got)
	}
	if d.Find(`[data-testid="email-verified"]`).Length() != 1 {
		t.Error("no verified mark")
	}

	// The index shows the profile card too.
	d = doc(t, body(t, f.do(t, "GET", "/", cookie)))
	if d.Find(`[data-testid="profile-card"]`).Length() != 1 {
		t.Error("logged-in index has no profile card")
	}

	// Details for htmx: the section with 2-space JSON, escaped.
	resp = f.do(t, "GET", "/profile/userinfo", cookie, "HX-Request", "true")
	b := body(t, resp)
	if resp.StatusCode != 200 || strings.Contains(b, "<html") {
		t.Fatalf("htmx details = %d, whole page: %v", resp.StatusCode, strings.Contains(b, "<html"))
	}
	if strings.Contains(b, "<b>") || strings.Contains(b, "<script") {
		t.Errorf("HTML in claims was not escaped")
	}
	pre := doc(t, b).Find("pre").Text()
	var want bytes.Buffer
	json.Indent(&want, info, "", "  ")
	if pre != strings.TrimSpace(want.String()) {
		t.Errorf("details are not the userinfo indented with 2 spaces")
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("details Cache-Control = %q", cc)
	}

	// Logout: 303, cookie cleared, record gone.
	resp = f.do(t, "POST", "/logout", cookie, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != 303 {
		t.Fatalf("POST /logout = %d", resp.StatusCode)
	}
	cleared := false
	for _, c := range resp.Cookies() {
		if c.Name == "session" && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("logout did not clear the cookie")
	}
	if resp := f.do(t, "GET", "/profile", cookie); resp.StatusCode != 303 {
		t.Errorf("old cookie after logout: GET /profile = %d, want 303", resp.StatusCode)
	}
}

func TestCrossSiteLogoutKeepsSession(t *testing.T) {
	f := newFixture(t)
	cookie := f.login(t, []byte(`{"sub":"u1","name":"U"}`), "id")
	resp := f.do(t, "POST", "/logout", cookie, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site POST /logout = %d, want 403", resp.StatusCode)
	}
	if resp := f.do(t, "GET", "/profile", cookie); resp.StatusCode != 200 {
		t.Errorf("session gone after a refused cross-site logout: %d", resp.StatusCode)
	}
}

func TestAssetsFingerprinted(t *testing.T) {
	f := newFixture(t)
	d := doc(t, body(t, f.do(t, "GET", "/", nil)))
	href, _ := d.Find(`link[rel="stylesheet"]`).Attr("href")
	if !strings.HasPrefix(href, "/assets/css/app.") || href == "/assets/css/app.css" {
		t.Fatalf("stylesheet href %q is not fingerprinted", href)
	}
	resp := f.do(t, "GET", href, nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s = %d, Cache-Control %q", href, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestProfileView(t *testing.T) {
	tests := []struct {
		info         string
		name, inits  string
		picture      string
		verified     bool
		verifiedKnow bool
	}{
		{`{"sub":"1","name":"Ada Lovelace","picture":"https://x/y.png","email_verified":true}`, "Ada Lovelace", "AL", "https://x/y.png", true, true},
		{`{"sub":"1","given_name":"María-José","family_name":"Carreño","email_verified":"false"}`, "María-José Carreño", "MC", "", false, true},
		{`{"sub":"1","email":"bob@example.com","picture":"javascript:alert(1)"}`, "bob@example.com", "B", "", false, false},
		{`{"sub":"auth0|123"}`, "auth0|123", "A", "", false, false},
		{`{"sub":"1","name":"   "}`, "1", "1", "", false, false},
	}
	for _, tt := range tests {
		p := profileView([]byte(tt.info))
		if p.Name != tt.name || p.Initials != tt.inits || p.Picture != tt.picture || p.EmailVerified != tt.verified || p.EmailVerifiedKnown != tt.verifiedKnow {
			t.Errorf("profileView(%s) = %+v", tt.info, p)
		}
	}
}
