package devidp_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/loginapp/login/assets"
	"github.com/loginapp/login/internal/devidp"
)

const (
	clientID      = "login-app"
	clientSecret  = "login-app-secret"
	redirectURI   = "http://app.test/auth/callback"
	postLogoutURI = "http://app.test/signed-out"
	scopes        = "openid profile email offline_access"
	logoutEvent   = "http://schemas.openid.net/event/backchannel-logout"
)

// startOP starts a provider for the test and closes it at cleanup.
func startOP(t *testing.T, mutate func(*devidp.Config)) *devidp.Server {
	t.Helper()
	cfg := devidp.Config{
		ClientID:               clientID,
		ClientSecret:           clientSecret,
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogoutURI},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := devidp.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// appCSS is the app's stylesheet as the app itself serves it.
func appCSS(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	assets.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, assets.Path("css/app.css"), nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("the app's own handler answers %d for its stylesheet", rec.Code)
	}
	return rec.Body.String()
}

// discovery is the part of the discovery document the tests use.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JwksURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
}

func getDiscovery(t *testing.T, srv *devidp.Server) discovery {
	t.Helper()
	resp, err := http.Get(srv.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("GET discovery: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET discovery: status %d", resp.StatusCode)
	}
	var d discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("decode discovery: %v", err)
	}
	return d
}

// newBrowser returns an HTTP client with a cookie jar that follows redirects
// within the provider but stops at the app (redirect_uri and
// post_logout_redirect_uri), which does not exist in these tests.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	appHost := mustParse(t, redirectURI).Host
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == appHost {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				t.Errorf("too many redirects: %s", req.URL.Path)
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

// pkce returns a random code_verifier and its S256 code_challenge.
func pkce(t *testing.T) (verifier, challenge string) {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authRequest describes one authorization request.
type authRequest struct {
	state, nonce, challenge, method string
	// extra are more parameters (max_age, prompt...).
	extra url.Values
}

func authorizeURL(t *testing.T, d discovery, ar authRequest) string {
	t.Helper()
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"scope":         {scopes},
		"state":         {ar.state},
		"nonce":         {ar.nonce},
	}
	if ar.challenge != "" {
		q.Set("code_challenge", ar.challenge)
	}
	if ar.method != "" {
		q.Set("code_challenge_method", ar.method)
	}
	for k, v := range ar.extra {
		q[k] = v
	}
	return d.AuthorizationEndpoint + "?" + q.Encode()
}

// page is a fetched HTML page.
type page struct {
	resp *http.Response
	body string
	doc  *goquery.Document
}

func readPage(t *testing.T, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return page{resp: resp, body: string(b), doc: doc}
}

// openLoginPage starts an authorization request and returns the login page
// the browser lands on.
func openLoginPage(t *testing.T, b *http.Client, d discovery, ar authRequest) page {
	t.Helper()
	resp, err := b.Get(authorizeURL(t, d, ar))
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	p := readPage(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: status %d, body %s", resp.StatusCode, p.body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("login page: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return p
}

// submitLogin fills in and submits the single form of the login page p.
func submitLogin(t *testing.T, b *http.Client, p page, username, password string) *http.Response {
	t.Helper()
	forms := p.doc.Find("form")
	if forms.Length() != 1 {
		t.Fatalf("login page has %d forms, want 1", forms.Length())
	}
	form := forms.First()
	if m, _ := form.Attr("method"); !strings.EqualFold(m, "post") {
		t.Fatalf("form method = %q, want post", m)
	}
	action, _ := form.Attr("action")
	target := p.resp.Request.URL.ResolveReference(mustParse(t, action))
	values := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		value, _ := s.Attr("value")
		values.Set(name, value)
	})
	if len(values) == 0 {
		t.Fatal("login form has no hidden field tying it to the auth request")
	}
	values.Set("username", username)
	values.Set("password", password)
	resp, err := b.PostForm(target.String(), values)
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	return resp
}

// signIn runs the browser part of the code flow and returns the code.
func signIn(t *testing.T, b *http.Client, d discovery, ar authRequest, username, password string) string {
	t.Helper()
	resp := submitLogin(t, b, openLoginPage(t, b, d, ar), username, password)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("after login: status %d, want 302 to the app; body %s", resp.StatusCode, body)
	}
	loc := mustParse(t, resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %q, want %q", got, redirectURI)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorization error %q: %s", e, q.Get("error_description"))
	}
	if got := q.Get("state"); got != ar.state {
		t.Fatalf("state = %q, want %q", got, ar.state)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatal("no code in redirect")
	}
	return code
}

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	status           int
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	ExpiresIn        int    `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postToken posts form to the token endpoint, authenticating the client with
// client_secret_basic, or client_secret_post when post is true.
func postToken(t *testing.T, d discovery, form url.Values, post bool) tokenResponse {
	t.Helper()
	form = cloneValues(form)
	if post {
		form.Set("client_id", clientID)
		form.Set("client_secret", clientSecret)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !post {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	tr := tokenResponse{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatalf("decode token response (status %d): %v", resp.StatusCode, err)
	}
	return tr
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

func codeForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
}

// idClaims are the ID token claims the tests look at.
type idClaims struct {
	Subject       string `json:"sub"`
	SID           string `json:"sid"`
	Nonce         string `json:"nonce"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
	Picture       string `json:"picture"`
	Nickname      string `json:"nickname"`
	AuthTime      int64  `json:"auth_time"`
	IssuedAt      int64  `json:"iat"`
}

func verifyIDToken(t *testing.T, srv *devidp.Server, raw string) (*oidc.IDToken, idClaims) {
	t.Helper()
	provider, err := oidc.NewProvider(t.Context(), srv.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatalf("ID token claims: %v", err)
	}
	return tok, c
}

// keyID returns the kid of the compact JWS raw.
func keyID(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse JWS: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

func getUserinfo(t *testing.T, d discovery, accessToken string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, d.UserinfoEndpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET userinfo: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("decode userinfo: %v", err)
		}
	}
	return resp.StatusCode, m
}

func userByName(t *testing.T, srv *devidp.Server, username string) devidp.User {
	t.Helper()
	for _, u := range srv.Users() {
		if u.Username == username {
			return u
		}
	}
	t.Fatalf("no user %q", username)
	return devidp.User{}
}

// logoutRecorder is a fake relying party back-channel logout endpoint.
type logoutRecorder struct {
	status int

	mu       sync.Mutex
	requests []recordedLogout
}

type recordedLogout struct {
	method, contentType string
	form                url.Values
}

func newLogoutRecorder(t *testing.T, status int) (*logoutRecorder, *httptest.Server) {
	t.Helper()
	rec := &logoutRecorder{status: status}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := r.ParseForm()
		rec.mu.Lock()
		rec.requests = append(rec.requests, recordedLogout{method: r.Method, contentType: r.Header.Get("Content-Type"), form: r.PostForm})
		rec.mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(rec.status)
	}))
	t.Cleanup(ts.Close)
	return rec, ts
}

func (r *logoutRecorder) all() []recordedLogout {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// checkLogoutToken verifies a back-channel logout token against the OP's
// JWKS and checks its claims.
func checkLogoutToken(t *testing.T, srv *devidp.Server, d discovery, raw, wantSub, wantSID, wantKID string) {
	t.Helper()
	keys := oidc.NewRemoteKeySet(t.Context(), d.JwksURI)
	payload, err := keys.VerifySignature(t.Context(), raw)
	if err != nil {
		t.Fatalf("logout token signature does not verify against the JWKS: %v", err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse logout token: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.RS256) {
		t.Errorf("logout token alg = %q, want RS256", h.Algorithm)
	}
	if wantKID != "" && h.KeyID != wantKID {
		t.Errorf("logout token kid = %q, want the ID token's %q", h.KeyID, wantKID)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("logout token typ = %q, want logout+jwt", typ)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("logout token payload: %v", err)
	}
	if c["iss"] != srv.Issuer() {
		t.Errorf("iss = %v, want %s", c["iss"], srv.Issuer())
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud != clientID {
			t.Errorf("aud = %q, want %q", aud, clientID)
		}
	case []any:
		if !slices.Contains(aud, any(clientID)) {
			t.Errorf("aud = %v, want it to contain %q", aud, clientID)
		}
	default:
		t.Errorf("aud = %#v, want the client ID", c["aud"])
	}
	iat, ok := c["iat"].(float64)
	if !ok || time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
		t.Errorf("iat = %v, want about now", c["iat"])
	}
	if exp, ok := c["exp"].(float64); !ok || int64(exp) <= int64(iat) {
		t.Errorf("exp = %v, want after iat", c["exp"])
	}
	if jti, _ := c["jti"].(string); jti == "" {
		t.Error("jti missing")
	}
	events, ok := c["events"].(map[string]any)
	if !ok {
		t.Fatalf("events = %#v, want an object", c["events"])
	}
	if ev, ok := events[logoutEvent].(map[string]any); !ok || len(ev) != 0 {
		t.Errorf("events[%q] = %#v, want {}", logoutEvent, events[logoutEvent])
	}
	if c["sub"] != wantSub {
		t.Errorf("sub = %v, want %q", c["sub"], wantSub)
	}
	if wantSID == "" {
		if _, ok := c["sid"]; ok {
			t.Errorf("sid = %v, want none", c["sid"])
		}
	} else if c["sid"] != wantSID {
		t.Errorf("sid = %v, want %q", c["sid"], wantSID)
	}
	if _, ok := c["nonce"]; ok {
		t.Error("logout token must not contain a nonce")
	}
}

func TestDiscovery(t *testing.T) {
	srv := startOP(t, nil)
	if !strings.HasPrefix(srv.Issuer(), "http://127.0.0.1:") || strings.HasSuffix(srv.Issuer(), ":0") {
		t.Fatalf("Issuer() = %q, want http://127.0.0.1:<port>", srv.Issuer())
	}
	d := getDiscovery(t, srv)
	if d.Issuer != srv.Issuer() {
		t.Errorf("issuer = %q, want %q", d.Issuer, srv.Issuer())
	}
	for name, endpoint := range map[string]string{
		"authorization_endpoint": d.AuthorizationEndpoint,
		"token_endpoint":         d.TokenEndpoint,
		"userinfo_endpoint":      d.UserinfoEndpoint,
		"jwks_uri":               d.JwksURI,
		"end_session_endpoint":   d.EndSessionEndpoint,
		"revocation_endpoint":    d.RevocationEndpoint,
	} {
		if !strings.HasPrefix(endpoint, srv.Issuer()+"/") {
			t.Errorf("%s = %q, want an URL under the issuer", name, endpoint)
		}
	}
	contains := []struct {
		name string
		list []string
		want string
	}{
		{"code_challenge_methods_supported", d.CodeChallengeMethodsSupported, "S256"},
		{"token_endpoint_auth_methods_supported", d.TokenEndpointAuthMethodsSupported, "client_secret_basic"},
		{"token_endpoint_auth_methods_supported", d.TokenEndpointAuthMethodsSupported, "client_secret_post"},
		{"id_token_signing_alg_values_supported", d.IDTokenSigningAlgValuesSupported, "RS256"},
		{"scopes_supported", d.ScopesSupported, "offline_access"},
		{"claims_supported", d.ClaimsSupported, "sid"},
	}
	for _, c := range contains {
		if !slices.Contains(c.list, c.want) {
			t.Errorf("%s = %v, want it to contain %q", c.name, c.list, c.want)
		}
	}
	if slices.Contains(d.CodeChallengeMethodsSupported, "plain") {
		t.Errorf("code_challenge_methods_supported = %v, must not contain plain", d.CodeChallengeMethodsSupported)
	}
	if !d.BackchannelLogoutSupported || !d.BackchannelLogoutSessionSupported {
		t.Errorf("backchannel_logout_supported = %v, backchannel_logout_session_supported = %v, want both true",
			d.BackchannelLogoutSupported, d.BackchannelLogoutSessionSupported)
	}

	resp, err := http.Get(d.JwksURI)
	if err != nil {
		t.Fatalf("GET jwks: %v", err)
	}
	defer resp.Body.Close()
	var jwks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	if len(jwks.Keys) != 1 || jwks.Keys[0].KeyID == "" || jwks.Keys[0].Algorithm != "RS256" || !jwks.Keys[0].IsPublic() {
		t.Fatalf("JWKS = %+v, want one public RS256 key with a kid", jwks.Keys)
	}
}

// TestAuthorizationCodeFlow runs the full flow a relying party does, for
// every demo user: PKCE S256, a wrong and a right password, the code
// exchange, ID token verification, userinfo, refresh and end_session with
// back-channel logout.
func TestAuthorizationCodeFlow(t *testing.T) {
	tests := []struct {
		username, password string
		wantPicture        bool
		wantEmailVerified  bool
	}{
		{"alice", "alice-password", true, true},
		{"bob", "bob-password", false, true},
		{"maria", "maria-password", false, false},
		{"sam", "sam-password", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.username, func(t *testing.T) {
			rec, rp := newLogoutRecorder(t, http.StatusOK)
			srv := startOP(t, func(c *devidp.Config) { c.BackchannelLogoutURI = rp.URL + "/backchannel-logout" })
			d := getDiscovery(t, srv)
			user := userByName(t, srv, tt.username)
			b := newBrowser(t)
			verifier, challenge := pkce(t)
			ar := authRequest{state: "state-" + tt.username, nonce: "nonce-" + tt.username, challenge: challenge, method: "S256"}

			// Wrong password: 401, the error is shown and the form is back.
			loginPage := openLoginPage(t, b, d, ar)
			bad := readPage(t, submitLogin(t, b, loginPage, tt.username, "not-the-password"))
			if bad.resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: status %d, want 401", bad.resp.StatusCode)
			}
			if got := strings.TrimSpace(bad.doc.Find("[role=alert]").Text()); got != "Wrong username or password" {
				t.Errorf("wrong password: error text %q", got)
			}
			if bad.doc.Find("input[name=password]").Length() != 1 {
				t.Error("wrong password: form not shown again")
			}
			if v, _ := bad.doc.Find("input[name=username]").Attr("value"); v != tt.username {
				t.Errorf("wrong password: username field = %q, want it kept", v)
			}

			// Right password: back to the app with a code and the state.
			resp := submitLogin(t, b, bad, tt.username, tt.password)
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("right password: status %d, want 302 to the app", resp.StatusCode)
			}
			loc := mustParse(t, resp.Header.Get("Location"))
			if loc.Query().Get("state") != ar.state {
				t.Fatalf("state = %q, want %q", loc.Query().Get("state"), ar.state)
			}
			code := loc.Query().Get("code")
			if code == "" {
				t.Fatalf("no code in %s", loc.Redacted())
			}

			// A wrong code_verifier is rejected.
			wrongVerifier, _ := pkce(t)
			if tr := postToken(t, d, codeForm(code, wrongVerifier), false); tr.status != http.StatusBadRequest || tr.Error != "invalid_grant" || tr.IDToken != "" {
				t.Fatalf("wrong code_verifier: status %d, error %q; want 400 invalid_grant", tr.status, tr.Error)
			}
			// A missing one too.
			if tr := postToken(t, d, codeForm(code, ""), false); tr.status != http.StatusBadRequest || tr.IDToken != "" {
				t.Fatalf("missing code_verifier: status %d, error %q; want 400", tr.status, tr.Error)
			}

			// The right one works, with client_secret_basic.
			tr := postToken(t, d, codeForm(code, verifier), false)
			if tr.status != http.StatusOK {
				t.Fatalf("code exchange: status %d, error %q: %s", tr.status, tr.Error, tr.ErrorDescription)
			}
			if tr.AccessToken == "" || tr.IDToken == "" || tr.RefreshToken == "" || !strings.EqualFold(tr.TokenType, "bearer") || tr.ExpiresIn <= 0 {
				t.Fatalf("code exchange: incomplete response %+v", tr)
			}
			// The code is single-use.
			if again := postToken(t, d, codeForm(code, verifier), false); again.status != http.StatusBadRequest || again.Error != "invalid_grant" {
				t.Errorf("code replay: status %d, error %q; want 400 invalid_grant", again.status, again.Error)
			}

			idTok, claims := verifyIDToken(t, srv, tr.IDToken)
			if idTok.Subject != user.Subject {
				t.Errorf("sub = %q, want %q", idTok.Subject, user.Subject)
			}
			if idTok.Nonce != ar.nonce {
				t.Errorf("nonce = %q, want %q", idTok.Nonce, ar.nonce)
			}
			if claims.SID == "" {
				t.Error("ID token has no sid")
			}
			if claims.Name != user.Name || claims.Email != user.Email {
				t.Errorf("ID token name, email = %q, %q; want %q, %q", claims.Name, claims.Email, user.Name, user.Email)
			}
			if claims.EmailVerified == nil || *claims.EmailVerified != tt.wantEmailVerified {
				t.Errorf("ID token email_verified = %v, want %v", claims.EmailVerified, tt.wantEmailVerified)
			}
			kid := keyID(t, tr.IDToken)

			// Userinfo with the access token.
			status, info := getUserinfo(t, d, tr.AccessToken)
			if status != http.StatusOK {
				t.Fatalf("userinfo: status %d", status)
			}
			wantInfo := map[string]any{
				"sub":            user.Subject,
				"name":           user.Name,
				"given_name":     user.GivenName,
				"family_name":    user.FamilyName,
				"nickname":       user.Nickname,
				"email":          user.Email,
				"email_verified": tt.wantEmailVerified,
				"locale":         user.Locale,
			}
			for k, want := range wantInfo {
				if info[k] != want {
					t.Errorf("userinfo %s = %#v, want %#v", k, info[k], want)
				}
			}
			if updated, ok := info["updated_at"].(float64); !ok || updated <= 0 {
				t.Errorf("userinfo updated_at = %#v, want a timestamp", info["updated_at"])
			}
			picture, hasPicture := info["picture"]
			if hasPicture != tt.wantPicture {
				t.Errorf("userinfo has picture = %v, want %v", hasPicture, tt.wantPicture)
			}
			if tt.wantPicture && (picture != user.Picture || !strings.HasPrefix(user.Picture, srv.Issuer()+"/")) {
				t.Errorf("userinfo picture = %v, want %q under the issuer", picture, user.Picture)
			}

			// Refresh: a new ID token for the same user and session, and a
			// rotated refresh token.
			refresh := postToken(t, d, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, false)
			if refresh.status != http.StatusOK {
				t.Fatalf("refresh: status %d, error %q: %s", refresh.status, refresh.Error, refresh.ErrorDescription)
			}
			if refresh.IDToken == "" || refresh.AccessToken == "" || refresh.RefreshToken == "" || refresh.RefreshToken == tr.RefreshToken {
				t.Fatalf("refresh: incomplete response %+v", refresh)
			}
			refreshed, refreshedClaims := verifyIDToken(t, srv, refresh.IDToken)
			if refreshed.Subject != user.Subject || refreshedClaims.SID != claims.SID {
				t.Errorf("refreshed ID token sub, sid = %q, %q; want %q, %q", refreshed.Subject, refreshedClaims.SID, user.Subject, claims.SID)
			}
			if status, _ := getUserinfo(t, d, refresh.AccessToken); status != http.StatusOK {
				t.Errorf("userinfo with refreshed access token: status %d", status)
			}
			if old := postToken(t, d, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, false); old.status == http.StatusOK {
				t.Error("the rotated-out refresh token still works")
			}

			// end_session: redirect to the registered URI with the state,
			// and a back-channel logout for the user and session.
			endURL := d.EndSessionEndpoint + "?" + url.Values{
				"id_token_hint":            {tr.IDToken},
				"post_logout_redirect_uri": {postLogoutURI},
				"state":                    {"bye"},
			}.Encode()
			resp, err := b.Get(endURL)
			if err != nil {
				t.Fatalf("GET end_session: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("end_session: status %d, want 302", resp.StatusCode)
			}
			if got, want := resp.Header.Get("Location"), postLogoutURI+"?state=bye"; got != want {
				t.Errorf("end_session redirected to %q, want %q", got, want)
			}
			logouts := rec.all()
			if len(logouts) != 1 {
				t.Fatalf("back-channel logouts after end_session = %d, want 1", len(logouts))
			}
			if logouts[0].method != http.MethodPost || !strings.HasPrefix(logouts[0].contentType, "application/x-www-form-urlencoded") {
				t.Errorf("back-channel logout: %s %q, want a form POST", logouts[0].method, logouts[0].contentType)
			}
			checkLogoutToken(t, srv, d, logouts[0].form.Get("logout_token"), user.Subject, claims.SID, kid)

			// The session's tokens are gone.
			if r := postToken(t, d, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.RefreshToken}}, false); r.status == http.StatusOK {
				t.Error("refresh token still works after end_session")
			}
			if status, _ := getUserinfo(t, d, refresh.AccessToken); status == http.StatusOK {
				t.Error("access token still works after end_session")
			}

			// No SSO: the next authorization shows the login form again.
			next := openLoginPage(t, b, d, authRequest{state: "again", nonce: "again", challenge: challenge, method: "S256"})
			if next.doc.Find("input[name=password]").Length() != 1 {
				t.Error("after end_session, authorize did not show the login form")
			}
		})
	}
}

func TestClientSecretPost(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	verifier, challenge := pkce(t)
	code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, "alice", "alice-password")
	tr := postToken(t, d, codeForm(code, verifier), true)
	if tr.status != http.StatusOK || tr.IDToken == "" {
		t.Fatalf("code exchange with client_secret_post: status %d, error %q: %s", tr.status, tr.Error, tr.ErrorDescription)
	}
	if _, c := verifyIDToken(t, srv, tr.IDToken); c.Nonce != "n" || c.SID == "" {
		t.Errorf("nonce, sid = %q, %q", c.Nonce, c.SID)
	}
}

func TestTokenEndpointRejectsBadClientSecret(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	verifier, challenge := pkce(t)
	code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, "bob", "bob-password")
	form := codeForm(code, verifier)
	form.Set("client_id", clientID)
	form.Set("client_secret", "wrong")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: status %d, want 401", resp.StatusCode)
	}
	// The code was not consumed by the failed attempt.
	if tr := postToken(t, d, codeForm(code, verifier), false); tr.status != http.StatusOK {
		t.Fatalf("code exchange after a failed client authentication: status %d, error %q", tr.status, tr.Error)
	}
}

func TestWithoutPKCE(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n"}, "bob", "bob-password")
	if tr := postToken(t, d, codeForm(code, "unexpected-verifier"), false); tr.status == http.StatusOK {
		t.Error("a code_verifier was accepted for a request without code_challenge")
	}
	if tr := postToken(t, d, codeForm(code, ""), false); tr.status != http.StatusOK {
		t.Fatalf("code exchange without PKCE: status %d, error %q: %s", tr.status, tr.Error, tr.ErrorDescription)
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	verifier, challenge := pkce(t)
	b := newBrowser(t)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid profile email"},
		"state":                 {"s"},
		"nonce":                 {"n"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	resp, err := b.Get(d.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp = submitLogin(t, b, readPage(t, resp), "alice", "alice-password")
	resp.Body.Close()
	code := mustParse(t, resp.Header.Get("Location")).Query().Get("code")
	tr := postToken(t, d, codeForm(code, verifier), false)
	if tr.status != http.StatusOK || tr.IDToken == "" {
		t.Fatalf("code exchange: status %d, error %q", tr.status, tr.Error)
	}
	if tr.RefreshToken != "" {
		t.Error("got a refresh token without offline_access")
	}
}

func TestAuthorizeRejectsBadRequests(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	_, challenge := pkce(t)
	tests := []struct {
		name      string
		mutate    func(url.Values)
		wantError string // error redirected to the app; "" = an error page at the OP
	}{
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge", challenge); q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"PKCE without method", func(q url.Values) { q.Set("code_challenge", challenge); q.Del("code_challenge_method") }, "invalid_request"},
		{"prompt none", func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "http://app.test/other") }, ""},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{
				"response_type":         {"code"},
				"client_id":             {clientID},
				"redirect_uri":          {redirectURI},
				"scope":                 {scopes},
				"state":                 {"st"},
				"code_challenge":        {challenge},
				"code_challenge_method": {"S256"},
			}
			tt.mutate(q)
			resp, err := newBrowser(t).Get(d.AuthorizationEndpoint + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.wantError == "" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 at the OP", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302 to the app", resp.StatusCode)
			}
			got := mustParse(t, resp.Header.Get("Location")).Query()
			if got.Get("error") != tt.wantError || got.Get("state") != "st" {
				t.Errorf("redirect error %q, state %q; want %q, st", got.Get("error"), got.Get("state"), tt.wantError)
			}
		})
	}
}

func TestLoginPageMarkup(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	_, challenge := pkce(t)
	b := newBrowser(t)
	p := openLoginPage(t, b, d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"})
	badPage := readPage(t, submitLogin(t, b, p, "alice", "nope"))

	for name, pg := range map[string]page{"login": p, "login with error": badPage} {
		t.Run(name, func(t *testing.T) {
			body := strings.ToLower(pg.body)
			if !strings.HasPrefix(body, "<!doctype html>") {
				t.Error("page does not start with <!doctype html>")
			}
			if lang, _ := pg.doc.Find("html").Attr("lang"); lang != "en" {
				t.Errorf(`html lang = %q, want "en"`, lang)
			}
			if title := strings.TrimSpace(pg.doc.Find("head title").Text()); title == "" {
				t.Error("page has no title")
			}
			if n := pg.doc.Find("script").Length(); n != 0 {
				t.Errorf("page has %d script elements", n)
			}
			if n := pg.doc.Find("style").Length(); n != 0 {
				t.Errorf("page has %d style elements", n)
			}
			if n := pg.doc.Find("[style]").Length(); n != 0 {
				t.Errorf("page has %d style attributes", n)
			}
			if pg.doc.Find("[onclick],[onload],[onsubmit],[oninput],[onchange],[onfocus],[onblur]").Length() != 0 {
				t.Error("page has inline event handlers")
			}
			if csp := pg.resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			if n := pg.doc.Find("button[type=submit], input[type=submit], button:not([type])").Length(); n != 1 {
				t.Errorf("page has %d submit buttons, want 1", n)
			}
			for _, f := range []struct{ name, autocomplete string }{{"username", "username"}, {"password", "current-password"}} {
				in := pg.doc.Find("form input[name=" + f.name + "]")
				if in.Length() != 1 {
					t.Fatalf("%d inputs named %s, want 1", in.Length(), f.name)
				}
				id, _ := in.Attr("id")
				if id == "" || pg.doc.Find("label[for="+id+"]").Length() != 1 {
					t.Errorf("input %s has no <label for>", f.name)
				}
				if ac, _ := in.Attr("autocomplete"); ac != f.autocomplete {
					t.Errorf("input %s autocomplete = %q, want %q", f.name, ac, f.autocomplete)
				}
			}
			if pg.doc.Find("form input[type=hidden][name=authRequestID]").Length() != 1 {
				t.Error("form has no authRequestID hidden field")
			}
			if !strings.Contains(pg.doc.Find("body").Text(), "alice-password") {
				t.Error("demo account hints missing")
			}
			if pg.doc.Find("a.skip-link[href='#main']").Length() != 1 || pg.doc.Find("main#main > section.card").Length() != 1 {
				t.Error("page lacks the app's skip link or its card in main#main")
			}
			var stylesheets []string
			pg.doc.Find(`link[rel=stylesheet]`).Each(func(_ int, s *goquery.Selection) {
				href, _ := s.Attr("href")
				stylesheets = append(stylesheets, href)
			})
			// The app's own stylesheet first, then the provider's additions.
			if len(stylesheets) != 2 || stylesheets[0] != assets.Path("css/app.css") {
				t.Fatalf("stylesheets = %v, want [%s, the provider's]", stylesheets, assets.Path("css/app.css"))
			}
			for _, href := range stylesheets {
				css := pg.resp.Request.URL.ResolveReference(mustParse(t, href))
				if css.Host != mustParse(t, srv.Issuer()).Host {
					t.Errorf("stylesheet %s is not served by the OP", css)
				}
				resp, err := http.Get(css.String())
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
					t.Errorf("GET %s: status %d, Content-Type %q", css, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if href == stylesheets[0] && string(body) != appCSS(t) {
					t.Errorf("GET %s is not the app's stylesheet", css)
				}
			}
		})
	}
	if got := strings.TrimSpace(badPage.doc.Find("[role=alert]").Text()); got != "Wrong username or password" {
		t.Errorf("error message = %q", got)
	}
}

func TestLoginPageEscapesAndRejectsUnknownRequests(t *testing.T) {
	srv := startOP(t, func(c *devidp.Config) {
		c.Users = []devidp.User{{Username: `<script>alert(1)</script>`, Password: "pw", Subject: "x", Name: `"><b>bold</b>`}}
	})
	d := getDiscovery(t, srv)
	_, challenge := pkce(t)
	p := openLoginPage(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"})
	if p.doc.Find("script").Length() != 0 || p.doc.Find("b").Length() != 0 {
		t.Error("user data is not escaped")
	}
	if !strings.Contains(p.doc.Find("body").Text(), "<script>alert(1)</script>") {
		t.Error("escaped username not shown")
	}

	for _, target := range []string{"/login?authRequestID=nope", "/login"} {
		resp, err := http.Get(srv.Issuer() + target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", target, resp.StatusCode)
		}
	}
	resp, err := http.PostForm(srv.Issuer()+"/login", url.Values{"authRequestID": {"nope"}, "username": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /login with an unknown request: status %d, want 400", resp.StatusCode)
	}
}

func TestSendBackchannelLogout(t *testing.T) {
	rec, rp := newLogoutRecorder(t, http.StatusOK)
	srv := startOP(t, func(c *devidp.Config) { c.BackchannelLogoutURI = rp.URL + "/bcl" })
	d := getDiscovery(t, srv)

	// Get an ID token to compare the kid with.
	verifier, challenge := pkce(t)
	code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, "alice", "alice-password")
	tr := postToken(t, d, codeForm(code, verifier), false)
	if tr.status != http.StatusOK {
		t.Fatalf("code exchange: status %d", tr.status)
	}
	kid := keyID(t, tr.IDToken)

	tests := []struct{ sub, sid string }{
		{"devidp|alice", "session-1"},
		{"devidp|bob", ""},
	}
	for i, tt := range tests {
		if err := srv.SendBackchannelLogout(t.Context(), tt.sub, tt.sid); err != nil {
			t.Fatalf("SendBackchannelLogout(%q, %q): %v", tt.sub, tt.sid, err)
		}
		got := rec.all()
		if len(got) != i+1 {
			t.Fatalf("RP received %d requests, want %d", len(got), i+1)
		}
		r := got[i]
		if r.method != http.MethodPost || !strings.HasPrefix(r.contentType, "application/x-www-form-urlencoded") {
			t.Errorf("request %s %q, want a form POST", r.method, r.contentType)
		}
		checkLogoutToken(t, srv, d, r.form.Get("logout_token"), tt.sub, tt.sid, kid)
	}
}

func TestSendBackchannelLogoutErrors(t *testing.T) {
	_, failing := newLogoutRecorder(t, http.StatusInternalServerError)
	tests := []struct {
		name string
		uri  string
		sub  string
	}{
		{"URI unset", "", "devidp|alice"},
		{"RP answers 500", failing.URL, "devidp|alice"},
		{"neither sub nor sid", failing.URL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startOP(t, func(c *devidp.Config) { c.BackchannelLogoutURI = tt.uri })
			if err := srv.SendBackchannelLogout(t.Context(), tt.sub, ""); err == nil {
				t.Fatal("SendBackchannelLogout succeeded, want an error")
			}
		})
	}
}

func TestEndSession(t *testing.T) {
	rec, rp := newLogoutRecorder(t, http.StatusOK)
	srv := startOP(t, func(c *devidp.Config) { c.BackchannelLogoutURI = rp.URL })
	d := getDiscovery(t, srv)
	other := startOP(t, nil) // a provider with another signing key
	od := getDiscovery(t, other)

	token := func(t *testing.T, d discovery) string {
		t.Helper()
		verifier, challenge := pkce(t)
		code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, "bob", "bob-password")
		tr := postToken(t, d, codeForm(code, verifier), false)
		if tr.status != http.StatusOK {
			t.Fatalf("code exchange: status %d", tr.status)
		}
		return tr.IDToken
	}

	tests := []struct {
		name            string
		params          url.Values
		wantStatus      int
		wantLocation    string // prefix; "" = not checked
		wantBackchannel bool
	}{
		{
			name:            "hint and registered redirect",
			params:          url.Values{"id_token_hint": {token(t, d)}, "post_logout_redirect_uri": {postLogoutURI}},
			wantStatus:      http.StatusFound,
			wantLocation:    postLogoutURI,
			wantBackchannel: true,
		},
		{
			name:       "unregistered redirect",
			params:     url.Values{"id_token_hint": {token(t, d)}, "post_logout_redirect_uri": {"http://evil.test/"}},
			wantStatus: http.StatusBadRequest,
		},
		{
			name:         "client_id without hint",
			params:       url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"x"}},
			wantStatus:   http.StatusFound,
			wantLocation: postLogoutURI + "?state=x",
		},
		{
			name:         "hint from another provider is ignored",
			params:       url.Values{"id_token_hint": {token(t, od)}, "post_logout_redirect_uri": {postLogoutURI}},
			wantStatus:   http.StatusFound,
			wantLocation: postLogoutURI,
		},
		{
			name:         "no parameters",
			params:       url.Values{},
			wantStatus:   http.StatusFound,
			wantLocation: "/logged-out",
		},
	}
	noRedirects := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			resp, err := noRedirects.Get(d.EndSessionEndpoint + "?" + tt.params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if loc := resp.Header.Get("Location"); tt.wantLocation != "" && !strings.HasPrefix(loc, tt.wantLocation) {
				t.Errorf("Location = %q, want prefix %q", loc, tt.wantLocation)
			}
			if got := len(rec.all()) - before; (got == 1) != tt.wantBackchannel || got > 1 {
				t.Errorf("back-channel logouts = %d, want %v", got, tt.wantBackchannel)
			}
		})
	}

	resp, err := http.Get(srv.Issuer() + "/logged-out")
	if err != nil {
		t.Fatal(err)
	}
	p := readPage(t, resp)
	if resp.StatusCode != http.StatusOK || p.doc.Find("h1").Length() != 1 {
		t.Errorf("GET /logged-out: status %d", resp.StatusCode)
	}
}

func TestUsersAndAvatar(t *testing.T) {
	srv := startOP(t, nil)
	users := srv.Users()
	if len(users) < 4 {
		t.Fatalf("Users() has %d users, want the 4 demo users", len(users))
	}
	if sam := userByName(t, srv, "sam"); sam.Connection != "google-oauth2" || !strings.HasPrefix(sam.Subject, "google-oauth2|") || sam.Picture != srv.Issuer()+"/avatars/sam.svg" {
		t.Errorf("sam = %+v, want the social demo user with a picture", sam)
	}
	alice := userByName(t, srv, "alice")
	if want := srv.Issuer() + "/avatars/alice.svg"; alice.Picture != want {
		t.Errorf("alice.Picture = %q, want %q", alice.Picture, want)
	}
	if bob := userByName(t, srv, "bob"); bob.Picture != "" {
		t.Errorf("bob.Picture = %q, want empty", bob.Picture)
	}
	maria := userByName(t, srv, "maria")
	if maria.EmailVerified || len([]rune(maria.Name)) < 40 {
		t.Errorf("maria = %+v, want a long name and an unverified email", maria)
	}
	users[0].Name = "changed"
	if srv.Users()[0].Name == "changed" {
		t.Error("Users() returns the server's slice, not a copy")
	}
	if demo := devidp.DemoUsers(); demo[0].Picture == alice.Picture {
		t.Error("Start modified the DemoUsers() result")
	}

	resp, err := http.Get(alice.Picture)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(body), "<svg") {
		t.Errorf("GET %s: status %d, Content-Type %q", alice.Picture, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/avatars/nobody.svg", "/static/../templates/pages.html", "/static/nope.css"} {
		resp, err := http.Get(srv.Issuer() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestStartValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  devidp.Config
	}{
		{"no client ID", devidp.Config{ClientSecret: "s"}},
		{"no client secret", devidp.Config{ClientID: "c"}},
		{"bad back-channel URI", devidp.Config{ClientID: "c", ClientSecret: "s", BackchannelLogoutURI: "/relative"}},
		{"duplicate username", devidp.Config{ClientID: "c", ClientSecret: "s", Users: []devidp.User{{Username: "a", Subject: "1"}, {Username: "a", Subject: "2"}}}},
		{"user without subject", devidp.Config{ClientID: "c", ClientSecret: "s", Users: []devidp.User{{Username: "a"}}}},
		{"bad address", devidp.Config{ClientID: "c", ClientSecret: "s", Addr: "256.0.0.1:http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := devidp.Start(t.Context(), tt.cfg)
			if err == nil {
				_ = srv.Close()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestCloseStopsServing(t *testing.T) {
	srv, err := devidp.Start(context.Background(), devidp.Config{ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(srv.Issuer() + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Close")
	}
}
