// Package config reads the server's settings from flags, the environment and a
// .env file, in that order of precedence, and validates them.
//
// Every setting has one environment name (and sometimes an Auth0 alias) and one
// flag, named after the environment variable in lower case with dashes:
// OIDC_ISSUER_URL is --oidc-issuer-url. A bad setting is reported as an *Error
// naming the setting, so that the caller can print one line and exit 2.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loginapp/login/internal/clientip"
)

// Config is the validated configuration of one server process.
type Config struct {
	// DevMode is true when no issuer is configured: the server then starts its
	// own OpenID Provider on loopback.
	DevMode bool
	// Issuer is the OpenID Provider's issuer URL (empty in dev mode until the
	// dev provider has started).
	Issuer string
	// Auth0Domain is set when the provider is Auth0, either from AUTH0_DOMAIN or
	// recognised from the issuer's host; it enables the /v2/logout fallback.
	Auth0Domain  string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// BaseURL is APP_BASE_URL without a trailing slash.
	BaseURL string
	// BaseURLSet records whether APP_BASE_URL was given, so that a server
	// listening on port 0 can derive it from the port it got.
	BaseURLSet bool
	// RedirectURL is the callback URL registered at the provider; empty means
	// BaseURL + "/callback" (derived late, after BaseURL is final).
	RedirectURL string
	ListenAddr  string
	// SessionSecret signs and encrypts cookies; at least 32 bytes. Empty in
	// dev mode when none was given (the caller generates one).
	SessionSecret []byte
	// SessionStore is empty for the embedded store, or a redis://, rediss://,
	// redis-sentinel:// or redis-cluster:// URL.
	SessionStore string
	// DataDir holds the embedded session store.
	DataDir string
	// IdleTimeout ends a session that has not been used for this long.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, whatever happens.
	AbsoluteTimeout time.Duration
	// DevAllowRemote lets dev mode listen on a non-loopback address.
	DevAllowRemote bool
	// DevTokenLifetime is how long the dev provider's access and ID tokens
	// live (0: its default, an hour); short to try out token refresh.
	DevTokenLifetime time.Duration
	// LogLevel is the minimum level logged: debug, info, warn or error.
	LogLevel string
	// LogFormat is "text" or "json".
	LogFormat string
	// MetricsAddr, when set, is the address of a listener of its own that
	// serves Prometheus metrics; never the public one.
	MetricsAddr string
	// LoginRate is how many /login and /callback requests one client may
	// make per minute.
	LoginRate int
	// DebugAddr, when set, serves Go's pprof profiles on this loopback
	// address, for measuring the server under load.
	DebugAddr string
	// HTTPTimeout bounds every call to the provider (discovery, token,
	// userinfo, keys).
	HTTPTimeout time.Duration
	// JWKSRefetchInterval is the least time between two fetches of the
	// provider's keys caused by a token with an unknown key id.
	JWKSRefetchInterval time.Duration
	// ReauthMaxAge is how recent an authentication must be for sensitive
	// actions.
	ReauthMaxAge time.Duration
	// MaxSessionsPerUser bounds the live sessions of one user.
	MaxSessionsPerUser int
	// MgmtClientID and MgmtClientSecret are the Management API's client;
	// empty means the app's own client. MgmtAudience empty means the
	// default, https://AUTH0_DOMAIN/api/v2/.
	MgmtClientID, MgmtClientSecret, MgmtAudience string
	// TrustedProxies are the reverse proxies whose forwarding headers give
	// the client address; none by default.
	TrustedProxies clientip.Trusted
	// Warnings are the environment and .env variables that look like
	// settings but are not, each with the closest real one, for the caller
	// to print at start.
	Warnings []Unknown
}

// Secure reports whether the app is served over https, which decides the
// cookies' Secure flag and __Host- prefix.
func (c *Config) Secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// Callback returns the redirect URL registered at the provider.
func (c *Config) Callback() string {
	if c.RedirectURL != "" {
		return c.RedirectURL
	}
	return c.BaseURL + "/callback"
}

// Error is a bad or missing setting.
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Problem }

func bad(setting, format string, args ...any) error {
	return &Error{Setting: setting, Problem: fmt.Sprintf(format, args...)}
}

// setting describes one configuration value and where it may come from.
type setting struct {
	name    string // environment name, also the flag name in lower-kebab case
	aliases []string
	usage   string
}

var settings = []setting{
	{name: "OIDC_ISSUER_URL", usage: "issuer of the OpenID Provider (discovery is read from it)"},
	{name: "AUTH0_DOMAIN", usage: "Auth0 tenant domain; means OIDC_ISSUER_URL=https://DOMAIN/"},
	{name: "OIDC_CLIENT_ID", aliases: []string{"AUTH0_CLIENT_ID"}, usage: "client id"},
	{name: "OIDC_CLIENT_SECRET", aliases: []string{"AUTH0_CLIENT_SECRET"}, usage: "client secret"},
	{name: "OIDC_SCOPES", usage: "space separated scopes (default \"openid profile email\")"},
	{name: "APP_BASE_URL", aliases: []string{"AUTH0_BASE_URL"}, usage: "public URL of the app (default http://localhost:3000)"},
	{name: "OIDC_REDIRECT_URL", aliases: []string{"AUTH0_CALLBACK_URL"}, usage: "callback URL registered at the provider (default APP_BASE_URL/callback)"},
	{name: "LISTEN_ADDR", usage: "address to listen on (default localhost:3000)"},
	{name: "PORT", usage: "port to listen on when LISTEN_ADDR is unset: on all interfaces, or on loopback in dev mode"},
	{name: "SESSION_SECRET", aliases: []string{"AUTH0_SECRET"}, usage: "at least 32 bytes; signs and encrypts cookies (required unless in dev mode)"},
	{name: "SESSION_STORE", usage: "empty for the embedded store, or redis://, rediss://, redis-sentinel://HOSTS/MASTER or redis-cluster://HOSTS"},
	{name: "DATA_DIR", usage: "directory of the embedded session store (default ./data)"},
	{name: "SESSION_IDLE_TIMEOUT", usage: "end sessions unused for this long (default 30m)"},
	{name: "SESSION_ABSOLUTE_TIMEOUT", usage: "end sessions this long after login (default 12h)"},
	{name: "DEV_ALLOW_REMOTE", usage: "true lets dev mode listen on a non-loopback address"},
	{name: "DEV_TOKEN_LIFETIME", usage: "dev mode only: lifetime of the dev provider's access and ID tokens, at least 2s (default 1h)"},
	{name: "LOGIN_RATE_LIMIT", usage: "login and callback requests per minute per client address (default 60)"},
	{name: "REAUTH_MAX_AGE", usage: "how recent the sign-in must be for sensitive actions (ending other sessions, editing the profile) (default 10m)"},
	{name: "SESSION_MAX_PER_USER", usage: "live sessions per user; a login beyond it ends the least recently active one (default 50)"},
	{name: "AUTH0_MGMT_CLIENT_ID", usage: "machine-to-machine client for Auth0's Management API, for profile editing (default: the app's own client)"},
	{name: "AUTH0_MGMT_CLIENT_SECRET", usage: "its secret (default: the app's own)"},
	{name: "AUTH0_MGMT_AUDIENCE", usage: "the Management API's identifier (default https://AUTH0_DOMAIN/api/v2/)"},
	{name: "TRUSTED_PROXIES", usage: "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For / Forwarded give the client address (default none)"},
	{name: "OIDC_HTTP_TIMEOUT", usage: "time limit of each call to the provider (default 10s)"},
	{name: "OIDC_JWKS_REFETCH_INTERVAL", usage: "least time between fetches of the provider's keys for an unknown key id (default 10s)"},
	{name: "LOG_LEVEL", usage: "debug, info, warn or error (default info)"},
	{name: "LOG_FORMAT", usage: "text or json: every log line, access lines included (default text)"},
	{name: "METRICS_ADDR", usage: "host:port of a separate listener serving Prometheus GET /metrics (default off)"},
	{name: "DEBUG_ADDR", usage: "loopback address for Go's pprof profiles (default off)"},
}

func flagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// Usage writes the flag and environment summary to w.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: server [flags]\n\nEvery flag can also be set by its environment variable or in ./.env:")
	for _, s := range settings {
		names := s.name
		if len(s.aliases) > 0 {
			names += " (or " + strings.Join(s.aliases, ", ") + ")"
		}
		fmt.Fprintf(w, "  --%s\n\t%s: %s\n", flagName(s.name), names, s.usage)
	}
}

// ErrHelp is returned when the user asked for -h or --help.
var ErrHelp = flag.ErrHelp

// Load builds the configuration from command-line args (without the program
// name), the process environment (os.Environ's KEY=VALUE form), and the
// key-value pairs of a .env file (nil when there is none). Flags win over the
// environment, which wins over .env. For each setting the primary name wins
// over its alias at the same level; an alias at a higher level still wins
// over a primary name at a lower one.
func Load(args []string, environ []string, dotenv map[string]string) (*Config, error) {
	envVals := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envVals[k] = v
		}
	}
	getenv := func(k string) string { return envVals[k] }
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := make(map[string]*string, len(settings))
	for _, s := range settings {
		flagVals[s.name] = fs.String(flagName(s.name), "", s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, &Error{Setting: "flags", Problem: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, bad("flags", "unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// lookup returns the value of a setting and the name it was found under.
	lookup := func(name string) (string, string) {
		for _, s := range settings {
			if s.name != name {
				continue
			}
			if set[flagName(name)] {
				return *flagVals[name], "--" + flagName(name)
			}
			names := append([]string{s.name}, s.aliases...)
			for _, n := range names {
				if v := getenv(n); v != "" {
					return v, n
				}
			}
			for _, n := range names {
				if v := dotenv[n]; v != "" {
					return v, n
				}
			}
			return "", name
		}
		panic("config: unknown setting " + name)
	}
	get := func(name string) string { v, _ := lookup(name); return v }

	c := &Config{}

	// The provider.
	issuer, issuerName := lookup("OIDC_ISSUER_URL")
	domain, domainName := lookup("AUTH0_DOMAIN")
	if domain != "" {
		d, err := parseAuth0Domain(domain)
		if err != nil {
			return nil, bad(domainName, "%v", err)
		}
		c.Auth0Domain = d
		domainIssuer := "https://" + d + "/"
		if issuer != "" && strings.TrimSuffix(issuer, "/") != strings.TrimSuffix(domainIssuer, "/") {
			return nil, bad(issuerName, "%q contradicts AUTH0_DOMAIN=%q; set only one", issuer, domain)
		}
		if issuer == "" {
			issuer, issuerName = domainIssuer, domainName
		}
	}
	if issuer != "" {
		u, err := parseIssuer(issuer)
		if err != nil {
			return nil, bad(issuerName, "%v", err)
		}
		c.Issuer = u
		if c.Auth0Domain == "" {
			if h := hostOf(u); strings.HasSuffix(h, ".auth0.com") {
				c.Auth0Domain = h
			}
		}
	} else {
		c.DevMode = true
	}

	c.Warnings = unknownSettings(envVals, dotenv)
	var clientIDName, clientSecretName string
	c.ClientID, clientIDName = lookup("OIDC_CLIENT_ID")
	c.ClientSecret, clientSecretName = lookup("OIDC_CLIENT_SECRET")
	if c.DevMode {
		// Dev mode offers demo users with published passwords: it must never
		// start where a real provider was meant.
		for _, n := range []struct{ value, name string }{{c.ClientID, clientIDName}, {c.ClientSecret, clientSecretName}} {
			if n.value != "" {
				return nil, bad("OIDC_ISSUER_URL", "missing, but %s is set: set OIDC_ISSUER_URL or AUTH0_DOMAIN too, or unset %s to use dev mode", n.name, n.name)
			}
		}
		if u := misspeltIssuer(c.Warnings); u != nil {
			return nil, bad(u.Name, "not a setting (did you mean %s?); without OIDC_ISSUER_URL or AUTH0_DOMAIN the server would start in dev mode with demo users, so it refuses to", u.Closest)
		}
	}

	scopes, scopesName := lookup("OIDC_SCOPES")
	if scopes == "" {
		scopes = "openid profile email"
	}
	c.Scopes = strings.Fields(scopes)
	hasOpenID := false
	for _, s := range c.Scopes {
		if s == "openid" {
			hasOpenID = true
		}
	}
	if !hasOpenID {
		return nil, bad(scopesName, "%q must contain openid", scopes)
	}

	// Where the app is.
	base, baseName := lookup("APP_BASE_URL")
	c.BaseURLSet = base != ""
	if base == "" {
		base = "http://localhost:3000"
	}
	b, err := parseBaseURL(base)
	if err != nil {
		return nil, bad(baseName, "%v", err)
	}
	c.BaseURL = b
	if c.DevMode && !isLoopbackHTTP(b) {
		return nil, bad(baseName, "%q is not an http loopback URL; dev mode (no OIDC_ISSUER_URL or AUTH0_DOMAIN) has demo users with published passwords and serves only http://localhost: configure a provider to serve %s", b, b)
	}

	redirect, redirectName := lookup("OIDC_REDIRECT_URL")
	if redirect != "" {
		u, err := url.Parse(redirect)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return nil, bad(redirectName, "%q is not an absolute http(s) URL without a fragment", redirect)
		}
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) && !c.DevMode && strings.HasPrefix(c.BaseURL, "https://") {
			return nil, bad(redirectName, "%q is http while APP_BASE_URL is https", redirect)
		}
		c.RedirectURL = redirect
	}

	allowRemote, allowName := lookup("DEV_ALLOW_REMOTE")
	if allowRemote != "" {
		v, err := strconv.ParseBool(allowRemote)
		if err != nil {
			return nil, bad(allowName, "%q is not true or false", allowRemote)
		}
		c.DevAllowRemote = v
	}

	listen, listenName := lookup("LISTEN_ADDR")
	if listen == "" {
		if port, portName := lookup("PORT"); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return nil, bad(portName, "%q is not a port number", port)
			}
			// Platforms that set PORT expect every interface; dev mode
			// stays on loopback unless told otherwise.
			listen, listenName = ":"+port, portName
			if c.DevMode && !c.DevAllowRemote {
				listen = "localhost:" + port
			}
		} else {
			listen = "localhost:3000"
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, bad(listenName, "%q is not host:port", listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, bad(listenName, "%q has no valid port", listen)
	}
	c.ListenAddr = listen
	if c.DevMode && !c.DevAllowRemote && !isLoopbackHost(host) {
		return nil, bad(listenName, "%q is not a loopback address; dev mode (no OIDC_ISSUER_URL) only listens on loopback unless DEV_ALLOW_REMOTE=true", listen)
	}
	if v, n := lookup("DEV_TOKEN_LIFETIME"); v != "" {
		if !c.DevMode {
			return nil, bad(n, "only applies in dev mode (no OIDC_ISSUER_URL); a real provider decides its token lifetimes")
		}
		d, err := time.ParseDuration(v)
		// Token expiry is in whole seconds: below 2s an ID token could be
		// expired by the time it is checked.
		if err != nil || d < 2*time.Second {
			return nil, bad(n, "%q is not a duration of at least 2s, such as 30s or 5m", v)
		}
		c.DevTokenLifetime = d
	}

	// Sessions.
	ss, ssName := lookup("SESSION_SECRET")
	if !c.DevMode {
		// Every missing required setting in one line, not one per start.
		var missing []string
		var why []string
		if c.ClientID == "" {
			missing = append(missing, "OIDC_CLIENT_ID")
			why = append(why, "OIDC_CLIENT_ID (or AUTH0_CLIENT_ID) is the client id registered at the provider")
		}
		if c.ClientSecret == "" {
			missing = append(missing, "OIDC_CLIENT_SECRET")
			why = append(why, "OIDC_CLIENT_SECRET (or AUTH0_CLIENT_SECRET) authenticates this confidential client")
		}
		if ss == "" {
			missing = append(missing, "SESSION_SECRET")
			why = append(why, "SESSION_SECRET (or AUTH0_SECRET) must be at least 32 bytes, for example: openssl rand -base64 48")
		}
		if len(missing) > 0 {
			return nil, bad(strings.Join(missing, ", "), "missing: %s", strings.Join(why, "; "))
		}
	}
	if ss != "" && len(ss) < 32 {
		return nil, bad(ssName, "too short (%d bytes); it must be at least 32 bytes", len(ss))
	}
	c.SessionSecret = []byte(ss)

	store, storeName := lookup("SESSION_STORE")
	if store != "" {
		// Only the scheme here: the session package parses the rest (a
		// Sentinel's or Cluster's comma-separated hosts are no net/url
		// URL), and run reports what it finds wrong under this setting.
		scheme, rest, _ := strings.Cut(store, "://")
		switch {
		case scheme != "redis" && scheme != "rediss" && scheme != "redis-sentinel" && scheme != "redis-cluster":
			return nil, bad(storeName, "must be empty (embedded store) or a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL")
		case rest == "" || rest[0] == '/' || rest[0] == '?':
			return nil, bad(storeName, "names no Redis host")
		}
	}
	c.SessionStore = store
	c.DataDir = get("DATA_DIR")
	if c.DataDir == "" {
		c.DataDir = "data"
	}

	if c.IdleTimeout, err = duration(lookup, "SESSION_IDLE_TIMEOUT", 30*time.Minute); err != nil {
		return nil, err
	}
	if c.AbsoluteTimeout, err = duration(lookup, "SESSION_ABSOLUTE_TIMEOUT", 12*time.Hour); err != nil {
		return nil, err
	}
	if c.IdleTimeout > c.AbsoluteTimeout {
		return nil, bad("SESSION_IDLE_TIMEOUT", "%v is longer than SESSION_ABSOLUTE_TIMEOUT %v", c.IdleTimeout, c.AbsoluteTimeout)
	}

	if v, n := lookup("TRUSTED_PROXIES"); v != "" {
		t, err := clientip.Parse(v)
		if err != nil {
			return nil, bad(n, "%v", err)
		}
		c.TrustedProxies = t
	}

	if c.ReauthMaxAge, err = duration(lookup, "REAUTH_MAX_AGE", 10*time.Minute); err != nil {
		return nil, err
	}
	if c.ReauthMaxAge < time.Second {
		return nil, bad("REAUTH_MAX_AGE", "%v is shorter than a second, the precision of auth_time", c.ReauthMaxAge)
	}
	c.MaxSessionsPerUser = 50
	if v, n := lookup("SESSION_MAX_PER_USER"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 10000 {
			return nil, bad(n, "%q is not a number of sessions between 1 and 10000", v)
		}
		c.MaxSessionsPerUser = m
	}
	var mgmtIDName string
	c.MgmtClientID, mgmtIDName = lookup("AUTH0_MGMT_CLIENT_ID")
	var mgmtSecretName string
	c.MgmtClientSecret, mgmtSecretName = lookup("AUTH0_MGMT_CLIENT_SECRET")
	if (c.MgmtClientID == "") != (c.MgmtClientSecret == "") {
		if c.MgmtClientID == "" {
			return nil, bad(mgmtIDName, "missing, but %s is set: set both or neither", mgmtSecretName)
		}
		return nil, bad(mgmtSecretName, "missing, but %s is set: set both or neither", mgmtIDName)
	}
	if v, n := lookup("AUTH0_MGMT_AUDIENCE"); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, bad(n, "%q is not an https URL such as https://TENANT.us.auth0.com/api/v2/", v)
		}
		c.MgmtAudience = v
	}
	if c.DevMode && c.MgmtClientID != "" {
		return nil, bad(mgmtIDName, "is set, but there is no OIDC_ISSUER_URL or AUTH0_DOMAIN: dev mode has its own management client")
	}

	c.LoginRate = 60
	if v, n := lookup("LOGIN_RATE_LIMIT"); v != "" {
		r, err := strconv.Atoi(v)
		if err != nil || r < 1 {
			return nil, bad(n, "%q is not a positive number of requests per minute", v)
		}
		c.LoginRate = r
	}

	if c.HTTPTimeout, err = duration(lookup, "OIDC_HTTP_TIMEOUT", 10*time.Second); err != nil {
		return nil, err
	}
	if c.JWKSRefetchInterval, err = duration(lookup, "OIDC_JWKS_REFETCH_INTERVAL", 10*time.Second); err != nil {
		return nil, err
	}

	if v, n := lookup("DEBUG_ADDR"); v != "" {
		h, _, err := net.SplitHostPort(v)
		if err != nil || !isLoopbackHost(h) {
			return nil, bad(n, "%q is not a loopback host:port; profiles must not be public", v)
		}
		c.DebugAddr = v
	}

	format, formatName := lookup("LOG_FORMAT")
	switch strings.ToLower(format) {
	case "", "text":
		c.LogFormat = "text"
	case "json":
		c.LogFormat = "json"
	default:
		return nil, bad(formatName, "%q is not text or json", format)
	}
	if v, n := lookup("METRICS_ADDR"); v != "" {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return nil, bad(n, "%q is not host:port, such as 127.0.0.1:9090", v)
		}
		c.MetricsAddr = v
	}

	level, levelName := lookup("LOG_LEVEL")
	switch strings.ToLower(level) {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
		c.LogLevel = strings.ToLower(level)
	default:
		return nil, bad(levelName, "%q is not one of debug, info, warn, error", level)
	}
	return c, nil
}

func duration(lookup func(string) (string, string), name string, def time.Duration) (time.Duration, error) {
	v, n := lookup(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, bad(n, "%q is not a positive duration such as 30m or 12h", v)
	}
	return d, nil
}

// parseAuth0Domain accepts "tenant.auth0.com" and, because people paste it so,
// "https://tenant.auth0.com/".
func parseAuth0Domain(d string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(d, "https://"), "/")
	if s == "" || strings.ContainsAny(s, "/?#@ ") || strings.Contains(s, "://") {
		return "", fmt.Errorf("%q is not a domain such as your-tenant.us.auth0.com", d)
	}
	if _, err := url.Parse("https://" + s + "/"); err != nil {
		return "", fmt.Errorf("%q is not a domain such as your-tenant.us.auth0.com", d)
	}
	return s, nil
}

// parseIssuer requires https, except on loopback where http is allowed for
// local providers and tests.
func parseIssuer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an issuer URL such as https://login.example.com/", s)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return "", fmt.Errorf("%q must use https", s)
	}
	return s, nil
}

func parseBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q must be scheme://host[:port] with no path, query or fragment", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// isLoopbackHTTP reports whether base is an http URL on a loopback host.
func isLoopbackHTTP(base string) bool {
	u, err := url.Parse(base)
	return err == nil && u.Scheme == "http" && isLoopbackHost(u.Hostname())
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
