package browsertest

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// app is one server process in dev mode.
type app struct {
	URL string
	// Users maps the banner's dev usernames to their passwords.
	Users map[string]string

	mu     sync.Mutex
	stderr strings.Builder
}

// startApp runs the built server as a subprocess in dev mode, with extra
// environment variables on top of the defaults, and waits for the
// "listening on URL" line. The process is stopped with SIGTERM when the test
// ends; its stderr is logged when the test failed.
func startApp(t *testing.T, extraEnv ...string) *app {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(serverBin)
	// A working directory of its own, so no .env is read, and only the
	// environment given here, so no OIDC_* of the developer's shell turns
	// dev mode off.
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"LISTEN_ADDR=127.0.0.1:0",
		"DATA_DIR=" + dir,
		"LOGIN_RATE_LIMIT=100000",
		"LOG_LEVEL=warn",
	}, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	a := &app{Users: map[string]string{}}
	listening := make(chan string, 1)
	exited := make(chan error, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.stderr.WriteString(line + "\n")
			a.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "dev user: "); ok {
				if f := strings.Fields(rest); len(f) >= 2 {
					a.mu.Lock()
					a.Users[f[0]] = f[1]
					a.mu.Unlock()
				}
			}
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case listening <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("server did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", a.Stderr())
		}
	})

	select {
	case u := <-listening:
		a.URL = u
	case err := <-exited:
		exited <- err
		t.Fatalf("server exited before listening: %v\nstderr:\n%s", err, a.Stderr())
	case <-time.After(20 * time.Second):
		t.Fatalf("no 'listening on' line within 20s; stderr:\n%s", a.Stderr())
	}
	if len(a.Users) == 0 {
		t.Fatalf("dev mode banner lists no 'dev user:' lines; stderr:\n%s", a.Stderr())
	}
	return a
}

// Stderr is what the server wrote so far.
func (a *app) Stderr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.String()
}

// Password is the banner's password for the dev user.
func (a *app) Password(t *testing.T, user string) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.Users[user]
	if !ok {
		t.Fatalf("dev mode banner has no user %q", user)
	}
	return p
}
