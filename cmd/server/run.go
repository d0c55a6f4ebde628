package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loginapp/login/handlers"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/config"
	"github.com/loginapp/login/internal/devidp"
	"github.com/loginapp/login/internal/management"
	"github.com/loginapp/login/internal/session"
)

// run is the whole program: it reads the configuration, starts the dev
// provider when there is no issuer, opens the session store, serves until
// ctx ends, and shuts down gracefully. Errors about settings are
// *config.Error (exit status 2). environ is the process environment in
// os.Environ's KEY=VALUE form.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	dotenv, err := godotenv.Read(".env")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &config.Error{Setting: ".env", Problem: err.Error()}
	}
	cfg, err := config.Load(args, environ, dotenv)
	if err != nil {
		return err
	}
	// Everything on stderr goes through one batching writer, so that lines
	// never interleave and access lines cost no syscall each.
	lw := newLogWriter(stderr)
	defer lw.Close()
	stderr = lw
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	// Libraries that log through slog's default (zitadel's op package in
	// the dev provider) or the log package write in our format too.
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn(w.String())
	}
	// Metrics are collected only when something serves them.
	var metrics *prometheus.Registry
	var registerer prometheus.Registerer
	if cfg.MetricsAddr != "" {
		metrics = newRegistry()
		registerer = metrics
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return &config.Error{Setting: "LISTEN_ADDR", Problem: err.Error()}
	}
	defer ln.Close()
	if !cfg.BaseURLSet {
		// With port 0 (tests) or PORT alone, the app's URL is where it listens.
		cfg.BaseURL = baseURLFor(ln.Addr().(*net.TCPAddr), cfg.ListenAddr)
	}

	if cfg.DevMode {
		dev, err := startDevProvider(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("start dev provider: %w", err)
		}
		defer dev.Close()
		fmt.Fprintf(stderr, "dev mode: no OIDC_ISSUER_URL or AUTH0_DOMAIN set, so a built-in OpenID Provider runs at %s\n", dev.Issuer())
		for _, u := range dev.Users() {
			fmt.Fprintf(stderr, "dev user: %s %s (%s)\n", u.Username, u.Password, u.Name)
		}
	}

	backend, err := openSessionBackend(ctx, cfg, log, registerer)
	if err != nil {
		return err
	}
	defer backend.Close()

	store, err := session.NewStore(backend, cfg.SessionSecret, session.Options{
		Secure:          cfg.Secure(),
		IdleTimeout:     cfg.IdleTimeout,
		AbsoluteTimeout: cfg.AbsoluteTimeout,
		Logger:          log,
	})
	if err != nil {
		return err
	}

	rp := auth.New(auth.Config{
		Issuer:        cfg.Issuer,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		RedirectURL:   cfg.Callback(),
		Scopes:        cfg.Scopes,
		PostLogoutURL: cfg.BaseURL + "/",
		Auth0Domain:   cfg.Auth0Domain,
		HTTPClient:    auth.NewHTTPClient(cfg.HTTPTimeout),
		Logger:        log,
		// Tests shorten it to see a key rotation within a second.
		JWKSRefetchInterval: cfg.JWKSRefetchInterval,
		Metrics:             registerer,
	})
	rpCtx, stopRP := context.WithCancel(ctx)
	defer stopRP()
	rp.Start(rpCtx)

	accounts, err := newAccounts(cfg, log)
	if err != nil {
		return err
	}
	srv, err := handlers.NewServer(handlers.Config{
		BaseURL:      cfg.BaseURL,
		Secret:       cfg.SessionSecret,
		LoginRate:    cfg.LoginRate,
		Proxies:      cfg.TrustedProxies,
		AccessLog:    stderr,
		AccessLevel:  logLevel(cfg.LogLevel),
		AccessJSON:   cfg.LogFormat == "json",
		Metrics:      registerer,
		ReauthMaxAge: cfg.ReauthMaxAge,
		Accounts:     accounts,
	}, log, rp, store)
	if err != nil {
		return err
	}

	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    256 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			return &config.Error{Setting: "DEBUG_ADDR", Problem: err.Error()}
		}
		defer stopDebug()
	}
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, metrics, log)
		if err != nil {
			return &config.Error{Setting: "METRICS_ADDR", Problem: err.Error()}
		}
		defer stopMetrics()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	fmt.Fprintf(stderr, "listening on %s\n", cfg.BaseURL)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// openSessionBackend opens the embedded store in DATA_DIR, or connects to
// the Redis of SESSION_STORE (one Redis, Sentinel or Cluster); both end the
// least recently active session of a user beyond SESSION_MAX_PER_USER. A Redis that
// does not answer yet is not an error: the server starts, serves anonymous
// pages and reports not ready until Redis is there. The backend is
// instrumented, its metrics registered on reg and labelled with the kind of
// store (bolt, redis, redis-sentinel, redis-cluster); with a nil reg it is
// not.
func openSessionBackend(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (session.Backend, error) {
	if cfg.SessionStore == "" {
		b, err := session.OpenBolt(cfg.DataDir, session.BoltOptions{SweepEvery: time.Minute, MaxPerSubject: cfg.MaxSessionsPerUser, Logger: log})
		if err != nil {
			return nil, &config.Error{Setting: "DATA_DIR", Problem: err.Error()}
		}
		return session.Instrument(b, "bolt", reg), nil
	}
	rc, err := session.ParseRedisURL(cfg.SessionStore)
	if err != nil {
		return nil, &config.Error{Setting: "SESSION_STORE", Problem: err.Error()}
	}
	r := session.NewRedis(rc, session.RedisOptions{MaxPerSubject: cfg.MaxSessionsPerUser, Logger: log})
	if err := r.Ping(ctx); err != nil {
		log.Warn("session store does not answer yet; /readyz reports 503 until it does", "addrs", strings.Join(rc.Addrs(), ","), "err", err)
	}
	return session.Instrument(r, rc.Kind(), reg), nil
}

// newAccounts is the client of the provider's Management API, with which
// users edit their profile: for Auth0 (AUTH0_DOMAIN, or an issuer on
// auth0.com) with the app's own client unless AUTH0_MGMT_CLIENT_ID names
// another; in dev mode the dev provider's; for any other provider only when
// a management client is configured (it must serve the same subset).
// Without one the profile can not be edited, and nil is returned.
func newAccounts(cfg *config.Config, log *slog.Logger) (*management.Client, error) {
	var base string
	switch {
	case cfg.DevMode:
		base = strings.TrimRight(cfg.Issuer, "/")
	case cfg.Auth0Domain != "":
		base = "https://" + cfg.Auth0Domain
	case cfg.MgmtClientID != "":
		base = strings.TrimRight(cfg.Issuer, "/")
	default:
		return nil, nil
	}
	id, secret := cfg.MgmtClientID, cfg.MgmtClientSecret
	if id == "" {
		id, secret = cfg.ClientID, cfg.ClientSecret
	}
	c, err := management.New(management.Config{
		BaseURL: base, ClientID: id, ClientSecret: secret,
		AppClientID: cfg.ClientID, Audience: cfg.MgmtAudience,
		Timeout: cfg.HTTPTimeout, Logger: log.With("component", "management"),
	})
	if err != nil {
		return nil, &config.Error{Setting: "AUTH0_MGMT_CLIENT_ID", Problem: err.Error()}
	}
	return c, nil
}

// startDevProvider starts the built-in provider for dev mode and points the
// configuration at it.
func startDevProvider(ctx context.Context, cfg *config.Config, log *slog.Logger) (*devidp.Server, error) {
	secret := randomString(32)
	dev, err := devidp.Start(ctx, devidp.Config{
		ClientID:               "dev-client",
		ClientSecret:           secret,
		RedirectURIs:           []string{cfg.Callback()},
		PostLogoutRedirectURIs: []string{cfg.BaseURL + "/"},
		BackchannelLogoutURI:   cfg.BaseURL + "/backchannel-logout",
		AccessTokenLifetime:    cfg.DevTokenLifetime,
		IDTokenLifetime:        cfg.DevTokenLifetime,
		Logger:                 log.With("component", "devidp"),
	})
	if err != nil {
		return nil, err
	}
	cfg.Issuer = dev.Issuer()
	cfg.ClientID = "dev-client"
	cfg.ClientSecret = secret
	if !slices.Contains(cfg.Scopes, "offline_access") {
		// Dev mode exercises refresh tokens too.
		cfg.Scopes = append(cfg.Scopes, "offline_access")
	}
	if len(cfg.SessionSecret) == 0 {
		cfg.SessionSecret = []byte(randomString(48))
	}
	return dev, nil
}

func baseURLFor(addr *net.TCPAddr, listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	switch {
	case host == "" || addr.IP.IsUnspecified():
		host = "localhost"
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	return fmt.Sprintf("http://%s:%d", host, addr.Port)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(level)}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newRegistry is the process's own metrics registry (never the global
// default), with the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves GET /metrics from reg on a listener of its own, apart
// from the public one, so that the metrics are never public by accident.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
	go srv.Serve(ln)
	log.Info("metrics served", "addr", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

func logLevel(level string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return l
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// serveDebug serves net/http/pprof on a loopback address of its own, apart
// from the app's router.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("pprof profiles served", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
