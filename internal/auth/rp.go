// Package auth is the OpenID Connect relying party: provider discovery, the
// authorization code flow with PKCE, state and nonce, the complete check of
// the ID token and userinfo, token refresh and the logout URL.
//
// go-oidc verifies the ID token's signature, iss, aud and exp; this package
// adds what it leaves to the caller: nonce, sub, iat, azp, extra audiences,
// at_hash, the userinfo sub and the RFC 9207 iss response parameter.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is what the relying party needs to know.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
	// PostLogoutURL is where the provider sends the browser after logout.
	PostLogoutURL string
	// Auth0Domain enables Auth0's /v2/logout when the provider advertises no
	// end_session_endpoint.
	Auth0Domain string
	// HTTPClient makes every call to the provider; nil means a client with a
	// 10 second timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// JWKSRefetchInterval is the least time between two fetches of the
	// provider's keys caused by an unknown key id; zero means
	// MinRefetchInterval.
	JWKSRefetchInterval time.Duration
}

// ClockSkew is how far in the future an iat may lie before a token is refused.
const ClockSkew = 2 * time.Minute

// maxBody bounds what we read from the provider's token and userinfo
// endpoints.
const maxBody = 1 << 20

// asymmetricAlgs are the only signing algorithms ever accepted: never none,
// never an HMAC that a public key could be abused as the secret of.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// metadata is the loaded provider: discovery document, verifier, OAuth 2.0
// configuration.
type metadata struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	keys     *keySet
	algs     []string
	oauth    oauth2.Config
	// endSession is the end_session_endpoint, if advertised.
	endSession string
	// issParam is authorization_response_iss_parameter_supported (RFC 9207).
	issParam bool
	// origins are the provider origins the browser is sent to (authorization
	// and logout), for the CSP's form-action.
	origins []string
}

// RP is the relying party. It is safe for concurrent use.
type RP struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	meta        atomic.Pointer[metadata]
	baseOrigins []string
	loadMu      sync.Mutex
	lastLoad    time.Time
	lastErr     atomic.Pointer[string]
}

// New returns a relying party that has not yet talked to the provider; call
// Start or any method that needs the provider to load its metadata.
func New(cfg Config) *RP {
	rp := &RP{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now}
	if rp.client == nil {
		rp.client = NewHTTPClient(10 * time.Second)
	}
	if rp.log == nil {
		rp.log = slog.New(slog.DiscardHandler)
	}
	if rp.now == nil {
		rp.now = time.Now
	}
	rp.baseOrigins = rp.originsWith()
	msg := "provider metadata not loaded yet"
	rp.lastErr.Store(&msg)
	return rp
}

// NewHTTPClient returns a client for calls to the provider, bounded by
// timeout as a whole and by shorter limits on connecting and on headers.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// The token and userinfo endpoints have no business redirecting.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Start loads the provider's metadata in the background, retrying with
// backoff until it succeeds or ctx ends, so that a server started while the
// provider is down becomes ready as soon as the provider is back.
func (rp *RP) Start(ctx context.Context) {
	go func() {
		delay := 500 * time.Millisecond
		for {
			if _, err := rp.load(ctx, true); err == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, 30*time.Second)
		}
	}()
}

// Ready returns nil once the provider's metadata is loaded, or the reason it
// is not.
func (rp *RP) Ready() error {
	if rp.meta.Load() != nil {
		return nil
	}
	return errors.New(*rp.lastErr.Load())
}

// FormOrigins returns the origins the browser is sent to by forms and
// redirects (the issuer's, the authorization and logout endpoints'), for a
// Content-Security-Policy form-action. The slice is shared: do not modify.
func (rp *RP) FormOrigins() []string {
	if m := rp.meta.Load(); m != nil {
		return m.origins
	}
	return rp.baseOrigins
}

func (rp *RP) originsWith(extra ...string) []string {
	origins := []string{originOf(rp.cfg.Issuer)}
	if rp.cfg.Auth0Domain != "" {
		origins = append(origins, "https://"+rp.cfg.Auth0Domain)
	}
	for _, e := range extra {
		if o := originOf(e); o != "" {
			origins = append(origins, o)
		}
	}
	slices.Sort(origins)
	return slices.Compact(origins)
}

// metadataFor returns the loaded metadata, trying to load it (at most once a
// second across all requests) when it is missing.
func (rp *RP) metadataFor(ctx context.Context) (*metadata, error) {
	if m := rp.meta.Load(); m != nil {
		return m, nil
	}
	return rp.load(ctx, false)
}

func (rp *RP) load(ctx context.Context, force bool) (*metadata, error) {
	rp.loadMu.Lock()
	defer rp.loadMu.Unlock()
	if m := rp.meta.Load(); m != nil {
		return m, nil
	}
	if !force && rp.now().Sub(rp.lastLoad) < time.Second {
		return nil, ErrNotReady
	}
	rp.lastLoad = rp.now()
	m, err := rp.discover(ctx)
	if err != nil {
		msg := "provider discovery failed: " + err.Error()
		rp.lastErr.Store(&msg)
		rp.log.Warn("provider discovery failed", "issuer", rp.cfg.Issuer, "err", err)
		return nil, unavailable(err)
	}
	rp.meta.Store(m)
	rp.log.Info("provider metadata loaded", "issuer", rp.cfg.Issuer)
	return m, nil
}

func (rp *RP) discover(ctx context.Context) (*metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, rp.client), rp.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var extra struct {
		EndSession    string   `json:"end_session_endpoint"`
		IssParam      bool     `json:"authorization_response_iss_parameter_supported"`
		Algs          []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
		JWKSURI       string   `json:"jwks_uri"`
		ResponseTypes []string `json:"response_types_supported"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, fmt.Errorf("read discovery document: %w", err)
	}
	if extra.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	if len(extra.ResponseTypes) > 0 && !slices.Contains(extra.ResponseTypes, "code") {
		return nil, errors.New("provider does not support response_type=code")
	}
	// Only asymmetric algorithms the provider advertises; RS256 when it
	// advertises none (the OpenID Connect default).
	var algs []string
	for _, a := range extra.Algs {
		if slices.Contains(asymmetricAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(extra.Algs) == 0 {
		algs = []string{oidc.RS256}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("provider advertises no asymmetric ID token signing algorithm (only %v)", extra.Algs)
	}
	keys := newKeySet(rp.client, extra.JWKSURI, rp.log, rp.now, rp.cfg.JWKSRefetchInterval)
	verifier := oidc.NewVerifier(rp.cfg.Issuer, keys, &oidc.Config{
		ClientID:             rp.cfg.ClientID,
		SupportedSigningAlgs: algs,
		Now:                  rp.now,
	})
	endpoint := p.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	if len(extra.AuthMethods) > 0 && !slices.Contains(extra.AuthMethods, "client_secret_basic") && slices.Contains(extra.AuthMethods, "client_secret_post") {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	m := &metadata{
		provider:   p,
		verifier:   verifier,
		keys:       keys,
		algs:       algs,
		endSession: extra.EndSession,
		issParam:   extra.IssParam,
		oauth: oauth2.Config{
			ClientID:     rp.cfg.ClientID,
			ClientSecret: rp.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  rp.cfg.RedirectURL,
			Scopes:       rp.cfg.Scopes,
		},
	}
	m.origins = rp.originsWith(endpoint.AuthURL, m.endSession)
	return m, nil
}

// Attempt is one login attempt: the secrets that bind the provider's answer
// to the browser that started it. It lives in a short-lived encrypted cookie.
type Attempt struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r,omitempty"`
	Created  time.Time `json:"t"`
}

// NewAttempt returns an attempt with fresh random state, nonce and PKCE
// verifier.
func (rp *RP) NewAttempt(returnTo string) Attempt {
	return Attempt{
		State:    random32(),
		Nonce:    random32(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Created:  rp.now(),
	}
}

// AuthCodeURL returns the provider's authorization URL for the attempt.
func (rp *RP) AuthCodeURL(ctx context.Context, a Attempt) (string, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return "", err
	}
	return m.oauth.AuthCodeURL(a.State, oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)), nil
}

// Callback is the authorization response as the browser brought it back.
type Callback struct {
	Code, State, Iss            string
	Error, ErrorDescription     string
	hasIss, hasCode, hasErrorID bool
}

// ParseCallback reads the authorization response from the query. Any
// parameter that appears more than once makes the response invalid: a
// duplicated state or code is an attack or a bug, never a login.
func ParseCallback(q url.Values) (Callback, error) {
	var c Callback
	for _, k := range []string{"code", "state", "iss", "error", "error_description"} {
		if len(q[k]) > 1 {
			return c, invalid("The sign-in response was malformed.", fmt.Errorf("parameter %s repeated", k))
		}
	}
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok {
			return "", false
		}
		return v[0], true
	}
	c.Code, c.hasCode = get("code")
	c.State, _ = get("state")
	c.Iss, c.hasIss = get("iss")
	c.Error, c.hasErrorID = get("error")
	c.ErrorDescription, _ = get("error_description")
	for _, v := range []string{c.Code, c.State, c.Iss, c.Error, c.ErrorDescription} {
		if len(v) > 4096 || !validParam(v) {
			return c, invalid("The sign-in response was malformed.", errors.New("oversized or invalid parameter"))
		}
	}
	return c, nil
}

// validParam reports whether v is printable ASCII: the only characters state,
// code, iss and error values (RFC 6749 appendix A) may hold, with space and
// the rest of the visible range allowed for error_description.
func validParam(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// Login is a verified login: who the user is and the tokens to keep.
type Login struct {
	Subject      string
	SID          string
	UserInfo     json.RawMessage
	IDToken      string
	AccessToken  string
	RefreshToken string
	TokenExpiry  time.Time
}

// Finish completes the login: it checks the callback against the attempt,
// exchanges the code (with the PKCE verifier), verifies the ID token
// completely, then fetches userinfo once and checks its sub.
func (rp *RP) Finish(ctx context.Context, a Attempt, c Callback) (*Login, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return nil, err
	}
	// RFC 9207: a provider that says it sends iss must send the right one;
	// an iss that is present is checked whatever the provider advertises.
	if m.issParam && !c.hasIss {
		return nil, invalidf("authorization response without iss, which the provider advertises")
	}
	if c.hasIss && c.Iss != rp.cfg.Issuer {
		return nil, invalidf("authorization response iss does not match the issuer (mix-up?)")
	}
	if c.hasErrorID {
		return nil, &Error{Kind: KindDenied, Msg: providerErrorMessage(c.Error), Err: fmt.Errorf("provider returned error %q", c.Error)}
	}
	if !c.hasCode || c.Code == "" {
		return nil, invalid("The sign-in response was malformed.", errors.New("callback without code"))
	}

	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	tok, err := m.oauth.Exchange(ctx, c.Code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return nil, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, invalidf("token response without id_token")
	}
	claims, err := rp.verifyIDToken(ctx, m, rawID, tok.AccessToken, true)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(a.Nonce)) != 1 {
		return nil, invalidf("ID token nonce does not match this login attempt")
	}
	info, err := rp.userInfo(ctx, m, tok.AccessToken, claims.Subject)
	if err != nil {
		return nil, err
	}
	return &Login{
		Subject:      claims.Subject,
		SID:          claims.SID,
		UserInfo:     info,
		IDToken:      rawID,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenExpiry:  earliest(claims.Expiry, tok.Expiry),
	}, nil
}

func earliest(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

// idClaims are the ID token claims we check beyond go-oidc.
type idClaims struct {
	Subject string
	Nonce   string
	SID     string
	Expiry  time.Time
}

// verifyIDToken checks everything OpenID Connect Core 3.1.3.7 asks of the
// client. go-oidc has already checked signature, alg, iss, aud-contains and
// exp when it returns.
//
// A refreshed ID token (Core 12.2) passes the same checks except that it
// need not carry a nonce (requireNonce false); the caller compares its sub.
func (rp *RP) verifyIDToken(ctx context.Context, m *metadata, raw, accessToken string, requireNonce bool) (*idClaims, error) {
	ctx, keys := watchKeyFailure(ctx)
	idt, err := m.verifier.Verify(ctx, raw)
	if err != nil {
		// Keys we could not fetch say nothing about the token: that is the
		// provider's outage (502), not a forgery.
		if kerr := keys.Err(); kerr != nil {
			return nil, unavailable(fmt.Errorf("fetch signing keys: %w", kerr))
		}
		return nil, invalidf("verify ID token: %v", err)
	}
	var c struct {
		Sub   *string          `json:"sub"`
		Iat   *json.Number     `json:"iat"`
		Azp   *string          `json:"azp"`
		Nonce *string          `json:"nonce"`
		SID   string           `json:"sid"`
		Aud   *json.RawMessage `json:"aud"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, invalidf("ID token claims: %v", err)
	}
	if c.Sub == nil || *c.Sub == "" {
		return nil, invalidf("ID token without sub")
	}
	if c.Iat == nil {
		return nil, invalidf("ID token without iat")
	}
	iat, err := c.Iat.Float64()
	if err != nil {
		return nil, invalidf("ID token iat is not a number")
	}
	if time.Unix(int64(iat), 0).After(rp.now().Add(ClockSkew)) {
		return nil, invalidf("ID token issued in the future")
	}
	// Every audience must be us: an extra audience is a party we do not
	// trust, and with several the azp must name us.
	for _, aud := range idt.Audience {
		if aud != rp.cfg.ClientID {
			return nil, invalidf("ID token has an untrusted extra audience")
		}
	}
	if c.Azp != nil && *c.Azp != rp.cfg.ClientID {
		return nil, invalidf("ID token azp is not this client")
	}
	if len(idt.Audience) > 1 && c.Azp == nil {
		return nil, invalidf("ID token with several audiences has no azp")
	}
	if c.Nonce == nil && requireNonce {
		return nil, invalidf("ID token without nonce")
	}
	if idt.AccessTokenHash != "" && accessToken != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return nil, invalidf("ID token at_hash does not match the access token")
		}
	}
	out := &idClaims{Subject: *c.Sub, SID: c.SID, Expiry: idt.Expiry}
	if c.Nonce != nil {
		out.Nonce = *c.Nonce
	}
	return out, nil
}

// userInfo fetches the userinfo once, with the access token in the
// Authorization header, reads at most maxBody bytes of it, and refuses it
// unless it is application/json (or untyped), a JSON object no larger than
// maxBody, and its sub is the ID token's.
func (rp *RP) userInfo(ctx context.Context, m *metadata, accessToken, sub string) (json.RawMessage, error) {
	endpoint := m.provider.UserInfoEndpoint()
	if endpoint == "" {
		return nil, invalidf("provider has no userinfo endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, invalidf("userinfo request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, unavailable(fmt.Errorf("userinfo: %w", scrubURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, unavailable(fmt.Errorf("read userinfo: %w", err))
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, unavailable(fmt.Errorf("userinfo answered %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, invalidf("userinfo answered %s", resp.Status)
	case len(body) > maxBody:
		return nil, invalidf("userinfo response larger than %d bytes", maxBody)
	}
	// Core 5.3.2: plain JSON claims are application/json; a signed or
	// encrypted answer (application/jwt) or an HTML page is not claims. A
	// header that is present must parse; a missing one is tolerated (see
	// docs/SECURITY.md).
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, invalidf("userinfo content type %q is not application/json", mt)
		}
	}
	// A JSON object, nothing else: not an array, a string, a number or null.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, invalidf("userinfo is not a JSON object")
	}
	var got string
	if raw, ok := obj["sub"]; !ok || json.Unmarshal(raw, &got) != nil || subtle.ConstantTimeCompare([]byte(got), []byte(sub)) != 1 {
		return nil, invalidf("userinfo sub does not match the ID token sub")
	}
	return json.RawMessage(body), nil
}

// Refreshed is the outcome of a refresh: the new tokens and expiry.
type Refreshed struct {
	IDToken      string
	AccessToken  string
	RefreshToken string
	TokenExpiry  time.Time
}

// ErrRefreshFailed means the refresh token no longer works: the user has to
// log in again.
var ErrRefreshFailed = errors.New("refresh failed")

// Refresh uses the refresh token to get new tokens. A new ID token must keep
// the same iss (checked by the verifier), sub and aud.
func (rp *RP) Refresh(ctx context.Context, refreshToken, sub string) (*Refreshed, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	tok, err := m.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		if KindOf(exchangeError(err)) == KindUnavailable {
			return nil, exchangeError(err)
		}
		return nil, fmt.Errorf("%w: %v", ErrRefreshFailed, scrubURLError(err))
	}
	out := &Refreshed{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenExpiry: tok.Expiry}
	if out.RefreshToken == "" {
		out.RefreshToken = refreshToken
	}
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		// Core 12.2: the same checks as at login (iss, aud, azp, exp, iat,
		// signature, at_hash), and the same sub.
		claims, err := rp.verifyIDToken(ctx, m, rawID, tok.AccessToken, false)
		if err != nil {
			if KindOf(err) == KindUnavailable {
				return nil, err
			}
			return nil, fmt.Errorf("%w: refreshed ID token: %v", ErrRefreshFailed, err)
		}
		if claims.Subject != sub {
			return nil, fmt.Errorf("%w: refreshed ID token has another sub", ErrRefreshFailed)
		}
		out.IDToken = rawID
		out.TokenExpiry = earliest(claims.Expiry, tok.Expiry)
	}
	if out.TokenExpiry.IsZero() {
		out.TokenExpiry = rp.now().Add(time.Hour)
	}
	return out, nil
}

// LogoutURL returns where to send the browser to end the provider's session:
// the end_session_endpoint with id_token_hint and post_logout_redirect_uri,
// Auth0's /v2/logout when there is none, else our own index.
func (rp *RP) LogoutURL(idTokenHint string) string {
	if m := rp.meta.Load(); m != nil && m.endSession != "" {
		u, err := url.Parse(m.endSession)
		if err == nil {
			q := u.Query()
			if idTokenHint != "" {
				q.Set("id_token_hint", idTokenHint)
			}
			q.Set("post_logout_redirect_uri", rp.cfg.PostLogoutURL)
			q.Set("client_id", rp.cfg.ClientID)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	if rp.cfg.Auth0Domain != "" {
		q := url.Values{"client_id": {rp.cfg.ClientID}, "returnTo": {rp.cfg.PostLogoutURL}}
		return "https://" + rp.cfg.Auth0Domain + "/v2/logout?" + q.Encode()
	}
	return "/"
}

func providerErrorMessage(code string) string {
	switch code {
	case "access_denied":
		return "Sign-in was cancelled or access was denied."
	case "login_required", "consent_required", "interaction_required":
		return "The sign-in service needs you to sign in again."
	default:
		return "The sign-in service could not sign you in."
	}
}

// exchangeError classifies a token endpoint failure: unreachable or 5xx is
// the provider's outage, anything else a bad exchange.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status >= 500 {
			return unavailable(fmt.Errorf("token endpoint answered %d", status))
		}
		return invalid("The sign-in service refused to complete the sign-in.", fmt.Errorf("token endpoint answered %d %s", status, re.ErrorCode))
	}
	if isNetworkError(err) {
		return unavailable(fmt.Errorf("token endpoint: %w", scrubURLError(err)))
	}
	return invalid("The sign-in service sent an unusable answer.", fmt.Errorf("token response: %v", err))
}

func isNetworkError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

// scrubURLError drops the URL from a *url.Error (it could carry a query with
// secrets) and keeps the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func random32() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SameOriginPath reports whether returnTo is a path on this site that is safe
// to redirect to: it starts with exactly one "/", has no backslash, no scheme
// or host once parsed, and no control characters.
func SameOriginPath(returnTo string) bool {
	if returnTo == "" || len(returnTo) > 2048 || returnTo[0] != '/' {
		return false
	}
	if strings.HasPrefix(returnTo, "//") || strings.ContainsAny(returnTo, "\\") {
		return false
	}
	for i := 0; i < len(returnTo); i++ {
		if returnTo[i] < 0x20 || returnTo[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(returnTo)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	// A decoded path that starts with // or /\ would be read as another host
	// by some browsers or proxies after one more decoding.
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return false
	}
	// So would one with control characters: URL parsers drop tabs and
	// newlines anywhere, so "/%09/evil.example" decoded is "//evil.example".
	for i := 0; i < len(u.Path); i++ {
		if u.Path[i] < 0x20 || u.Path[i] == 0x7f {
			return false
		}
	}
	return true
}
