package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loginapp/login/internal/session/redistest"
)

// TestRedisTTL: a session and its indexes carry a TTL at the session's
// expiry, which activity extends, and Redis forgets them by itself.
func TestRedisTTL(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client()
	ctx := context.Background()
	f := newStoreFixture(t, newTestRedis(t, srv), 30*time.Minute, 12*time.Hour)
	r := f.login(t, simpleRecord())

	keys, _ := rc.Keys(ctx, "login:*").Result()
	if len(keys) != 4 || !slices.Contains(keys, "login:live") {
		t.Fatalf("keys %v, want a session, a subject index, a sid index and the set of live sessions", keys)
	}
	for _, k := range keys {
		if keyTag(k) == "" && k != "login:live" {
			t.Errorf("key %s has no {tag}", k)
		}
	}
	var session string
	for _, k := range keys {
		ttl, err := rc.PTTL(ctx, k).Result()
		if err != nil || ttl < 29*time.Minute || ttl > 30*time.Minute {
			t.Errorf("TTL of %s = %v, %v; want the idle timeout, 30m", k, ttl, err)
		}
		if strings.HasPrefix(k, "login:s:") {
			session = k
		}
	}
	f.clock.Add(10 * time.Minute)
	f.visit(t, r)
	if ttl := rc.PTTL(ctx, session).Val(); ttl < 39*time.Minute {
		t.Errorf("TTL after activity 10 minutes later = %v, want about 40m", ttl)
	}
}

func TestRedisExpires(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client()
	ctx := context.Background()
	f := newStoreFixture(t, newTestRedis(t, srv), 300*time.Millisecond, time.Hour)
	f.store.opts.Now = time.Now // Redis's own clock decides here
	f.login(t, simpleRecord())
	if n := rc.Exists(ctx, rc.Keys(ctx, "login:*").Val()...).Val(); n != 4 {
		t.Fatalf("%d keys right after login, want 4 (three of the session's, the set of live sessions)", n)
	}
	time.Sleep(400 * time.Millisecond)
	if keys := rc.Keys(ctx, "login:*").Val(); len(keys) != 0 {
		t.Fatalf("keys left after the idle timeout: %v", keys)
	}
}

// TestRedisSharedByInstances: what one instance writes or deletes, another
// sees at once; a lock taken by one holds the other off.
func TestRedisSharedByInstances(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newTestRedis(t, srv), newTestRedis(t, srv)
	ctx := context.Background()
	now := time.Now()
	a.Put(ctx, testKey("alice", "1"), []byte("v"), meta("alice", "op-1", now, time.Hour))
	a.Put(ctx, testKey("alice", "2"), []byte("v"), meta("alice", "op-2", now, time.Hour))
	if _, err := b.Get(ctx, testKey("alice", "1")); err != nil {
		t.Fatalf("B does not see A's session: %v", err)
	}
	if items, err := b.List(ctx, "alice"); err != nil || len(items) != 2 {
		t.Fatalf("B lists %d of A's sessions, %v; want 2", len(items), err)
	}
	if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
		t.Fatalf("B: DeleteSID = %d, %v", n, err)
	}
	if _, err := a.Get(ctx, testKey("alice", "1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("A still sees the session B deleted: %v", err)
	}
	if n, _ := b.DeleteSubject(ctx, "alice"); n != 1 {
		t.Fatalf("B: DeleteSubject = %d, want 1", n)
	}
	exp := now.Add(time.Hour)
	if first, _ := a.Once(ctx, "jti:x", exp); !first {
		t.Fatal("A: first Once = false")
	}
	if used, _ := b.Used(ctx, "jti:x"); !used {
		t.Fatal("B: a jti A has seen is not used for B")
	}
	if first, _ := b.Once(ctx, "jti:x", exp); first {
		t.Fatal("B: a jti A has seen is new to B")
	}

	unlock, err := a.Lock(ctx, "refresh:s", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "refresh:s", 5*time.Second); err == nil {
		t.Fatal("B took the lock A holds")
	}
	unlock()
	unlockB, err := b.Lock(ctx, "refresh:s", 5*time.Second)
	if err != nil {
		t.Fatalf("B after A unlocked: %v", err)
	}
	unlockB()

	// A holder that never unlocks (it crashed) holds for the TTL only.
	if _, err := a.Lock(ctx, "refresh:crashed", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	unlockB, err = b.Lock(ctx, "refresh:crashed", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v for a lock with a 200ms TTL", d)
	}
}

// TestRedisOutage: a dead or stalled Redis fails calls quickly, with an
// error that is not "no session"; the same client works again when Redis is
// back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, srv)
	ctx := context.Background()
	x := testKey("alice", "x")
	r.Put(ctx, x, []byte("v"), meta("alice", "", time.Now(), time.Hour))
	if err := srv.Client().Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		_, err := r.Get(ctx, x)
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Get with Redis down: err = %v, want a failure", err)
		}
		if err := r.Ping(ctx); err == nil {
			t.Fatal("Ping with Redis down succeeded")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("two calls took %v with Redis down", d)
		}
	}
	back := func(t *testing.T) {
		t.Helper()
		if _, err := r.Get(ctx, x); err != nil {
			t.Fatalf("Get after Redis came back: %v", err)
		}
	}
	t.Run("killed", func(t *testing.T) {
		srv.Kill()
		check(t)
		srv.Restart()
		back(t)
	})
	t.Run("stalled", func(t *testing.T) {
		srv.Pause()
		check(t)
		srv.Resume()
		back(t)
	})
}

// TestRedisCorruptEntry: a value that is not an entry is no session.
func TestRedisCorruptEntry(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, srv)
	ctx := context.Background()
	bad := testKey("alice", "bad")
	srv.Client().Set(ctx, "login:"+bad, "xyz", time.Minute)
	if _, err := r.Get(ctx, bad); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	// Deleting it works too.
	if err := r.Delete(ctx, bad); err != nil {
		t.Fatal(err)
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		cfg, err := ParseRedisURL("redis://:pw@127.0.0.1:6380/2")
		if err != nil {
			t.Fatal(err)
		}
		opts := cfg.Simple
		if opts == nil || cfg.Failover != nil || cfg.Cluster != nil {
			t.Fatalf("parsed %+v, want simple options only", cfg)
		}
		if opts.Addr != "127.0.0.1:6380" || opts.DB != 2 || opts.Password != "pw" {
			t.Errorf("parsed %s db %d", opts.Addr, opts.DB)
		}
		if opts.DialTimeout != time.Second || opts.ReadTimeout != time.Second || opts.WriteTimeout != time.Second || opts.PoolTimeout != time.Second || opts.MaxRetries != 1 {
			t.Errorf("timeouts %v %v %v %v retries %d; want 1s and 1 retry", opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout, opts.MaxRetries)
		}
		cfg, err = ParseRedisURL("rediss://127.0.0.1:6380/0?read_timeout=3s&max_retries=-1")
		if err != nil {
			t.Fatal(err)
		}
		if opts := cfg.Simple; opts.ReadTimeout != 3*time.Second || opts.MaxRetries != -1 || opts.TLSConfig == nil {
			t.Errorf("the URL's own settings were not kept: %v %d tls %v", opts.ReadTimeout, opts.MaxRetries, opts.TLSConfig != nil)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		cfg, err := ParseRedisURL("redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/sessions?db=3&dial_timeout=2s&sentinel_password=sp")
		if err != nil {
			t.Fatal(err)
		}
		o := cfg.Failover
		if o == nil || cfg.Simple != nil || cfg.Cluster != nil {
			t.Fatalf("parsed %+v, want failover options only", cfg)
		}
		if want := []string{"10.0.0.1:26379", "10.0.0.2:26380", "[::1]:26381"}; !slices.Equal(o.SentinelAddrs, want) {
			t.Errorf("sentinels %v, want %v", o.SentinelAddrs, want)
		}
		if o.MasterName != "sessions" || o.DB != 3 || o.Password != "s3cret" || o.SentinelPassword != "sp" {
			t.Errorf("master %q db %d password %v sentinel password %v", o.MasterName, o.DB, o.Password == "s3cret", o.SentinelPassword == "sp")
		}
		if o.DialTimeout != 2*time.Second || o.ReadTimeout != time.Second || o.WriteTimeout != time.Second || o.PoolTimeout != time.Second || o.MaxRetries != 1 {
			t.Errorf("timeouts %v %v %v %v retries %d; want the URL's 2s dial and 1s and 1 retry otherwise", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries)
		}
		if got := cfg.Addrs(); len(got) != 3 {
			t.Errorf("Addrs = %v", got)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		cfg, err := ParseRedisURL("redis-cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001?read_timeout=2s&max_retries=3")
		if err != nil {
			t.Fatal(err)
		}
		o := cfg.Cluster
		if o == nil || cfg.Simple != nil || cfg.Failover != nil {
			t.Fatalf("parsed %+v, want cluster options only", cfg)
		}
		if want := []string{"10.0.0.1:7000", "10.0.0.2:7001"}; !slices.Equal(o.Addrs, want) || o.Password != "s3cret" {
			t.Errorf("nodes %v password %v, want %v", o.Addrs, o.Password == "s3cret", want)
		}
		if o.ReadTimeout != 2*time.Second || o.DialTimeout != time.Second || o.WriteTimeout != time.Second || o.PoolTimeout != time.Second || o.MaxRetries != 3 {
			t.Errorf("timeouts %v %v %v %v retries %d", o.ReadTimeout, o.DialTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries)
		}
		if _, err := ParseRedisURL("redis-cluster://10.0.0.1:7000"); err != nil {
			t.Errorf("one seed node: %v", err)
		}
	})
	bad := []string{
		"redis://:s3cret@host:1/x",
		"redis://host:1/0?nope=1",
		"unix:///tmp/redis.sock",
		"ftp://host",
		"redis:/host:1",
		"redis-sentinel://:s3cret@host:1",                  // no master name
		"redis-sentinel://:s3cret@host:1/a/b",              // not a name
		"redis-sentinel://:s3cret@host:1,host/m",           // no port
		"redis-sentinel://:s3cret@host:1/m?db=x",           // not a database
		"redis-sentinel://:s3cret@host:1/m?bogus=s3cret",   // unknown option
		"redis-cluster://:s3cret@host:1/0",                 // a Cluster has no databases
		"redis-cluster://:s3cret@host:1,:2",                // no host
		"redis-cluster://:s3cret@host:1?read_timeout=soon", // not a duration
		"redis-cluster://:s%zzcret@host:1",                 // not URL-encoded
		"redis-cluster://:s3cret@",                         // no address
	}
	for _, raw := range bad {
		_, err := ParseRedisURL(raw)
		if err == nil {
			t.Errorf("%s: no error", raw)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "zzcret") {
			t.Errorf("%s: the error repeats the password: %v", raw, err)
		}
	}
}

// TestRedisPipelinedReadsSeeDeletions: session reads are pipelined with
// those of concurrent requests; a read sent after a deletion was answered
// (on this instance or another) never sees the deleted record, under load.
func TestRedisPipelinedReadsSeeDeletions(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newTestRedis(t, srv), newTestRedis(t, srv)
	if a.reads == nil {
		t.Fatal("session reads are not pipelined")
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				k := testKey(fmt.Sprintf("user%d", g), fmt.Sprintf("k%d", i))
				if err := a.Put(ctx, k, []byte("v"), meta(fmt.Sprintf("user%d", g), "", time.Now(), time.Hour)); err != nil {
					errs <- err
					return
				}
				if _, err := a.Get(ctx, k); err != nil {
					errs <- fmt.Errorf("read after write: %v", err)
					return
				}
				deleter := a
				if i%2 == 1 {
					deleter = b // the other instance
				}
				if err := deleter.Delete(ctx, k); err != nil {
					errs <- err
					return
				}
				if _, err := a.Get(ctx, k); !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("read after delete: err = %v, want ErrNotFound", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a.readsPipelined.Load() == 0 {
		t.Fatal("no read went through the pipeline")
	}
}

// TestRedisPipelinedReadsStall: concurrent reads, pipelined, fail at their
// own deadline when Redis stalls, and work again when it is back.
func TestRedisPipelinedReadsStall(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, srv)
	ctx := context.Background()
	x := testKey("alice", "x")
	if err := r.Put(ctx, x, []byte("v"), meta("alice", "", time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	read := func() []error {
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Go(func() { _, errs[i] = r.Get(ctx, x) })
		}
		wg.Wait()
		return errs
	}
	srv.Pause()
	start := time.Now()
	for _, err := range read() {
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get with Redis stalled: err = %v, want a failure", err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("16 concurrent reads took %v with Redis stalled; the deadline is %v", d, r.timeout)
	}
	pipelined := r.readsPipelined.Load()
	srv.Resume()
	for _, err := range read() {
		if err != nil {
			t.Errorf("Get after Redis came back: %v", err)
		}
	}
	if pipelined == 0 {
		t.Error("no read went through the pipeline")
	}
}
