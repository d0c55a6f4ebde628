// Package oidctest is a hostile OpenID Provider for tests: a real HTTP
// server (httptest) that signs with go-jose and, for each login, misbehaves
// the way a Scenario says. It records what the relying party sent (the
// authorization request, the client authentication, the PKCE verifier, the
// userinfo bearer header) so that tests check the requests as well as the
// outcome.
//
// The authorization endpoint shows no login form: it redirects straight back
// to the registered redirect_uri with a code, so a plain HTTP client drives
// the whole flow. It is strict where the app's contract is: an authorization
// request without response_type=code, openid, state, nonce or an S256
// code_challenge, or a token request without client_secret_basic, the right
// redirect_uri and the matching code_verifier, is refused as a careful
// provider would.
//
// It also serves the Auth0 Management API subset the app uses (users,
// the verification-email job, change_password; management.go) with the
// same habits: strict checks, recorded requests, and an MgmtScenario for
// hostile answers.
//
// A login whose scope contains offline_access also gets a refresh token; the
// token endpoint redeems it (grant_type=refresh_token, client_secret_basic)
// for a new access token, a new ID token (Core 12.2) and a new refresh token.
// The old refresh token stops working (rotation, RFC 9700 4.14.2).
//
// Only tests import this package. It never logs tokens, codes or secrets.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The provider's endpoints. They are deliberately not the usual paths, so a
// relying party that guesses instead of reading discovery fails.
const (
	DiscoveryPath  = "/.well-known/openid-configuration"
	AuthorizePath  = "/op/authorize"
	TokenPath      = "/op/token"
	UserinfoPath   = "/op/userinfo"
	JWKSPath       = "/op/keys.json"
	EndSessionPath = "/op/end-session"
)

// DefaultClientID is the client id when Config.ClientID is empty.
const DefaultClientID = "conformance-client"

// Config sets up a provider. The zero value is a well-behaved provider with
// one RS256 key.
type Config struct {
	// ClientID and ClientSecret are the one registered client; empty means
	// DefaultClientID and a secret with characters that must be
	// form-encoded in client_secret_basic.
	ClientID, ClientSecret string
	// IssParameter advertises authorization_response_iss_parameter_supported
	// and sends iss with every authorization response (RFC 9207).
	IssParameter bool
	// Keys is how many RSA keys the JWKS holds (the first one signs); zero
	// means one.
	Keys int
	// Discovery edits the discovery document before it is served.
	Discovery func(doc map[string]any)
	// JWKS edits the served key set: the keys as raw JSON objects.
	JWKS func(keys []json.RawMessage) []json.RawMessage
	// TokenLifetime is how long access and ID tokens live (expires_in and
	// exp, whole seconds, at least one); zero means 5 minutes.
	TokenLifetime time.Duration

	// MgmtClientID and MgmtClientSecret are the machine-to-machine client
	// the Management API is granted to; empty means the registered client.
	MgmtClientID, MgmtClientSecret string
	// MgmtAudience is the audience the client-credentials grant requires;
	// empty means Issuer + "/api/v2/".
	MgmtAudience string
	// MgmtScopes are the scopes granted to the management client; nil
	// means read:users and update:users.
	MgmtScopes []string
	// MgmtTokenLifetime is the management tokens' lifetime; zero means 5
	// minutes.
	MgmtTokenLifetime time.Duration
}

// Scenario is what the provider does wrong (or right) for one login. It is
// chosen with SetScenario and bound to each code when it is issued, so a
// login keeps its scenario even if the test switches to another.
type Scenario struct {
	// User is the user's claims (at least sub); nil means Alice.
	User map[string]any
	// AuthError answers the authorization request with this error (e.g.
	// access_denied) instead of a code.
	AuthError string
	// AuthResponse edits the authorization response (code, state, iss)
	// before the redirect back to the app.
	AuthResponse func(q url.Values)
	// IgnorePKCE makes the token endpoint skip the code_verifier check, as
	// a careless provider would, so that only the app's own checks are left
	// to catch a swapped code.
	IgnorePKCE bool
	// Token answers the token request in place of the provider, after the
	// request has been checked and recorded (errors, garbage, hanging).
	Token http.HandlerFunc
	// TokenResponse edits the token response's members.
	TokenResponse func(resp map[string]any)
	// BeforeSign runs right before the ID token is signed (for a key
	// rotation just before signing).
	BeforeSign func(p *Provider)
	// Claims edits the ID token's claims before signing.
	Claims func(claims map[string]any)
	// Sign signs the ID token; nil means SignRS256.
	Sign SignFunc
	// UserInfo edits the userinfo response's claims.
	UserInfo func(claims map[string]any)
	// UserInfoResponse answers the userinfo request in place of the
	// provider, after the bearer token has been checked and the request
	// recorded (oversized, wrong content type, not an object...).
	UserInfoResponse http.HandlerFunc

	// The refresh of a login's tokens (grant_type=refresh_token) uses the
	// scenario of that login.

	// Refresh answers a refresh request in place of the provider, after the
	// client authentication and the refresh token have been checked and the
	// request recorded (invalid_grant, a server error, hanging). The refresh
	// token is not rotated then.
	Refresh http.HandlerFunc
	// RefreshClaims edits the refreshed ID token's claims before signing.
	RefreshClaims func(claims map[string]any)
	// RefreshSign signs the refreshed ID token; nil means the login's Sign.
	RefreshSign SignFunc
	// RefreshResponse edits the refresh response's members (drop id_token,
	// keep the old refresh token...).
	RefreshResponse func(resp map[string]any)
}

// Alice is the default user.
func Alice() map[string]any {
	return User("oidctest|alice", "Alice Conformance", "alice@example.test")
}

// User returns the claims of a user with the given sub, name and email.
func User(sub, name, email string) map[string]any {
	return map[string]any{
		"sub": sub, "name": name, "email": email, "email_verified": true,
		"given_name": strings.Fields(name)[0],
	}
}

// AuthRequest is an authorization request as the provider received it.
type AuthRequest struct {
	Query url.Values
	// Code is what the provider issued, empty when it refused.
	Code string
}

// Get returns a parameter of the request.
func (a AuthRequest) Get(k string) string { return a.Query.Get(k) }

// TokenRequest is a token request as the provider received it. The code
// and verifier are kept for assertions only; nothing logs them.
type TokenRequest struct {
	Form url.Values
	// AuthMethod is client_secret_basic, client_secret_post or none.
	AuthMethod string
	// ClientAuthOK is true when the client id and secret were right.
	ClientAuthOK bool
	// PKCEOK is true when the code_verifier matched the S256 challenge.
	PKCEOK bool
	// Error is what the provider answered, empty on success.
	Error string
}

// UserinfoRequest is a userinfo request as the provider received it.
type UserinfoRequest struct {
	Method string
	// Authorization is the request's Authorization header.
	Authorization string
	// BearerOK is true when it was "Bearer " and an access token this
	// provider issued.
	BearerOK bool
	// TokenElsewhere is true when an access_token was also sent in the
	// query or body (RFC 6750 discourages both).
	TokenElsewhere bool
}

// Key is one of the provider's RSA signing keys.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// JWK returns the public key as a JSON Web Key.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Algorithm: string(jose.RS256), Use: "sig"}
}

type grant struct {
	auth        AuthRequest
	scenario    Scenario
	user        map[string]any
	accessToken string
	idToken     string
	sid         string
	used        bool
	// authTime is when the user authenticated (auth_time), kept by every
	// refreshed ID token (Core 12.2).
	authTime int64
	// refreshToken is the grant's current refresh token, empty when
	// offline_access was not granted.
	refreshToken string
	refreshes    int
}

// Provider is the test OpenID Provider. Its methods are safe for concurrent
// use.
type Provider struct {
	// Issuer is the provider's issuer URL (no trailing slash).
	Issuer       string
	ClientID     string
	ClientSecret string

	cfg Config
	srv *httptest.Server
	// gone is closed when the provider closes, to release hanging handlers.
	gone      chan struct{}
	closeOnce sync.Once

	mu           sync.Mutex
	redirectURIs []string
	scenario     Scenario
	keys         []*Key
	keyIndex     int
	jwksStatus   int
	tokenOutage  http.HandlerFunc
	grants       map[string]*grant // by code
	tokens       map[string]*grant // by access token
	refresh      map[string]*grant // by current refresh token
	authReqs     []AuthRequest
	tokenReqs    []TokenRequest
	userinfoReqs []UserinfoRequest
	jwksCalls    int
	discoveries  int

	// The Management API (management.go).
	mgmtScenario  MgmtScenario
	mgmtTokens    map[string]mgmtToken
	mgmtUsers     map[string]map[string]any
	mgmtTokenReqs []MgmtTokenRequest
	mgmtReqs      []MgmtRequest
}

// New starts a provider that closes when the test ends.
func New(t testing.TB, cfg Config) *Provider {
	t.Helper()
	p := &Provider{
		cfg:          cfg,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		gone:         make(chan struct{}),
		grants:       map[string]*grant{},
		tokens:       map[string]*grant{},
		refresh:      map[string]*grant{},
		mgmtTokens:   map[string]mgmtToken{},
		mgmtUsers:    map[string]map[string]any{},
	}
	alice := Auth0User(Alice(), DatabaseConnection)
	p.mgmtUsers[alice["user_id"].(string)] = alice
	if p.ClientID == "" {
		p.ClientID = DefaultClientID
	}
	if p.ClientSecret == "" {
		// ':' '+' '/' '%' must be form-encoded in the Basic header (RFC
		// 6749 section 2.3.1); a client that forgets is refused.
		p.ClientSecret = "s3cret:with+odd/chars%and more-" + randomString(8)
	}
	n := max(cfg.Keys, 1)
	for range n {
		p.keys = append(p.keys, p.newKey())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, p.discovery)
	mux.HandleFunc("GET "+AuthorizePath, p.authorize)
	mux.HandleFunc("POST "+TokenPath, p.token)
	mux.HandleFunc(UserinfoPath, p.userinfo)
	mux.HandleFunc("GET "+JWKSPath, p.jwks)
	mux.HandleFunc("GET "+EndSessionPath, p.endSession)
	mux.HandleFunc("POST "+MgmtTokenPath, p.mgmtTokenEndpoint)
	mux.HandleFunc("GET "+MgmtUsersPath+"{id}", p.mgmtAPI)
	mux.HandleFunc("PATCH "+MgmtUsersPath+"{id}", p.mgmtAPI)
	mux.HandleFunc("POST "+MgmtVerificationEmailPath, p.mgmtAPI)
	mux.HandleFunc("POST "+ChangePasswordPath, p.changePassword)
	p.srv = httptest.NewServer(mux)
	p.Issuer = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the provider; calls to it then fail to connect. Handlers that
// hang are released.
func (p *Provider) Close() {
	p.closeOnce.Do(func() {
		close(p.gone)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// RegisterRedirectURI registers the app's exact redirect_uri. Authorization
// requests with any other are refused with an error page, not a redirect.
func (p *Provider) RegisterRedirectURI(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, u)
}

// SetScenario sets what the provider does for the logins that start from
// now on.
func (p *Provider) SetScenario(s Scenario) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scenario = s
}

// RotateKey replaces the signing key with a new one with a new kid; the old
// key leaves the JWKS.
func (p *Provider) RotateKey() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = []*Key{p.newKey()}
}

// Keys returns the keys in the JWKS; the first one signs.
func (p *Provider) Keys() []*Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.keys)
}

// ForeignKey returns a key that is not in the JWKS, under a fresh kid. (It
// is the key the next rotation will bring in.)
func (p *Provider) ForeignKey() *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &Key{ID: "k-" + randomString(6), Private: poolKey(p.keyIndex)}
}

// FailJWKS makes the JWKS endpoint answer with status (0 restores it).
func (p *Provider) FailJWKS(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksStatus = status
}

// SetTokenOutage makes the token endpoint answer every request (codes and
// refreshes) with h, as a provider in trouble would: a 503, a hang, a
// dropped connection. The request is recorded first. nil ends the outage;
// what was issued before it still works after.
func (p *Provider) SetTokenOutage(h http.HandlerFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenOutage = h
}

// AuthRequests returns the authorization requests received so far.
func (p *Provider) AuthRequests() []AuthRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.authReqs)
}

// TokenRequests returns the token requests received so far.
func (p *Provider) TokenRequests() []TokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tokenReqs)
}

// UserinfoRequests returns the userinfo requests received so far.
func (p *Provider) UserinfoRequests() []UserinfoRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.userinfoReqs)
}

// JWKSCalls is how many times the key set was fetched.
func (p *Provider) JWKSCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksCalls
}

// DiscoveryCalls is how many times the discovery document was fetched.
func (p *Provider) DiscoveryCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoveries
}

// RevokeRefreshTokens makes every refresh token issued so far unusable, as
// a provider that restarted or an administrator revoking access would.
func (p *Provider) RevokeRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.refresh {
		g.refreshToken = ""
	}
	clear(p.refresh)
}

// Issued is what the provider issued for one login: at first the code
// exchange's tokens, after a refresh the refreshed ones.
type Issued struct {
	Code, AccessToken, IDToken string
	// SID is the sid claim of the ID token.
	SID string
	// RefreshToken is the current refresh token (empty without
	// offline_access); Refreshes counts the refreshes so far.
	RefreshToken string
	Refreshes    int
}

// IssuedFor returns what the provider issued for the login whose
// authorization request had this nonce (zero when none).
func (p *Provider) IssuedFor(nonce string) Issued {
	p.mu.Lock()
	defer p.mu.Unlock()
	for code, g := range p.grants {
		if g.auth.Get("nonce") == nonce {
			return Issued{Code: code, AccessToken: g.accessToken, IDToken: g.idToken, SID: g.sid, RefreshToken: g.refreshToken, Refreshes: g.refreshes}
		}
	}
	return Issued{}
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.discoveries++
	p.mu.Unlock()
	doc := map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + AuthorizePath,
		"token_endpoint":                        p.Issuer + TokenPath,
		"userinfo_endpoint":                     p.Issuer + UserinfoPath,
		"jwks_uri":                              p.Issuer + JWKSPath,
		"end_session_endpoint":                  p.Issuer + EndSessionPath,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
	}
	if p.cfg.IssParameter {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if p.cfg.Discovery != nil {
		p.cfg.Discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// authorize issues a code at once, without a login form.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := AuthRequest{Query: q}
	p.mu.Lock()
	registered := slices.Contains(p.redirectURIs, q.Get("redirect_uri"))
	s := p.scenario
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.authReqs = append(p.authReqs, rec)
		p.mu.Unlock()
	}()

	// Never redirect to an unknown client or redirect_uri (RFC 6749 4.1.2.1).
	if q.Get("client_id") != p.ClientID || !registered || len(q["redirect_uri"]) != 1 {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	if p.cfg.IssParameter {
		back.Set("iss", p.Issuer)
	}
	refuse := func(code, desc string) {
		back.Set("error", code)
		back.Set("error_description", desc)
		if s.AuthResponse != nil {
			s.AuthResponse(back)
		}
		redirect(w, r, q.Get("redirect_uri"), back)
	}
	switch {
	case q.Get("response_type") != "code":
		refuse("unsupported_response_type", "only response_type=code")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		refuse("invalid_scope", "openid scope required")
		return
	case q.Get("state") == "" || q.Get("nonce") == "":
		refuse("invalid_request", "state and nonce are required")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		refuse("invalid_request", "PKCE with S256 is required")
		return
	case s.AuthError != "":
		refuse(s.AuthError, "the scenario says no")
		return
	}
	code := randomString(32)
	rec.Code = code
	user := s.User
	if user == nil {
		user = Alice()
	}
	p.mu.Lock()
	p.grants[code] = &grant{auth: rec, scenario: s, user: user, sid: randomString(12)}
	p.mu.Unlock()
	back.Set("code", code)
	if s.AuthResponse != nil {
		s.AuthResponse(back)
	}
	redirect(w, r, q.Get("redirect_uri"), back)
}

func redirect(w http.ResponseWriter, r *http.Request, to string, q url.Values) {
	u, _ := url.Parse(to)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// token redeems a code: client_secret_basic, single use, the same
// redirect_uri, and the PKCE verifier.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "body is not a form"))
		return
	}
	if r.PostForm.Get("grant_type") == "client_credentials" {
		// Auth0 answers the Management API's grant at the same endpoint.
		p.clientCredentials(w, r)
		return
	}
	rec := TokenRequest{Form: r.PostForm, AuthMethod: "none"}
	p.mu.Lock()
	outage := p.tokenOutage
	if outage != nil {
		rec.Error = "outage"
		p.tokenReqs = append(p.tokenReqs, rec)
	}
	p.mu.Unlock()
	if outage != nil {
		outage(w, r.WithContext(contextUntil(r, p.gone)))
		return
	}
	fail := func(status int, code, desc string) {
		rec.Error = code
		p.mu.Lock()
		p.tokenReqs = append(p.tokenReqs, rec)
		p.mu.Unlock()
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		}
		writeJSON(w, status, oauthError(code, desc))
	}

	if user, pass, ok := r.BasicAuth(); ok {
		rec.AuthMethod = "client_secret_basic"
		// RFC 6749 2.3.1: both are form-encoded before Basic encoding.
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		rec.ClientAuthOK = err1 == nil && err2 == nil && id == p.ClientID &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
	} else if r.PostForm.Has("client_secret") {
		rec.AuthMethod = "client_secret_post"
	}
	// Only client_secret_basic is registered for this client.
	if !rec.ClientAuthOK {
		fail(http.StatusUnauthorized, "invalid_client", "client_secret_basic with the right secret is required")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
	case "refresh_token":
		p.refreshGrant(w, r, rec, fail)
		return
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code and refresh_token")
		return
	}
	p.mu.Lock()
	g := p.grants[r.PostForm.Get("code")]
	reused := g != nil && g.used
	if g != nil {
		g.used = true
	}
	p.mu.Unlock()
	switch {
	case g == nil || reused:
		fail(http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case r.PostForm.Get("redirect_uri") != g.auth.Get("redirect_uri"):
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	rec.PKCEOK = base64.RawURLEncoding.EncodeToString(sum[:]) == g.auth.Get("code_challenge")
	s := g.scenario
	if !rec.PKCEOK && !s.IgnorePKCE {
		fail(http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	p.mu.Lock()
	p.tokenReqs = append(p.tokenReqs, rec)
	p.mu.Unlock()
	if s.Token != nil {
		// A scenario's handler that hangs is released when the app gives
		// up or the provider closes.
		s.Token(w, r.WithContext(contextUntil(r, p.gone)))
		return
	}

	access := randomString(32)
	if s.BeforeSign != nil {
		s.BeforeSign(p)
	}
	now := time.Now().Unix()
	life := p.lifetime()
	claims := map[string]any{
		"iss":       p.Issuer,
		"sub":       g.user["sub"],
		"aud":       p.ClientID,
		"exp":       now + life,
		"iat":       now,
		"auth_time": now,
		"nonce":     g.auth.Get("nonce"),
		"sid":       g.sid,
		"at_hash":   AtHash(access),
	}
	if s.Claims != nil {
		s.Claims(claims)
	}
	sign := s.Sign
	if sign == nil {
		sign = SignRS256
	}
	idToken, err := p.SignClaims(claims, sign)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   life,
		"id_token":     idToken,
		"scope":        g.auth.Get("scope"),
	}
	p.mu.Lock()
	g.accessToken, g.idToken, g.authTime = access, idToken, now
	p.tokens[access] = g
	if slices.Contains(strings.Fields(g.auth.Get("scope")), "offline_access") {
		g.refreshToken = randomString(32)
		p.refresh[g.refreshToken] = g
		resp["refresh_token"] = g.refreshToken
	}
	p.mu.Unlock()
	if s.TokenResponse != nil {
		s.TokenResponse(resp)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// refreshGrant redeems a refresh token (client authentication is already
// checked): a new access token, a new ID token as Core 12.2 describes it
// (same iss, sub, aud, sid and auth_time, a new iat, no nonce) and a new
// refresh token; the old one stops working.
func (p *Provider) refreshGrant(w http.ResponseWriter, r *http.Request, rec TokenRequest, fail func(int, string, string)) {
	old := r.PostForm.Get("refresh_token")
	p.mu.Lock()
	g := p.refresh[old]
	p.mu.Unlock()
	if old == "" || g == nil {
		fail(http.StatusBadRequest, "invalid_grant", "unknown, used or revoked refresh token")
		return
	}
	s := g.scenario
	p.mu.Lock()
	p.tokenReqs = append(p.tokenReqs, rec)
	p.mu.Unlock()
	if s.Refresh != nil {
		s.Refresh(w, r.WithContext(contextUntil(r, p.gone)))
		return
	}

	access := randomString(32)
	now := time.Now().Unix()
	life := p.lifetime()
	claims := map[string]any{
		"iss":       p.Issuer,
		"sub":       g.user["sub"],
		"aud":       p.ClientID,
		"exp":       now + life,
		"iat":       now,
		"auth_time": g.authTime,
		"sid":       g.sid,
		"at_hash":   AtHash(access),
	}
	if s.RefreshClaims != nil {
		s.RefreshClaims(claims)
	}
	sign := s.RefreshSign
	if sign == nil {
		sign = s.Sign
	}
	if sign == nil {
		sign = SignRS256
	}
	idToken, err := p.SignClaims(claims, sign)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	p.mu.Lock()
	if p.refresh[old] != g {
		// Used by a concurrent request meanwhile: one refresh per token.
		p.mu.Unlock()
		fail(http.StatusBadRequest, "invalid_grant", "unknown, used or revoked refresh token")
		return
	}
	delete(p.refresh, old)
	g.refreshToken = randomString(32)
	g.refreshes++
	p.refresh[g.refreshToken] = g
	g.accessToken, g.idToken = access, idToken
	p.tokens[access] = g
	resp := map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    life,
		"id_token":      idToken,
		"refresh_token": g.refreshToken,
		"scope":         g.auth.Get("scope"),
	}
	p.mu.Unlock()
	if s.RefreshResponse != nil {
		s.RefreshResponse(resp)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// lifetime is the tokens' lifetime in whole seconds.
func (p *Provider) lifetime() int64 {
	if p.cfg.TokenLifetime <= 0 {
		return 300
	}
	return max(int64((p.cfg.TokenLifetime+time.Second-1)/time.Second), 1)
}

// userinfo answers only a Bearer header with an access token it issued, and
// only with the claims the granted scopes allow.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	rec := UserinfoRequest{Method: r.Method, Authorization: r.Header.Get("Authorization")}
	if r.URL.Query().Has("access_token") {
		rec.TokenElsewhere = true
	}
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil && r.PostForm.Has("access_token") {
			rec.TokenElsewhere = true
		}
	}
	token, isBearer := strings.CutPrefix(rec.Authorization, "Bearer ")
	p.mu.Lock()
	g := p.tokens[token]
	rec.BearerOK = isBearer && g != nil
	p.userinfoReqs = append(p.userinfoReqs, rec)
	p.mu.Unlock()
	if !rec.BearerOK {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError("invalid_token", "a Bearer access token is required"))
		return
	}
	if g.scenario.UserInfoResponse != nil {
		g.scenario.UserInfoResponse(w, r.WithContext(contextUntil(r, p.gone)))
		return
	}
	scopes := strings.Fields(g.auth.Get("scope"))
	claims := map[string]any{"sub": g.user["sub"]}
	for k, v := range g.user {
		switch k {
		case "name", "given_name", "family_name", "nickname", "preferred_username", "picture":
			if slices.Contains(scopes, "profile") {
				claims[k] = v
			}
		case "email", "email_verified":
			if slices.Contains(scopes, "email") {
				claims[k] = v
			}
		}
	}
	if g.scenario.UserInfo != nil {
		g.scenario.UserInfo(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.jwksCalls++
	status := p.jwksStatus
	keys := slices.Clone(p.keys)
	p.mu.Unlock()
	if status != 0 {
		http.Error(w, "keys unavailable", status)
		return
	}
	raw := make([]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		b, err := k.JWK().MarshalJSON()
		if err != nil {
			http.Error(w, "marshal key", http.StatusInternalServerError)
			return
		}
		raw = append(raw, b)
	}
	if p.cfg.JWKS != nil {
		raw = p.cfg.JWKS(raw)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": raw})
}

func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if to := q.Get("post_logout_redirect_uri"); to != "" {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	w.Write([]byte("signed out\n"))
}

// newKey returns a key with a fresh kid; p.mu must be held or p unshared.
func (p *Provider) newKey() *Key {
	k := &Key{ID: "k-" + randomString(6), Private: poolKey(p.keyIndex)}
	p.keyIndex++
	return k
}

// SignClaims signs claims with sign. Tests use it to build logout tokens
// and other JWTs with the provider's keys.
func (p *Provider) SignClaims(claims map[string]any, sign SignFunc) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return sign(p, payload)
}

// SigningKey returns the key that signs by default.
func (p *Provider) SigningKey() *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0]
}

// LogoutClaims returns the claims of a valid back-channel logout token for
// sub and sid (either may be empty).
func (p *Provider) LogoutClaims(sub, sid string) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss":    p.Issuer,
		"aud":    p.ClientID,
		"iat":    now,
		"exp":    now + 120,
		"jti":    randomString(16),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// AtHash is the at_hash of an access token for RS256.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func oauthError(code, desc string) map[string]string {
	return map[string]string{"error": code, "error_description": desc}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyPool holds RSA keys shared by all providers in a test binary: making
// a 2048-bit key takes a tenth of a second, and each provider only needs its
// keys to differ from one another, not from other providers'.
var keyPool struct {
	mu   sync.Mutex
	keys []*rsa.PrivateKey
}

func poolKey(i int) *rsa.PrivateKey {
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	for len(keyPool.keys) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(fmt.Sprintf("oidctest: generate key: %v", err))
		}
		keyPool.keys = append(keyPool.keys, k)
	}
	return keyPool.keys[i]
}
