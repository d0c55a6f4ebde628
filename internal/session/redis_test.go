package session

import (
	"context"
	"errors"
	"strings"
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
	if len(keys) != 3 {
		t.Fatalf("keys %v, want a session, a subject index and a sid index", keys)
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
	if n := rc.Exists(ctx, rc.Keys(ctx, "login:*").Val()...).Val(); n != 3 {
		t.Fatalf("%d keys right after login, want 3", n)
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
	exp := time.Now().Add(time.Hour)
	a.Put(ctx, "s:1", []byte("v"), exp, "alice", "op-1")
	a.Put(ctx, "s:2", []byte("v"), exp, "alice", "op-2")
	if _, err := b.Get(ctx, "s:1"); err != nil {
		t.Fatalf("B does not see A's session: %v", err)
	}
	if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
		t.Fatalf("B: DeleteSID = %d, %v", n, err)
	}
	if _, err := a.Get(ctx, "s:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("A still sees the session B deleted: %v", err)
	}
	if n, _ := b.DeleteSubject(ctx, "alice"); n != 1 {
		t.Fatalf("B: DeleteSubject = %d, want 1", n)
	}
	if first, _ := a.Once(ctx, "jti:x", exp); !first {
		t.Fatal("A: first Once = false")
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
	r.Put(ctx, "s:x", []byte("v"), time.Now().Add(time.Hour), "alice", "")
	if err := srv.Client().Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		_, err := r.Get(ctx, "s:x")
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
		if _, err := r.Get(ctx, "s:x"); err != nil {
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
	srv.Client().Set(ctx, "login:s:bad", "xyz", time.Minute)
	if _, err := r.Get(ctx, "s:bad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	// Deleting it works too.
	if err := r.Delete(ctx, "s:bad"); err != nil {
		t.Fatal(err)
	}
}

func TestParseRedisURL(t *testing.T) {
	opts, err := ParseRedisURL("redis://:pw@127.0.0.1:6380/2")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr != "127.0.0.1:6380" || opts.DB != 2 || opts.Password != "pw" {
		t.Errorf("parsed %s db %d", opts.Addr, opts.DB)
	}
	if opts.DialTimeout != time.Second || opts.ReadTimeout != time.Second || opts.WriteTimeout != time.Second || opts.PoolTimeout != time.Second || opts.MaxRetries != 1 {
		t.Errorf("timeouts %v %v %v %v retries %d; want 1s and 1 retry", opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout, opts.MaxRetries)
	}
	opts, err = ParseRedisURL("rediss://127.0.0.1:6380/0?read_timeout=3s&max_retries=-1")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ReadTimeout != 3*time.Second || opts.MaxRetries != -1 || opts.TLSConfig == nil {
		t.Errorf("the URL's own settings were not kept: %v %d tls %v", opts.ReadTimeout, opts.MaxRetries, opts.TLSConfig != nil)
	}
	for _, bad := range []string{"redis://:s3cret@host:1/x", "redis://host:1/0?nope=1", "unix:///tmp/redis.sock", "ftp://host"} {
		_, err := ParseRedisURL(bad)
		if err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error repeats the password: %v", bad, err)
		}
	}
}
