package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// env is an environment in os.Environ's form.
func env(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

const secret = "0123456789abcdef0123456789abcdef"

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), nil)
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if !c.DevMode {
		t.Error("DevMode = false with no issuer, want true")
	}
	if c.BaseURL != "http://localhost:3000" || c.ListenAddr != "localhost:3000" {
		t.Errorf("BaseURL, ListenAddr = %q, %q", c.BaseURL, c.ListenAddr)
	}
	if got := strings.Join(c.Scopes, " "); got != "openid profile email" {
		t.Errorf("Scopes = %q", got)
	}
	if c.Callback() != "http://localhost:3000/callback" {
		t.Errorf("Callback() = %q", c.Callback())
	}
	if c.IdleTimeout != 30*time.Minute || c.AbsoluteTimeout != 12*time.Hour {
		t.Errorf("timeouts = %v, %v", c.IdleTimeout, c.AbsoluteTimeout)
	}
	if c.Secure() {
		t.Error("Secure() = true for http")
	}
}

func TestLoadProvider(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantIssuer string
		wantAuth0  string
	}{
		{"auth0 domain", map[string]string{"AUTH0_DOMAIN": "t.us.auth0.com", "AUTH0_CLIENT_ID": "id", "AUTH0_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "https://t.us.auth0.com/", "t.us.auth0.com"},
		{"auth0 domain pasted as URL", map[string]string{"AUTH0_DOMAIN": "https://t.eu.auth0.com/", "AUTH0_CLIENT_ID": "id", "AUTH0_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "https://t.eu.auth0.com/", "t.eu.auth0.com"},
		{"generic issuer", map[string]string{"OIDC_ISSUER_URL": "https://login.example.com/realms/x", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "https://login.example.com/realms/x", ""},
		{"auth0 recognised from issuer", map[string]string{"OIDC_ISSUER_URL": "https://t.auth0.com/", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "https://t.auth0.com/", "t.auth0.com"},
		{"loopback http issuer", map[string]string{"OIDC_ISSUER_URL": "http://127.0.0.1:9000", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "http://127.0.0.1:9000", ""},
		{"same issuer and domain", map[string]string{"OIDC_ISSUER_URL": "https://t.auth0.com/", "AUTH0_DOMAIN": "t.auth0.com", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}, "https://t.auth0.com/", "t.auth0.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(nil, env(tt.env), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.DevMode || c.Issuer != tt.wantIssuer || c.Auth0Domain != tt.wantAuth0 {
				t.Errorf("got dev=%v issuer=%q auth0=%q, want issuer=%q auth0=%q", c.DevMode, c.Issuer, c.Auth0Domain, tt.wantIssuer, tt.wantAuth0)
			}
			if c.ClientID != "id" || c.ClientSecret != "s" {
				t.Errorf("client = %q/%q", c.ClientID, c.ClientSecret)
			}
		})
	}
}

// TestLoadErrors checks that every bad setting is an *Error naming it.
func TestLoadErrors(t *testing.T) {
	full := func(extra map[string]string) map[string]string {
		m := map[string]string{"OIDC_ISSUER_URL": "https://idp.example.com/", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}
		for k, v := range extra {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantSetting string
	}{
		{"issuer not https", nil, full(map[string]string{"OIDC_ISSUER_URL": "http://idp.example.com/"}), "OIDC_ISSUER_URL"},
		{"issuer garbage", nil, full(map[string]string{"OIDC_ISSUER_URL": "::nope"}), "OIDC_ISSUER_URL"},
		{"issuer with query", nil, full(map[string]string{"OIDC_ISSUER_URL": "https://idp.example.com/?x=1"}), "OIDC_ISSUER_URL"},
		{"domain with path", nil, full(map[string]string{"OIDC_ISSUER_URL": "", "AUTH0_DOMAIN": "t.auth0.com/x"}), "AUTH0_DOMAIN"},
		{"issuer contradicts domain", nil, full(map[string]string{"AUTH0_DOMAIN": "other.auth0.com"}), "OIDC_ISSUER_URL"},
		{"missing client id", nil, full(map[string]string{"OIDC_CLIENT_ID": ""}), "OIDC_CLIENT_ID"},
		{"missing client secret", nil, full(map[string]string{"OIDC_CLIENT_SECRET": ""}), "OIDC_CLIENT_SECRET"},
		{"every missing setting at once", nil, map[string]string{"AUTH0_DOMAIN": "t.auth0.com"}, "OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, SESSION_SECRET"},
		{"client id without issuer", nil, map[string]string{"AUTH0_CLIENT_ID": "id"}, "OIDC_ISSUER_URL"},
		{"missing session secret", nil, full(map[string]string{"SESSION_SECRET": ""}), "SESSION_SECRET"},
		{"short session secret", nil, full(map[string]string{"SESSION_SECRET": "short"}), "SESSION_SECRET"},
		{"scopes without openid", nil, full(map[string]string{"OIDC_SCOPES": "profile email"}), "OIDC_SCOPES"},
		{"base URL with path", nil, full(map[string]string{"APP_BASE_URL": "https://app.example.com/app"}), "APP_BASE_URL"},
		{"base URL relative", nil, full(map[string]string{"APP_BASE_URL": "app.example.com"}), "APP_BASE_URL"},
		{"redirect not absolute", nil, full(map[string]string{"OIDC_REDIRECT_URL": "/callback"}), "OIDC_REDIRECT_URL"},
		{"callback alias not absolute", nil, full(map[string]string{"AUTH0_CALLBACK_URL": "/callback"}), "AUTH0_CALLBACK_URL"},
		{"listen without port", nil, full(map[string]string{"LISTEN_ADDR": "localhost"}), "LISTEN_ADDR"},
		{"port not a number", nil, full(map[string]string{"PORT": "http"}), "PORT"},
		{"session store not redis", nil, full(map[string]string{"SESSION_STORE": "memcached://x"}), "SESSION_STORE"},
		{"idle timeout garbage", nil, full(map[string]string{"SESSION_IDLE_TIMEOUT": "soon"}), "SESSION_IDLE_TIMEOUT"},
		{"idle longer than absolute", nil, full(map[string]string{"SESSION_IDLE_TIMEOUT": "2h", "SESSION_ABSOLUTE_TIMEOUT": "1h"}), "SESSION_IDLE_TIMEOUT"},
		{"dev mode with a client secret", nil, map[string]string{"OIDC_CLIENT_SECRET": "s"}, "OIDC_ISSUER_URL"},
		{"dev mode with an https base URL", nil, map[string]string{"APP_BASE_URL": "https://app.example.com"}, "APP_BASE_URL"},
		{"dev mode with a public base URL", nil, map[string]string{"APP_BASE_URL": "http://app.example.com"}, "APP_BASE_URL"},
		{"dev mode with a public base URL by alias", nil, map[string]string{"AUTH0_BASE_URL": "https://app.example.com"}, "AUTH0_BASE_URL"},
		{"misspelt issuer is not dev mode", nil, map[string]string{"OIDC_ISSUER_ULR": "https://idp.example.com/"}, "OIDC_ISSUER_ULR"},
		{"misspelt domain is not dev mode", nil, map[string]string{"AUTH0_DOMIAN": "t.auth0.com"}, "AUTH0_DOMIAN"},
		{"older quickstart issuer name is not dev mode", nil, map[string]string{"AUTH0_ISSUER_BASE_URL": "https://t.auth0.com"}, "AUTH0_ISSUER_BASE_URL"},
		{"trusted proxies garbage", nil, full(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}), "TRUSTED_PROXIES"},
		{"trusted proxies bad prefix", nil, full(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/40"}), "TRUSTED_PROXIES"},
		{"short session secret by alias", nil, full(map[string]string{"SESSION_SECRET": "", "AUTH0_SECRET": "short"}), "AUTH0_SECRET"},
		{"dev mode on a public address", nil, map[string]string{"LISTEN_ADDR": "0.0.0.0:3000"}, "LISTEN_ADDR"},
		{"log level", nil, full(map[string]string{"LOG_LEVEL": "loud"}), "LOG_LEVEL"},
		{"log format", nil, full(map[string]string{"LOG_FORMAT": "xml"}), "LOG_FORMAT"},
		{"reauth max age", nil, full(map[string]string{"REAUTH_MAX_AGE": "soon"}), "REAUTH_MAX_AGE"},
		{"reauth max age below a second", nil, full(map[string]string{"REAUTH_MAX_AGE": "10ms"}), "REAUTH_MAX_AGE"},
		{"sessions per user", nil, full(map[string]string{"SESSION_MAX_PER_USER": "0"}), "SESSION_MAX_PER_USER"},
		{"management secret without id", nil, full(map[string]string{"AUTH0_MGMT_CLIENT_SECRET": "s"}), "AUTH0_MGMT_CLIENT_ID"},
		{"management audience not https", nil, full(map[string]string{"AUTH0_MGMT_AUDIENCE": "http://t.auth0.com/api/v2/"}), "AUTH0_MGMT_AUDIENCE"},
		{"metrics address without port", nil, full(map[string]string{"METRICS_ADDR": "127.0.0.1"}), "METRICS_ADDR"},
		{"rate limit", nil, full(map[string]string{"LOGIN_RATE_LIMIT": "-1"}), "LOGIN_RATE_LIMIT"},
		{"provider timeout", nil, full(map[string]string{"OIDC_HTTP_TIMEOUT": "0s"}), "OIDC_HTTP_TIMEOUT"},
		{"jwks refetch interval", nil, full(map[string]string{"OIDC_JWKS_REFETCH_INTERVAL": "often"}), "OIDC_JWKS_REFETCH_INTERVAL"},
		{"bad flag value", []string{"--session-secret", "short"}, full(nil), "--session-secret"},
		{"unknown flag", []string{"--nope"}, full(nil), "flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env), nil)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v, want *config.Error", err)
			}
			if ce.Setting != tt.wantSetting {
				t.Errorf("error names %q, want %q (%v)", ce.Setting, tt.wantSetting, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error repeats the session secret")
			}
		})
	}
}

func TestDevModeRemoteAllowed(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"LISTEN_ADDR": "0.0.0.0:3000", "DEV_ALLOW_REMOTE": "true"}), nil)
	if err != nil || !c.DevMode {
		t.Fatalf("Load = %v, dev=%v; want dev mode allowed on 0.0.0.0", err, c != nil && c.DevMode)
	}
}

// TestPrecedence: flags > environment > .env, and a primary name beats its
// alias at the same level.
func TestPrecedence(t *testing.T) {
	dotenv := map[string]string{
		"AUTH0_DOMAIN": "dotenv.auth0.com", "AUTH0_CLIENT_ID": "dotenv-id", "AUTH0_CLIENT_SECRET": "dotenv-secret",
		"SESSION_SECRET": secret, "APP_BASE_URL": "https://dotenv.example.com", "LISTEN_ADDR": "localhost:1111",
	}
	environ := map[string]string{"AUTH0_CLIENT_ID": "env-id", "OIDC_CLIENT_SECRET": "env-secret", "AUTH0_CLIENT_SECRET": "env-alias-secret", "LISTEN_ADDR": "localhost:2222"}
	args := []string{"--listen-addr", "localhost:3333"}
	c, err := Load(args, env(environ), dotenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"issuer from .env", c.Issuer, "https://dotenv.auth0.com/"},
		{"client id: env alias beats .env", c.ClientID, "env-id"},
		{"client secret: primary beats alias", c.ClientSecret, "env-secret"},
		{"base URL from .env", c.BaseURL, "https://dotenv.example.com"},
		{"listen: flag beats env", c.ListenAddr, "localhost:3333"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !c.Secure() {
		t.Error("Secure() = false for an https base URL")
	}
}

func TestPortAlone(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"OIDC_ISSUER_URL": "https://idp.example.com/", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret, "PORT": "8080"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" {
		t.Errorf("ListenAddr = %q, want :8080", c.ListenAddr)
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load([]string{"-h"}, env(nil), nil); !errors.Is(err, ErrHelp) {
		t.Errorf("Load(-h) = %v, want ErrHelp", err)
	}
}

func TestDevModePort(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "3100"}, "localhost:3100"},
		{map[string]string{"PORT": "3100", "DEV_ALLOW_REMOTE": "true"}, ":3100"},
		{map[string]string{"PORT": "3100", "LISTEN_ADDR": "127.0.0.1:4000"}, "127.0.0.1:4000"},
	}
	for _, tt := range tests {
		c, err := Load(nil, env(tt.env), nil)
		if err != nil {
			t.Errorf("Load(%v) = %v", tt.env, err)
			continue
		}
		if !c.DevMode || c.ListenAddr != tt.want {
			t.Errorf("Load(%v): dev=%v ListenAddr=%q, want dev mode on %q", tt.env, c.DevMode, c.ListenAddr, tt.want)
		}
	}
}

// TestAuth0QuickstartAliases: the names Auth0's current quickstarts write
// into .env work unchanged.
func TestAuth0QuickstartAliases(t *testing.T) {
	dotenv := map[string]string{
		"AUTH0_DOMAIN": "t.us.auth0.com", "AUTH0_CLIENT_ID": "id", "AUTH0_CLIENT_SECRET": "s",
		"AUTH0_SECRET": secret, "AUTH0_BASE_URL": "https://app.example.com",
	}
	c, err := Load(nil, nil, dotenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if string(c.SessionSecret) != secret || c.BaseURL != "https://app.example.com" {
		t.Errorf("SessionSecret from AUTH0_SECRET = %v, BaseURL from AUTH0_BASE_URL = %q", string(c.SessionSecret) == secret, c.BaseURL)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings for a quickstart .env: %v", c.Warnings)
	}
}

func TestUnknownSettingsWarned(t *testing.T) {
	environ := map[string]string{"AUTH0_CLIENT_SECRT": "x", "SESSION_IDLE_TIMOUT": "5m", "HOME": "/root", "LOGIN_RATE": "5", "OIDC_ISSUER_URL": "https://idp.example.com/", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret}
	dotenv := map[string]string{"APP_BASEURL": "https://app.example.com", "DEV_ALOW_REMOTE": "true"}
	c, err := Load(nil, env(environ), dotenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{
		"APP_BASEURL (in the .env) is not a setting; did you mean APP_BASE_URL?",
		"AUTH0_CLIENT_SECRT (in the environment) is not a setting; did you mean AUTH0_CLIENT_SECRET?",
		"DEV_ALOW_REMOTE (in the .env) is not a setting; did you mean DEV_ALLOW_REMOTE?",
		"LOGIN_RATE (in the environment) is not a setting; did you mean LOGIN_RATE_LIMIT?",
		"SESSION_IDLE_TIMOUT (in the environment) is not a setting; did you mean SESSION_IDLE_TIMEOUT?",
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TrustedProxies.String(); got != "10.0.0.0/8,192.0.2.7/32" {
		t.Errorf("TrustedProxies = %q", got)
	}
	c, _ = Load(nil, nil, nil)
	if !c.TrustedProxies.Empty() {
		t.Errorf("default TrustedProxies = %q, want none", c.TrustedProxies)
	}
}
