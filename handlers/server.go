// Package handlers is the app's HTTP surface: the chi router, one file per
// concern, and one error mapper. routes.go lists every URL.
package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
	"github.com/gorilla/securecookie"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/clientip"
	"github.com/loginapp/login/internal/management"
	"github.com/loginapp/login/internal/session"
)

// Config is what the handlers need besides their collaborators.
type Config struct {
	// BaseURL is the app's public URL without a trailing slash.
	BaseURL string
	// Secret is SESSION_SECRET; the login attempt cookies are sealed with a
	// key derived from it.
	Secret []byte
	// LoginRate is how many /login and /callback requests one client (IP
	// address) may make per minute; 0 means the default, 60.
	LoginRate int
	// Proxies are the reverse proxies whose forwarding headers name the
	// client; the zero value trusts none.
	Proxies clientip.Trusted
	// AccessLog, when set, receives the access lines directly, formatted as
	// slog's text handler would, at AccessLevel and above; otherwise they go
	// through the logger.
	AccessLog   io.Writer
	AccessLevel slog.Level
	// AccessJSON writes the access lines as slog's JSON handler would.
	AccessJSON bool
	// Now is the clock for login attempt and token expiry; nil means
	// time.Now.
	Now func() time.Time
	// Metrics is where the handlers register their metrics; nil keeps
	// them unregistered (they are still counted, cheaply).
	Metrics prometheus.Registerer
	// ReauthMaxAge is how recent the authentication must be for sensitive
	// actions (REAUTH_MAX_AGE); 0 means 10 minutes.
	ReauthMaxAge time.Duration
	// Accounts edits users' profiles at the provider; nil when there is
	// no management client, and then the profile can not be edited.
	Accounts *management.Client
}

// Server serves the app.
type Server struct {
	access     *accessLine
	metrics    *metrics
	accounts   *management.Client
	cfg        Config
	log        *slog.Logger
	rp         *auth.RP
	sessions   *session.Store
	attempts   *securecookie.SecureCookie
	drafts     *securecookie.SecureCookie
	secure     bool
	mux        *chi.Mux
	csp        cspCache
	loginLimit func(http.Handler) http.Handler
	// backchannelLimit bounds what one client can make the back-channel
	// logout endpoint verify and log.
	backchannelLimit func(http.Handler) http.Handler
	sameOrigin       func(http.Handler) http.Handler
}

// backchannelRate is how many back-channel logout requests one client
// address may send per minute. A provider sends one per ended session, from
// a few addresses; the bound is for a flood of forged tokens (each costs a
// signature check and a log line), so it is generous.
const backchannelRate = 600

// attemptTTL is how long a login attempt may take at the provider.
const attemptTTL = 10 * time.Minute

// NewServer returns the app's handler.
func NewServer(cfg Config, log *slog.Logger, rp *auth.RP, sessions *session.Store) (*Server, error) {
	attempts, err := session.NewCodec(cfg.Secret, "login-attempt", attemptTTL)
	if err != nil {
		return nil, err
	}
	drafts, err := newDraftCodec(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.LoginRate == 0 {
		cfg.LoginRate = 60
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReauthMaxAge == 0 {
		cfg.ReauthMaxAge = 10 * time.Minute
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		rp:       rp,
		sessions: sessions,
		attempts: attempts,
		drafts:   drafts,
		secure:   strings.HasPrefix(cfg.BaseURL, "https://"),
		metrics:  newMetrics(cfg.Metrics),
		accounts: cfg.Accounts,
	}
	if cfg.AccessLog != nil {
		s.access = newAccessLine(cfg.AccessLog, cfg.AccessLevel, cfg.AccessJSON)
	}
	s.loginLimit = httprate.LimitBy(cfg.LoginRate, time.Minute, s.rateKey, httprate.WithLimitHandler(s.tooManyRequests))
	s.backchannelLimit = httprate.LimitBy(backchannelRate, time.Minute, s.rateKey, httprate.WithLimitHandler(s.backchannelTooMany))
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("trust %s: %w", cfg.BaseURL, err)
	}
	cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	s.sameOrigin = cop.Handler
	s.mux = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// clientAddr is the request's client: the peer, or behind a trusted proxy
// the address it forwarded for (see clientip). The rate limits, the logs and
// the sessions' "signed in from" all use this one derivation.
func (s *Server) clientAddr(r *http.Request) netip.Addr { return s.cfg.Proxies.Addr(r) }

// rateKey keys the rate limits by client address, an IPv6 client by its
// /64.
func (s *Server) rateKey(r *http.Request) (string, error) {
	return httprate.CanonicalizeIP(s.clientAddr(r).String()), nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz is 200 when the provider's metadata is loaded and the session store
// answers, else 503 naming the dependency that is not ready. The reason
// (internal addresses, error text) goes to the log only, with the request
// id: the probe's answer may be public.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.rp.Ready(); err != nil {
		s.log.Warn("not ready: provider", "request_id", requestID(w), "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: identity provider\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.sessions.Backend().Ping(ctx); err != nil {
		s.log.Warn("not ready: session store", "request_id", requestID(w), "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: session store\n"))
		return
	}
	w.Write([]byte("ready\n"))
}
