package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loginapp/login/internal/devidp"
)

// TestMain lets a test run this binary as the real server process: with
// RUN_MAIN=1 the test binary is main.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBadSettingExits2 runs the process with bad settings: exit status 2,
// exactly one line on stderr naming the setting, nothing listening.
func TestBadSettingExits2(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		args    []string
		dotenv  string // written to .env in the working directory
		setting string
	}{
		{"missing client secret", []string{"OIDC_ISSUER_URL=https://idp.example.com/", "OIDC_CLIENT_ID=x", "SESSION_SECRET=0123456789abcdef0123456789abcdef"}, nil, "", "OIDC_CLIENT_SECRET"},
		{"short session secret", []string{"AUTH0_DOMAIN=t.auth0.com", "AUTH0_CLIENT_ID=x", "AUTH0_CLIENT_SECRET=y", "SESSION_SECRET=short"}, nil, "", "SESSION_SECRET"},
		{"bad flag", nil, []string{"--app-base-url", "ftp://x"}, "", "--app-base-url"},
		{"listen address taken", []string{"LISTEN_ADDR=" + takenAddr(t)}, nil, "", "LISTEN_ADDR"},
		// An Auth0 quickstart's .env is read (its short secret is what fails).
		{"bad value in .env", nil, nil, "AUTH0_DOMAIN='t.us.auth0.com'\nAUTH0_CLIENT_ID=abc\nAUTH0_CLIENT_SECRET=\"s3cret\"\n# comment\nSESSION_SECRET=short\n", "SESSION_SECRET"},
		{"environment beats .env", []string{"SESSION_SECRET=also-short"}, nil, "OIDC_ISSUER_URL=https://idp.example.com/\nOIDC_CLIENT_ID=x\nOIDC_CLIENT_SECRET=y\nSESSION_SECRET=0123456789abcdef0123456789abcdef\n", "SESSION_SECRET"},
		{"malformed .env", nil, nil, "AUTH0_DOMAIN='unterminated\n", ".env"},
		{"every missing setting in one line", []string{"AUTH0_DOMAIN=t.auth0.com"}, nil, "", "OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, SESSION_SECRET"},
		{"bad trusted proxies", []string{"AUTH0_DOMAIN=t.auth0.com", "AUTH0_CLIENT_ID=x", "AUTH0_CLIENT_SECRET=y", "SESSION_SECRET=0123456789abcdef0123456789abcdef", "TRUSTED_PROXIES=10.0.0.0/8,lb.internal"}, nil, "", "TRUSTED_PROXIES"},
		// Dev mode, with demo users and published passwords, never starts
		// on a configuration that looks like production.
		{"dev mode with an https base URL", []string{"APP_BASE_URL=https://app.example.com"}, nil, "", "APP_BASE_URL"},
		{"dev mode with a public base URL from a quickstart .env", nil, nil, "AUTH0_BASE_URL=http://app.example.com\n", "AUTH0_BASE_URL"},
		{"dev mode with a client secret and no issuer", []string{"AUTH0_CLIENT_SECRET=y"}, nil, "", "OIDC_ISSUER_URL"},
		{"misspelt OIDC_ISSUER_URL is not dev mode", []string{"OIDC_ISSUER_ULR=https://idp.example.com/"}, nil, "", "OIDC_ISSUER_ULR"},
		{"misspelt AUTH0_DOMAIN in .env is not dev mode", nil, nil, "AUTH0_DOMIAN=t.auth0.com\n", "AUTH0_DOMIAN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Dir = t.TempDir()
			if tt.dotenv != "" {
				if err := os.WriteFile(filepath.Join(cmd.Dir, ".env"), []byte(tt.dotenv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd.Env = append([]string{"RUN_MAIN=1", "DATA_DIR=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, tt.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			out := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.HasPrefix(out, tt.setting+": ") {
				t.Errorf("stderr = %q, want one line starting with %q", stderr.String(), tt.setting+": ")
			}
		})
	}
}

func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProviderDownThenBack: the app starts while the provider is down, says
// so (/readyz 503, a 503 page on Log In), and works as soon as the provider
// is up, without a restart.
func TestProviderDownThenBack(t *testing.T) {
	appAddr, idpAddr := freePort(t), freePort(t)
	app := startApp(t, map[string]string{
		"LISTEN_ADDR":        appAddr,
		"OIDC_ISSUER_URL":    "http://" + idpAddr,
		"OIDC_CLIENT_ID":     "app",
		"OIDC_CLIENT_SECRET": "app-secret",
		"SESSION_SECRET":     "0123456789abcdef0123456789abcdef",
	})
	c := newClient(t)
	if r := c.get(app.URL + "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the provider down = %d, want 503", r.StatusCode)
	}
	r := c.get(app.URL + "/login")
	if r.StatusCode != http.StatusServiceUnavailable || r.Doc(t).Find(`[data-testid="error-card"]`).Length() != 1 {
		t.Fatalf("/login with the provider down = %d, want the 503 page:\n%s", r.StatusCode, truncate(r.Body, 1500))
	}
	if r := c.get(app.URL + "/"); r.StatusCode != http.StatusOK {
		t.Errorf("index with the provider down = %d, want 200", r.StatusCode)
	}

	idp, err := devidp.Start(context.Background(), devidp.Config{
		Addr: idpAddr, ClientID: "app", ClientSecret: "app-secret",
		RedirectURIs: []string{app.URL + "/callback"}, PostLogoutRedirectURIs: []string{app.URL + "/"},
	})
	if err != nil {
		t.Fatalf("start provider: %v", err)
	}
	defer idp.Close()
	for _, u := range idp.Users() {
		app.DevUsers[u.Username] = u.Password
	}
	deadline := time.Now().Add(15 * time.Second)
	for c.get(app.URL+"/readyz").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover within 15s of the provider coming back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	profile, at := c.login(app, "/login", "bob")
	if profile.StatusCode != http.StatusOK || !strings.HasSuffix(at, "/profile") {
		t.Fatalf("login after recovery: %d at %s", profile.StatusCode, at)
	}
	if got := profile.Doc(t).Find(`[data-testid="profile-name"]`).Text(); got != "Bob Builder" {
		t.Errorf("profile name = %q", got)
	}
}

// TestGracefulShutdown runs the process, serves a request and sends SIGINT:
// the process says it is shutting down and exits 0 promptly, every time.
func TestGracefulShutdown(t *testing.T) {
	idp, err := devidp.Start(context.Background(), devidp.Config{ClientID: "app", ClientSecret: "app-secret", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	for i := range 5 {
		addr := freePort(t)
		cmd := exec.Command(os.Args[0])
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "DATA_DIR=" + t.TempDir(), "LISTEN_ADDR=" + addr,
			"OIDC_ISSUER_URL=" + idp.Issuer(), "OIDC_CLIENT_ID=app", "OIDC_CLIENT_SECRET=app-secret",
			"SESSION_SECRET=0123456789abcdef0123456789abcdef"}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("run %d: no /healthz within 10s; stderr:\n%s", i, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: exit after SIGINT = %v; stderr:\n%s", i, err, stderr.String())
			}
		case <-time.After(12 * time.Second):
			cmd.Process.Signal(syscall.SIGQUIT)
			<-done
			t.Fatalf("run %d: still running 12s after SIGINT; stderr (with goroutines):\n%s", i, stderr.String())
		}
		if !strings.Contains(stderr.String(), "shutting down") {
			t.Errorf("run %d: no 'shutting down' line:\n%s", i, stderr.String())
		}
	}
}

// TestUnknownSettingWarned: a variable that looks like a setting but is not
// one is named at start, with the closest real one, and the server starts.
func TestUnknownSettingWarned(t *testing.T) {
	app := startApp(t, map[string]string{"SESSION_IDLE_TIMOUT": "5m", "LOGIN_RATE": "5"})
	for _, want := range []string{
		"SESSION_IDLE_TIMOUT (in the environment) is not a setting; did you mean SESSION_IDLE_TIMEOUT?",
		"LOGIN_RATE (in the environment) is not a setting; did you mean LOGIN_RATE_LIMIT?",
	} {
		if !strings.Contains(app.Stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, app.Stderr.String())
		}
	}
}

// TestDevModePort: PORT alone means loopback PORT in dev mode.
func TestDevModePort(t *testing.T) {
	_, port, _ := net.SplitHostPort(freePort(t))
	app := startApp(t, map[string]string{"LISTEN_ADDR": "", "PORT": port})
	if want := "http://localhost:" + port; app.URL != want {
		t.Fatalf("dev mode with PORT=%s listens on %s, want %s", port, app.URL, want)
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err != nil {
		t.Errorf("not listening on loopback port %s: %v", port, err)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip == nil || ip.IsLoopback() || ip.To4() == nil {
				continue
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), 300*time.Millisecond); err == nil {
				c.Close()
				t.Errorf("dev mode with PORT alone answers on %s, not only on loopback", ip)
			}
		}
	}
}
