// Package redistest runs a real redis-server (the Debian package) for tests:
// on a free loopback port, without persistence unless a test saves a
// snapshot, and stopped when the test ends. Tests can kill, restart, pause
// and resume it to exercise outages. StartCluster runs a Redis Cluster of
// three masters, StartSentinel a master, a replica and a Sentinel that
// fails over within a few seconds.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server on a fixed port, which may be stopped and
// started again.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// conf is a configuration file given before the other arguments (a
	// Sentinel's), and args are more arguments.
	conf string
	args []string

	mu     sync.Mutex
	proc   *process
	client *redis.Client
}

type process struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{} // closed when the process has exited
}

// Start runs redis-server on a free loopback port and stops it when the
// test ends. Without redis-server the test is skipped, unless CI=true: CI
// must run every test, so there a missing Redis is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, binary(t, "redis-server"), "", nil)
}

// binary finds a program of the redis-server package, or skips (fails in
// CI) the test.
func binary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (apt-get install redis-server): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install redis-server): %v", name, err)
	}
	return bin
}

// startServer starts bin with the usual arguments and args, which may use
// the placeholders {port} and {port2} for the server's port and a second
// free port of its own.
func startServer(t testing.TB, bin, conf string, args []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), conf: conf}
	t.Cleanup(s.cleanup)
	var lastErr error
	for range 5 { // another process may take the free port first
		s.port = freePort(t)
		port2 := strconv.Itoa(freePort(t))
		s.args = nil
		for _, a := range args {
			a = strings.ReplaceAll(a, "{port}", strconv.Itoa(s.port))
			s.args = append(s.args, strings.ReplaceAll(a, "{port2}", port2))
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the SESSION_STORE value for this server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client for inspecting the server, closed when the test
// ends.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true})
	}
	return s.client
}

// Kill ends redis-server with SIGKILL, as a crash would, and waits for it.
// Data not saved with SAVE is lost.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		s.t.Fatal("redistest: Kill of a server that is not running")
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Restart starts redis-server again on the same port; it loads the
// snapshot of the last SAVE, if any.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restart redis-server on %s: %v", s.Addr(), err)
}

// Pause stops the process (SIGSTOP): connections are accepted by the
// kernel but nothing answers, as with a Redis stalled by a slow command or
// a full disk.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		s.t.Fatal("redistest: signal to a server that is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}

// UsedMemory returns INFO memory's used_memory in bytes.
func (s *Server) UsedMemory(ctx context.Context) (int64, error) {
	info, err := s.Client().Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, line := range bytes.Split([]byte(info), []byte("\r\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("used_memory:")); ok {
			n, err = strconv.ParseInt(string(v), 10, 64)
			return n, err
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	p := &process{cmd: cmd, out: new(bytes.Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !ping(s.Addr()) {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited: %s\n%s", cmd.ProcessState, p.out)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("redis-server not answering on %s within 10s\n%s", s.Addr(), p.out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// ping reports whether a Redis answers PING at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}

func (s *Server) cleanup() {
	s.mu.Lock()
	p, c := s.proc, s.client
	s.proc, s.client = nil, nil
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
	if p != nil {
		p.cmd.Process.Signal(syscall.SIGKILL) // also ends a paused process
		<-p.done
	}
}
