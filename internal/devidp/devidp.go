// Package devidp is a small OpenID Provider for development and tests.
//
// The login app starts it on loopback in dev mode, when no real issuer is
// configured, and talks to it over HTTP exactly as it would to a hosted
// provider. It supports discovery, JWKS, the authorization code flow with
// PKCE (S256), the token endpoint with client_secret_basic or
// client_secret_post, refresh tokens (scope offline_access), userinfo, token
// revocation, RP-initiated logout (end_session) and OpenID Connect
// Back-Channel Logout 1.0.
//
// All protocol work — token minting, discovery, JWKS, userinfo, end_session
// and refresh — is done by the op package of github.com/zitadel/oidc; this
// package adds an in-memory storage (adapted from that module's example
// server), a password login page and back-channel logout.
//
// It also serves the part of Auth0's Management API that the app uses to
// let users edit their profile (management.go): the client-credentials
// grant for a management client, GET and PATCH /api/v2/users/{id}, POST
// /api/v2/jobs/verification-email and the Authentication API's POST
// /dbconnections/change_password, with Auth0's answers and errors. A change
// shows in the next login's ID token and userinfo. The emails it "sends"
// land in a dev outbox (GET /dev/outbox, linked from the login page) whose
// links verify the address or set a new password. The pages wear the app's
// look: they link the app's own stylesheet from the assets package.
//
// Everything is kept in memory and a new signing key is generated on every
// Start, so tokens do not survive a restart. By default the provider keeps
// no single sign-on session, so every authorization request shows the login
// form; Config.SSOSessionLifetime turns one on. ID tokens always carry
// auth_time, the time the user typed the password, and refreshed ID tokens
// keep it; max_age and prompt=login are honoured.
package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	appassets "github.com/loginapp/login/assets"
)

// Defaults for the zero values of Config.
const (
	defaultAddr                = "127.0.0.1:0"
	defaultAccessTokenLifetime = time.Hour
	defaultIDTokenLifetime     = time.Hour
)

const (
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	logoutTokenLifetime    = 2 * time.Minute
	backchannelTimeout     = 10 * time.Second
	shutdownTimeout        = 5 * time.Second
)

// User is a demo account.
type User struct {
	Username, Password                    string
	Subject                               string
	Name, GivenName, FamilyName, Nickname string
	Email                                 string
	EmailVerified                         bool
	Picture                               string // URL, may be empty
	Locale                                string
	// Connection is the user's Auth0 connection. Empty or
	// DatabaseConnection is a database user, whose password the provider
	// keeps. Anything else (such as "google-oauth2") is a social user: the
	// password stands in for the sign-in at the social provider, the root
	// attributes (name, nickname, picture...) are reset to these values at
	// every password sign-in, as Auth0 does for social users, and
	// change_password is refused.
	Connection string
	// UserMetadata is Auth0's user_metadata: what the user may edit beyond
	// the root attributes (the app uses "locale" and "timezone"). It is
	// served by the Management API and, as at Auth0 without an Action, not
	// put into ID tokens or userinfo.
	UserMetadata map[string]any
}

// DemoUsers returns the built-in demo accounts: "alice" (password
// "alice-password", with a picture), "bob" ("bob-password", no picture),
// "maria" ("maria-password", a long name and an unverified email), which
// are database users, and "sam" ("sam-password"), a social user of the
// google-oauth2 connection.
//
// Pictures are issuer-relative paths such as "/avatars/alice.svg"; Start
// resolves a Picture that starts with "/" against the issuer, so
// Server.Users reports it as issuer + "/avatars/alice.svg". The provider
// serves those images itself.
func DemoUsers() []User {
	return []User{
		{
			Username:      "alice",
			Password:      "alice-password",
			Subject:       "devidp|alice",
			Name:          "Alice Liddell",
			GivenName:     "Alice",
			FamilyName:    "Liddell",
			Nickname:      "alice",
			Email:         "alice@example.com",
			EmailVerified: true,
			Picture:       pathAvatars + "alice.svg",
			Locale:        "en-GB",
			UserMetadata:  map[string]any{"locale": "en-GB", "timezone": "Europe/London"},
		},
		{
			Username:      "bob",
			Password:      "bob-password",
			Subject:       "devidp|bob",
			Name:          "Bob Builder",
			GivenName:     "Bob",
			FamilyName:    "Builder",
			Nickname:      "bob",
			Email:         "bob@example.com",
			EmailVerified: true,
			Locale:        "en-US",
		},
		{
			Username:      "maria",
			Password:      "maria-password",
			Subject:       "devidp|maria",
			Name:          "María-José Carreño Quiñones de la Santísima Trinidad",
			GivenName:     "María-José",
			FamilyName:    "Carreño Quiñones de la Santísima Trinidad",
			Nickname:      "majo",
			Email:         "maria@example.com",
			EmailVerified: false,
			Locale:        "es-ES",
			UserMetadata:  map[string]any{"locale": "es-ES", "timezone": "Europe/Madrid"},
		},
		{
			Username:      "sam",
			Password:      "sam-password",
			Subject:       "google-oauth2|104683254367890123456",
			Name:          "Sam Sample",
			GivenName:     "Sam",
			FamilyName:    "Sample",
			Nickname:      "sam.sample",
			Email:         "sam.sample@example.com",
			EmailVerified: true,
			Picture:       pathAvatars + "sam.svg",
			Locale:        "en",
			Connection:    "google-oauth2",
		},
	}
}

// Config configures the provider started by Start.
type Config struct {
	ClientID               string   // required
	ClientSecret           string   // required; client authenticates with client_secret_basic (also accept client_secret_post)
	RedirectURIs           []string // exact match
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string        // optional: if set, the OP POSTs a logout_token (OpenID Connect Back-Channel Logout 1.0) there when a user ends their session via end_session_endpoint
	Users                  []User        // nil = DemoUsers()
	Addr                   string        // listen address, default "127.0.0.1:0"
	AccessTokenLifetime    time.Duration // default 1h
	IDTokenLifetime        time.Duration // default 1h
	Logger                 *slog.Logger  // nil = discard

	// SSOSessionLifetime turns on single sign-on sessions at the provider:
	// after a password sign-in, the browser (a cookie) stays signed in for
	// this long, and a later authorization request signs it in without the
	// form and with the original auth_time, unless the request asks for a
	// fresh authentication with max_age (older than max_age seconds) or
	// prompt=login. prompt=none then succeeds with a session. end_session
	// ends it. Zero (the default) keeps no session: every authorization
	// shows the form.
	SSOSessionLifetime time.Duration

	// ManagementClientID and ManagementClientSecret are the
	// machine-to-machine client that may get Management API access tokens
	// with the client-credentials grant at the token endpoint (Auth0's
	// AUTH0_MGMT_CLIENT_ID / AUTH0_MGMT_CLIENT_SECRET). Empty means the
	// app's own client (ClientID, ClientSecret) may, as Auth0 lets an
	// application that the Management API is granted to.
	ManagementClientID, ManagementClientSecret string
	// ManagementAudience is the Management API's identifier, the grant's
	// required audience. Empty means Issuer() + "/api/v2/".
	ManagementAudience string
	// ManagementScopes are the scopes granted to the management client; nil
	// means read:users and update:users. Fewer make the API answer 403
	// insufficient_scope, as Auth0 does.
	ManagementScopes []string
}

// Server is a running provider.
type Server struct {
	issuer   string
	cfg      Config
	dir      *directory
	mgmt     *mgmt
	store    *storage
	key      signingKey
	log      *slog.Logger
	http     *http.Server
	bcClient *http.Client

	serveDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start listens on cfg.Addr and serves the provider until Close. The issuer
// is "http://" + the actual listen address (e.g. http://127.0.0.1:38211), so
// it works with port 0; an unspecified host (":0", "0.0.0.0:0") is
// reported as 127.0.0.1. ctx bounds only the start-up, not the lifetime of
// the server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("devidp: Config.ClientID is required")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("devidp: Config.ClientSecret is required")
	}
	if (cfg.ManagementClientID == "") != (cfg.ManagementClientSecret == "") {
		return nil, errors.New("devidp: Config.ManagementClientID and ManagementClientSecret go together")
	}
	if cfg.Addr == "" {
		cfg.Addr = defaultAddr
	}
	if cfg.AccessTokenLifetime <= 0 {
		cfg.AccessTokenLifetime = defaultAccessTokenLifetime
	}
	if cfg.IDTokenLifetime <= 0 {
		cfg.IDTokenLifetime = defaultIDTokenLifetime
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.BackchannelLogoutURI != "" {
		if u, err := url.Parse(cfg.BackchannelLogoutURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("devidp: Config.BackchannelLogoutURI %q is not an absolute http(s) URL", cfg.BackchannelLogoutURI)
		}
	}
	users := cfg.Users
	if users == nil {
		users = DemoUsers()
	}
	users = slices.Clone(users)
	if err := validateUsers(users); err != nil {
		return nil, err
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidp: generate signing key: %w", err)
	}
	key := signingKey{id: "devidp-" + randomID()[:16], key: rsaKey}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("devidp: generate token encryption key: %w", err)
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("devidp: listen: %w", err)
	}
	issuer := issuerFor(ln.Addr())
	for i := range users {
		if strings.HasPrefix(users[i].Picture, "/") {
			users[i].Picture = issuer + users[i].Picture
		}
	}

	s := &Server{
		issuer: issuer,
		cfg:    cfg,
		dir:    newDirectory(users, time.Now()),
		key:    key,
		log:    log,
		bcClient: &http.Client{
			Timeout: backchannelTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		serveDone: make(chan struct{}),
	}
	c := &client{
		id:                     cfg.ClientID,
		secret:                 cfg.ClientSecret,
		redirectURIs:           slices.Clone(cfg.RedirectURIs),
		postLogoutRedirectURIs: slices.Clone(cfg.PostLogoutRedirectURIs),
		idTokenLifetime:        cfg.IDTokenLifetime,
	}
	s.mgmt = &mgmt{
		issuer:       issuer,
		audience:     cfg.ManagementAudience,
		clientID:     cfg.ManagementClientID,
		clientSecret: cfg.ManagementClientSecret,
		appClientID:  cfg.ClientID,
		scopes:       slices.Clone(cfg.ManagementScopes),
		lifetime:     cfg.AccessTokenLifetime,
		key:          key,
		dir:          s.dir,
		log:          log,
	}
	if s.mgmt.audience == "" {
		s.mgmt.audience = issuer + "/api/v2/"
	}
	if s.mgmt.clientID == "" {
		s.mgmt.clientID, s.mgmt.clientSecret = cfg.ClientID, cfg.ClientSecret
	}
	if s.mgmt.scopes == nil {
		s.mgmt.scopes = slices.Clone(defaultManagementScopes)
	}
	s.store = newStorage(c, s.dir, key, cfg.AccessTokenLifetime)
	s.store.endSession = s.backchannelLogoutOnEndSession
	s.store.ssoLifetime = cfg.SSOSessionLifetime

	handler, err := s.newHandler(cryptoKey)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.serveDone)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("devidp: serve", "error", err)
		}
	}()
	log.Info("devidp: development OpenID Provider started", "issuer", issuer, "client_id", cfg.ClientID)
	return s, nil
}

// validateUsers checks that usernames and subjects are set and unique.
func validateUsers(users []User) error {
	names := make(map[string]bool, len(users))
	subs := make(map[string]bool, len(users))
	for _, u := range users {
		if u.Username == "" || u.Subject == "" {
			return errors.New("devidp: every user needs a Username and a Subject")
		}
		if names[u.Username] {
			return fmt.Errorf("devidp: duplicate username %q", u.Username)
		}
		if subs[u.Subject] {
			return fmt.Errorf("devidp: duplicate subject %q", u.Subject)
		}
		if u.Locale != "" {
			if _, err := language.Parse(u.Locale); err != nil {
				return fmt.Errorf("devidp: user %q: invalid locale %q", u.Username, u.Locale)
			}
		}
		names[u.Username] = true
		subs[u.Subject] = true
	}
	return nil
}

// issuerFor returns the issuer URL for the listen address addr.
func issuerFor(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// newHandler builds the provider's HTTP handler: the op package's endpoints
// plus the login page and static assets.
func (s *Server) newHandler(cryptoKey [32]byte) (http.Handler, error) {
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                         cryptoKey,
		CryptoKeyId:                       "devidp",
		DefaultLogoutRedirectURI:          pathLoggedOut,
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedUILocales:                []language.Tag{language.English},
		SupportedScopes:                   []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims:                   supportedClaims,
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}, s.store, op.StaticIssuer(s.issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devidp: create provider: %w", err)
	}

	issuerCtx := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	u := &ui{
		store:    s.store,
		callback: op.AuthCallbackURL(provider),
		authError: func(w http.ResponseWriter, r *http.Request, req *authRequest, err error) {
			op.AuthRequestError(w, r, req, err, provider)
		},
		ssoLifetime: s.cfg.SSOSessionLifetime,
		log:         s.log,
	}

	r := chi.NewRouter()
	r.Use(s.logRequests)
	r.Get(pathLogin, u.loginForm)
	r.Post(pathLogin, issuerCtx.HandlerFunc(u.login))
	r.Get(pathLoggedOut, u.loggedOut)
	r.Get(pathDevOutbox, u.outbox)
	r.Get(pathDevVerifyEmail, u.verifyEmail)
	r.Get(pathDevResetPassword, u.resetForm)
	r.With(http.NewCrossOriginProtection().Handler).Post(pathDevResetPassword, u.resetPassword)

	// The Management API subset, and the client-credentials grant, which
	// the op package does not serve with Auth0's audience parameter.
	r.Post(provider.TokenEndpoint().Relative(), s.clientCredentialsOr(provider))
	r.HandleFunc(pathUsers+"*", s.mgmt.users)
	r.Post(pathVerificationEmail, s.mgmt.verificationEmail)
	r.HandleFunc("/api/v2/*", s.mgmt.notFound)
	r.Post(pathChangePassword, s.mgmt.changePassword)
	r.Get(pathStatic+"*", u.asset)
	// The app's stylesheet, for pages that look like the app's.
	r.Handle(appassets.Prefix+"*", appassets.Handler())
	r.Get(pathAvatars+"*", u.asset)
	r.Handle(provider.EndSessionEndpoint().Relative(), issuerCtx.Handler(s.dropInvalidIDTokenHint(provider)))
	r.Mount("/", provider)
	return r, nil
}

// clientCredentialsOr answers the client-credentials grant itself and
// passes every other token request on to provider.
func (s *Server) clientCredentialsOr(provider *op.Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the body is not a form"})
			return
		}
		// ParseForm is idempotent, so the op package reads the same form.
		if r.PostForm.Get("grant_type") == "client_credentials" {
			s.mgmt.clientCredentials(w, r)
			return
		}
		provider.ServeHTTP(w, r)
	}
}

// supportedClaims are the claims advertised in discovery.
var supportedClaims = []string{
	"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash", "sid",
	"name", "given_name", "family_name", "nickname", "preferred_username", "picture", "locale", "updated_at",
	"email", "email_verified",
}

// dropInvalidIDTokenHint passes end_session requests on to provider, but
// first removes an id_token_hint whose signature or issuer does not check
// out, for example one minted by a previous run of the provider with another
// key. Logout then still works and post_logout_redirect_uri is still checked
// against the client's registered URIs. Valid (also expired) hints are left
// alone and honoured by the op package.
func (s *Server) dropInvalidIDTokenHint(provider *op.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "invalid request", http.StatusBadRequest)
			return
		}
		// Logging out ends the browser's single sign-on session, whatever
		// the hint says.
		if c, err := r.Cookie(ssoCookie); err == nil {
			s.store.endSSOSessions(c.Value, "")
			http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		if hint := r.Form.Get("id_token_hint"); hint != "" {
			_, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](r.Context(), hint, provider.IDTokenHintVerifier(r.Context()))
			if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) {
				s.log.Warn("devidp: end_session: ignoring an id_token_hint that does not verify", "error", err)
				r.Form.Del("id_token_hint")
				if r.Form.Get("client_id") == "" {
					r.Form.Set("client_id", s.cfg.ClientID)
				}
			}
		}
		provider.ServeHTTP(w, r)
	})
}

// statusRecorder records the status code written by a handler.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs method, path, status and duration of every request at
// debug level. It never logs query strings or bodies, which carry codes,
// tokens and passwords.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "devidp: request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		)
	})
}

// Issuer returns the issuer URL, e.g. http://127.0.0.1:38211, without a
// trailing slash.
func (s *Server) Issuer() string { return s.issuer }

// Users returns the provider's accounts as they are now (after changes
// through the Management API, email verification or a password reset),
// with issuer-relative Picture paths resolved to absolute URLs.
func (s *Server) Users() []User { return s.dir.users() }

// Outbox returns the emails the provider sent (verification and
// password-change emails), newest first. Their links work in a browser;
// the dev outbox page, linked from the login page, lists the same.
func (s *Server) Outbox() []Email { return s.dir.emails() }

// ManagementAudience is the Management API's audience: Config's, or
// Issuer() + "/api/v2/".
func (s *Server) ManagementAudience() string { return s.mgmt.audience }

// Close shuts the server down gracefully, waiting at most a few seconds for
// in-flight requests before closing their connections. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			// Shutdown counts a connection that a client dialed but never
			// sent a request on (an HTTP client's spare dial) as busy for
			// five seconds; such a connection, or a slow request, is cut
			// here rather than failing Close.
			s.log.Warn("devidp: connections still open at shutdown are closed", "error", err)
			s.closeErr = s.http.Close()
		}
		<-s.serveDone
		s.bcClient.CloseIdleConnections()
		s.log.Info("devidp: development OpenID Provider stopped", "issuer", s.issuer)
	})
	return s.closeErr
}

// SendBackchannelLogout signs a logout_token for the user (sub) and session
// id (sid; include "sid" if non-empty) with the OP's signing key (same
// key/kid as ID tokens, RS256) and POSTs it form-encoded (logout_token=...)
// to cfg.BackchannelLogoutURI. Returns an error if the URI is unset or the
// response is not 200.
//
// The token follows OpenID Connect Back-Channel Logout 1.0: it has iss, aud
// (the client ID), iat, exp, jti, events and sub and/or sid, no nonce, and
// the JOSE header typ "logout+jwt".
func (s *Server) SendBackchannelLogout(ctx context.Context, sub, sid string) error {
	if s.cfg.BackchannelLogoutURI == "" {
		return errors.New("devidp: back-channel logout: Config.BackchannelLogoutURI is not set")
	}
	if sub == "" && sid == "" {
		return errors.New("devidp: back-channel logout: sub or sid is required")
	}
	token, err := s.logoutToken(sub, sid)
	if err != nil {
		return fmt.Errorf("devidp: back-channel logout: %w", err)
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("devidp: back-channel logout: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.bcClient.Do(req)
	if err != nil {
		return fmt.Errorf("devidp: back-channel logout: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("devidp: back-channel logout: %s answered %s, want 200 OK", s.cfg.BackchannelLogoutURI, resp.Status)
	}
	s.log.Info("devidp: back-channel logout delivered", "sub", sub, "sid", sid)
	return nil
}

// logoutToken signs a back-channel logout token for sub and sid.
func (s *Server) logoutToken(sub, sid string) (string, error) {
	claims := oidc.NewLogoutTokenClaims(s.issuer, sub, oidc.Audience{s.cfg.ClientID},
		time.Now().Add(logoutTokenLifetime), uuid.NewString(), sid, 0)
	claims.Events = map[string]any{backchannelLogoutEvent: map[string]any{}}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       &jose.JSONWebKey{Key: s.key.key, KeyID: s.key.id},
	}, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", fmt.Errorf("create signer: %w", err)
	}
	return crypto.Sign(claims, signer)
}

// backchannelLogoutOnEndSession notifies the client of a session ended at
// the end_session endpoint. Failures are logged, not returned: the browser
// is redirected either way.
func (s *Server) backchannelLogoutOnEndSession(ctx context.Context, sub, sid string) {
	if s.cfg.BackchannelLogoutURI == "" {
		return
	}
	// Do not let the browser abandoning the request cancel the notification.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelTimeout)
	defer cancel()
	if err := s.SendBackchannelLogout(ctx, sub, sid); err != nil {
		s.log.Warn("devidp: back-channel logout after end_session failed", "sub", sub, "sid", sid, "error", err)
	}
}

// randomID returns 128 random bits, hex encoded.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
