package redistest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters on loopback, without
// replicas, stopped when the test ends.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create (the slots split three ways) and waits until
// every node reports cluster_state:ok. Without redis-server the test is
// skipped, unless CI=true.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := binary(t, "redis-server")
	cli := binary(t, "redis-cli")
	c := &Cluster{}
	for range 3 {
		c.Nodes = append(c.Nodes, startServer(t, bin, "", []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", "{port2}", // the bus port; port+10000 may be taken or out of range
			"--cluster-node-timeout", "2000",
		}))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, err := n.Client().ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %v\n%s", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// URL is the SESSION_STORE value for this cluster.
func (c *Cluster) URL() string { return "redis-cluster://" + strings.Join(c.Addrs(), ",") }

// Client returns a cluster client for inspecting the cluster; the caller
// closes it.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true})
}

// Sentinel is a master, one replica and one Sentinel watching them, which
// fails over within a few seconds of losing the master. The replica
// replicates through a proxy that can hold the replication stream back
// (StallReplication), as a slow network or a busy replica would, while the
// Sentinel and the master still see the replica connected.
type Sentinel struct {
	t        testing.TB
	Name     string
	Sentinel *Server
	// nodes are the master and the replica as started; after a failover
	// the replica is the master.
	nodes [2]*Server
	link  *linkProxy
}

// SentinelMaster is the master name that StartSentinel's Sentinel uses.
const SentinelMaster = "sessions"

// StartSentinel starts a master, a replica of it, and a Sentinel (quorum 1,
// down-after-milliseconds 1000, failover-timeout 5000), and waits until
// the replica is in sync and the Sentinel knows it. Without redis-server
// the test is skipped, unless CI=true.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := binary(t, "redis-server")
	s := &Sentinel{t: t, Name: SentinelMaster}
	// No delay before the replica's first full sync (the default waits 5s
	// for more replicas).
	sync := []string{"--repl-diskless-sync-delay", "0"}
	s.nodes[0] = startServer(t, bin, "", sync)
	s.link = startLinkProxy(t, s.nodes[0].Addr())
	s.nodes[1] = startServer(t, bin, "", append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(s.link.port)}, sync...))
	ctx := context.Background()
	waitFor(t, 20*time.Second, "the replica in sync", func() bool {
		info, err := s.nodes[1].Client().Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	// The first acknowledgements of a new replica can take up to its
	// periodic one (a second); tests that wait for a replica start after
	// the link answers at once.
	master := s.nodes[0].Client()
	waitFor(t, 20*time.Second, "prompt acknowledgements of the replica", func() bool {
		master.Set(ctx, "redistest:warm-up", "1", 0)
		t0 := time.Now()
		n, err := master.Wait(ctx, 1, 2*time.Second).Result()
		return err == nil && n == 1 && time.Since(t0) < 50*time.Millisecond
	})
	master.Del(ctx, "redistest:warm-up")
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n"+
		"sentinel parallel-syncs %[1]s 1\n", s.Name, s.nodes[0].port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Sentinel = startServer(t, bin, conf, []string{"--sentinel"})
	waitFor(t, 20*time.Second, "the Sentinel to know the replica", func() bool {
		reps, err := s.sentinel().Replicas(ctx, s.Name).Result()
		if err != nil || len(reps) != 1 {
			return false
		}
		flags := reps[0]["flags"]
		return flags == "slave"
	})
	return s
}

func (s *Sentinel) sentinel() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr(), DisableIdentity: true})
}

// URL is the SESSION_STORE value for this setup.
func (s *Sentinel) URL() string { return "redis-sentinel://" + s.Sentinel.Addr() + "/" + s.Name }

// Master returns the server that the Sentinel names as master now.
func (s *Sentinel) Master() *Server {
	s.t.Helper()
	sc := s.sentinel()
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(context.Background(), s.Name).Result()
	if err != nil {
		s.t.Fatalf("ask the Sentinel for the master: %v", err)
	}
	for _, n := range s.nodes {
		if n.Addr() == strings.Join(addr, ":") {
			return n
		}
	}
	s.t.Fatalf("the Sentinel names %v as master, not a server of this setup", addr)
	return nil
}

// Replica returns the server that is not the master now.
func (s *Sentinel) Replica() *Server {
	s.t.Helper()
	m := s.Master()
	if m == s.nodes[0] {
		return s.nodes[1]
	}
	return s.nodes[0]
}

// KillMaster ends the master with SIGKILL, as a crash would, and returns
// the server that should take over.
func (s *Sentinel) KillMaster() (next *Server) {
	s.t.Helper()
	m, next := s.Master(), s.Replica()
	m.Kill()
	return next
}

// WaitPromotion waits until the Sentinel names next as master and next
// answers as one, and returns how long that took.
func (s *Sentinel) WaitPromotion(next *Server, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	ctx := context.Background()
	sc := s.sentinel()
	defer sc.Close()
	waitFor(s.t, timeout, "the promotion of "+next.Addr(), func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, s.Name).Result()
		if err != nil || strings.Join(addr, ":") != next.Addr() {
			return false
		}
		info, err := next.Client().Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:master")
	})
	return time.Since(start)
}

// StallReplication holds back what the first master sends its replica:
// the replica stays connected and answers the Sentinel, but applies and
// acknowledges nothing new. If the master dies meanwhile, what was held
// back is lost, as Redis's asynchronous replication loses it.
func (s *Sentinel) StallReplication() { s.link.stall(true) }

// ResumeReplication sends on what StallReplication held back.
func (s *Sentinel) ResumeReplication() { s.link.stall(false) }

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no %s within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// linkProxy forwards the replication connections of a replica to its
// master, and can hold back the master's side.
type linkProxy struct {
	port int
	ln   net.Listener

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
}

func startLinkProxy(t testing.TB, master string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("replication proxy: %v", err)
	}
	p := &linkProxy{port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			replica, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(replica, master)
		}
	}()
	return p
}

func (p *linkProxy) stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *linkProxy) serve(replica net.Conn, master string) {
	defer replica.Close()
	up, err := net.Dial("tcp", master)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(up, replica) // the replica's commands and acknowledgements
		up.Close()
	}()
	// The master's stream: read at once, so that the master's buffers do
	// not fill, and passed on unless stalled. What is held back when the
	// master goes away is dropped.
	held := make(chan []byte, 1<<16)
	var gone atomic.Bool
	go func() {
		defer close(held)
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				held <- bytes.Clone(buf[:n])
			}
			if err != nil {
				gone.Store(true)
				return
			}
		}
	}()
	for b := range held {
		p.mu.Lock()
		waited := false
		for p.stalled {
			waited = true
			p.cond.Wait()
		}
		p.mu.Unlock()
		if waited && gone.Load() {
			return // the master died while this was held back: lost
		}
		if _, err := replica.Write(b); err != nil {
			return
		}
	}
}
