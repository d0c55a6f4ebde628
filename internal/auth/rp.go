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
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
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
	// Metrics is where the relying party registers its metrics (provider
	// call latency); nil keeps them unregistered.
	Metrics prometheus.Registerer
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
	// refreshPausedUntil (unix nanoseconds) is when refreshes may ask the
	// provider again after an outage (see Refresh).
	refreshPausedUntil atomic.Int64
}

// New returns a relying party that has not yet talked to the provider; call
// Start or any method that needs the provider to load its metadata.
func New(cfg Config) *RP {
	rp := &RP{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now}
	if rp.client == nil {
		rp.client = NewHTTPClient(10 * time.Second)
	}
	rp.client = newProviderMetrics(cfg.Metrics).instrument(rp.client, cfg.Metrics != nil)
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
	p, err := oidc.NewProvider(oidc.ClientContext(withEndpoint(ctx, endpointDiscovery), rp.client), rp.cfg.Issuer)
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
