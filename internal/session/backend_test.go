package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loginapp/login/internal/session/redistest"
)

// The same contract, run against every Backend: the embedded store, one
// Redis, a Redis Cluster of three masters and a Redis behind Sentinel.

func newTestBolt(t testing.TB) *Bolt {
	t.Helper()
	return newTestBoltMax(t, 0)
}

func newTestBoltMax(t testing.TB, maxPerSubject int) *Bolt {
	t.Helper()
	b, err := OpenBolt(t.TempDir(), BoltOptions{MaxPerSubject: maxPerSubject, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newTestRedis(t testing.TB, srv *redistest.Server) *Redis {
	t.Helper()
	return newTestRedisURL(t, srv.URL(), 0)
}

func newTestRedisURL(t testing.TB, url string, maxPerSubject int) *Redis {
	t.Helper()
	cfg, err := ParseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedis(cfg, RedisOptions{MaxPerSubject: maxPerSubject, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { r.Close() })
	return r
}

// opener opens an empty backend with a cap of max sessions per subject (0:
// the default).
type opener func(t *testing.T, max int) Backend

// backendNames are the backends that every backend test runs against.
var backendNames = []string{"bolt", "redis", "cluster", "sentinel"}

// backend starts what the named backend needs (Redis servers live until t
// ends) and returns an opener for it: each opened backend starts from an
// empty database.
func backend(t *testing.T, name string) opener {
	t.Helper()
	switch name {
	case "bolt":
		return func(t *testing.T, max int) Backend { return newTestBoltMax(t, max) }
	case "redis":
		srv := redistest.Start(t)
		return func(t *testing.T, max int) Backend {
			srv.Client().FlushAll(context.Background())
			return newTestRedisURL(t, srv.URL(), max)
		}
	case "cluster":
		cl := redistest.StartCluster(t)
		return func(t *testing.T, max int) Backend {
			for _, n := range cl.Nodes {
				n.Client().FlushAll(context.Background())
			}
			return newTestRedisURL(t, cl.URL(), max)
		}
	case "sentinel":
		sen := redistest.StartSentinel(t)
		return func(t *testing.T, max int) Backend {
			sen.Master().Client().FlushAll(context.Background())
			return newTestRedisURL(t, sen.URL(), max)
		}
	}
	t.Fatalf("no backend %q", name)
	return nil
}

// testKey is a storage key of sub's, in the shape storageKey makes: a
// Cluster needs a record to carry its subject's tag.
func testKey(sub, name string) string { return "s:" + name + "{" + slotTag(sub) + "}" }

// meta is the Meta of a record of sub with sid, last active at seen,
// expiring in ttl.
func meta(sub, sid string, seen time.Time, ttl time.Duration) Meta {
	return Meta{Subject: sub, SID: sid, LastSeen: seen, Expires: time.Now().Add(ttl)}
}

func TestBackendContract(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			open := backend(t, name)
			t.Run("put with a once key", func(t *testing.T) {
				b := open(t, 0)
				m := meta("alice", "", now, time.Minute)
				m.Once, m.OnceUntil = "state:x", time.Now().Add(time.Minute)
				if err := b.Put(ctx, testKey("alice", "o1"), []byte("v"), m); err != nil {
					t.Fatalf("first put with the once key: %v", err)
				}
				if used, err := b.Used(ctx, "state:x"); err != nil || !used {
					t.Fatalf("Used after the put = %v, %v; want true", used, err)
				}
				if err := b.Put(ctx, testKey("alice", "o2"), []byte("v"), m); !errors.Is(err, ErrUsed) {
					t.Fatalf("second put with the same once key: err = %v, want ErrUsed", err)
				}
				if _, err := b.Get(ctx, testKey("alice", "o2")); !errors.Is(err, ErrNotFound) {
					t.Fatalf("the refused put stored its record: %v", err)
				}
				if first, _ := b.Once(ctx, "state:x", time.Now().Add(time.Minute)); first {
					t.Fatal("Once after a put with that key says it is new")
				}
			})
			t.Run("get put update delete", func(t *testing.T) {
				b := open(t, 0)
				a := testKey("alice", "a")
				if _, err := b.Get(ctx, a); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
				}
				if err := b.Update(ctx, a, []byte("v0"), meta("alice", "sid1", now, time.Minute)); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update of a missing key: err = %v, want ErrNotFound", err)
				}
				if _, err := b.Get(ctx, a); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update of a missing key stored it: err = %v", err)
				}
				m := meta("alice", "sid1", now, time.Minute)
				if err := b.Put(ctx, a, []byte("v1"), m); err != nil {
					t.Fatal(err)
				}
				got, err := b.Get(ctx, a)
				if err != nil || string(got.Value) != "v1" || got.Subject != "alice" || got.SID != "sid1" {
					t.Fatalf("Get = %+v, %v; want v1 of alice, sid1", got, err)
				}
				if !got.LastSeen.Equal(m.LastSeen) || !got.Expires.Equal(m.Expires) {
					t.Fatalf("Get: last seen %v, expires %v; want %v, %v", got.LastSeen, got.Expires, m.LastSeen, m.Expires)
				}
				if err := b.Update(ctx, a, []byte("v2"), meta("alice", "sid1", now.Add(time.Second), time.Minute)); err != nil {
					t.Fatalf("Update of a live key: %v", err)
				}
				if got, _ := b.Get(ctx, a); string(got.Value) != "v2" || !got.LastSeen.Equal(now.Add(time.Second)) {
					t.Fatalf("Get after Update = %q seen %v, want v2 seen a second later", got.Value, got.LastSeen)
				}
				if err := b.Delete(ctx, a); err != nil {
					t.Fatal(err)
				}
				if err := b.Delete(ctx, a); err != nil {
					t.Fatalf("deleting a missing key: %v", err)
				}
				if _, err := b.Get(ctx, a); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
				}
				// A write that lands after a logout must not bring it back.
				if err := b.Update(ctx, a, []byte("v3"), meta("alice", "sid1", now, time.Minute)); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update after Delete: err = %v, want ErrNotFound", err)
				}
				// The indexes no longer name the deleted key.
				if items, err := b.List(ctx, "alice"); err != nil || len(items) != 0 {
					t.Fatalf("List after Delete = %v, %v; want nothing", items, err)
				}
				if n, err := b.DeleteSubject(ctx, "alice"); err != nil || n != 0 {
					t.Fatalf("DeleteSubject after Delete = %d, %v; want 0", n, err)
				}
			})

			t.Run("expired records are gone", func(t *testing.T) {
				b := open(t, 0)
				old := testKey("bob", "old")
				if err := b.Put(ctx, old, []byte("v"), meta("bob", "", now, 150*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Get(ctx, old); err != nil {
					t.Fatalf("Get before expiry: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
				if _, err := b.Get(ctx, old); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get after expiry: err = %v, want ErrNotFound", err)
				}
				if err := b.Update(ctx, old, []byte("v"), meta("bob", "", now, time.Minute)); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update after expiry: err = %v, want ErrNotFound", err)
				}
				if items, err := b.List(ctx, "bob"); err != nil || len(items) != 0 {
					t.Fatalf("List after expiry = %v, %v; want nothing", items, err)
				}
			})

			t.Run("delete by subject and sid", func(t *testing.T) {
				b := open(t, 0)
				put := func(name, sub, sid string) {
					t.Helper()
					if err := b.Put(ctx, testKey(sub, name), []byte(name), meta(sub, sid, now, time.Minute)); err != nil {
						t.Fatal(err)
					}
				}
				put("a1", "alice", "op-1")
				put("a2", "alice", "op-2")
				put("a3", "alice", "")
				put("b1", "bob", "op-3")
				alive := func(name, sub string) bool {
					_, err := b.Get(ctx, testKey(sub, name))
					return err == nil
				}
				if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
					t.Fatalf("DeleteSID(op-1) = %d, %v; want 1", n, err)
				}
				if alive("a1", "alice") || !alive("a2", "alice") || !alive("a3", "alice") || !alive("b1", "bob") {
					t.Fatal("after DeleteSID(op-1): want only a1 gone")
				}
				if n, err := b.DeleteSubject(ctx, "alice"); err != nil || n != 2 {
					t.Fatalf("DeleteSubject(alice) = %d, %v; want 2", n, err)
				}
				if alive("a2", "alice") || alive("a3", "alice") || !alive("b1", "bob") {
					t.Fatal("after DeleteSubject(alice): want only b1")
				}
				if n, err := b.DeleteSID(ctx, "op-2"); err != nil || n != 0 {
					t.Fatalf("DeleteSID of a sid whose sessions are gone = %d, %v; want 0", n, err)
				}
				if n, err := b.DeleteSubject(ctx, "nobody"); err != nil || n != 0 {
					t.Fatalf("DeleteSubject(nobody) = %d, %v", n, err)
				}
				if n, err := b.DeleteSID(ctx, "unknown"); err != nil || n != 0 {
					t.Fatalf("DeleteSID(unknown) = %d, %v", n, err)
				}
				if n, err := b.DeleteSID(ctx, "op-3"); err != nil || n != 1 || alive("b1", "bob") {
					t.Fatalf("DeleteSID(op-3) = %d, %v; b1 alive %v", n, err, alive("b1", "bob"))
				}
			})

			// A provider session id may belong to more than one subject (a
			// provider that reuses ids, or one session that switched
			// accounts): its back-channel logout ends every session with it,
			// of every subject, whichever was stored last.
			t.Run("a sid of several subjects", func(t *testing.T) {
				b := open(t, 0)
				subs := []string{"alice", "bob", "carol", "dave"} // tags of several slots
				for i, sub := range subs {
					if err := b.Put(ctx, testKey(sub, "shared"), []byte("v"), meta(sub, "op-shared", now, time.Duration(i+1)*time.Minute)); err != nil {
						t.Fatal(err)
					}
					if err := b.Put(ctx, testKey(sub, "own"), []byte("v"), meta(sub, "op-"+sub, now, time.Minute)); err != nil {
						t.Fatal(err)
					}
				}
				n, err := b.DeleteSID(ctx, "op-shared")
				if err != nil || n != len(subs) {
					t.Fatalf("DeleteSID(op-shared) = %d, %v; want %d", n, err, len(subs))
				}
				for _, sub := range subs {
					if _, err := b.Get(ctx, testKey(sub, "shared")); !errors.Is(err, ErrNotFound) {
						t.Errorf("%s's session of the shared sid survived: %v", sub, err)
					}
					if _, err := b.Get(ctx, testKey(sub, "own")); err != nil {
						t.Errorf("%s's session of another sid ended: %v", sub, err)
					}
				}
				// Done once: the sid names nobody now.
				if n, err := b.DeleteSID(ctx, "op-shared"); err != nil || n != 0 {
					t.Fatalf("second DeleteSID(op-shared) = %d, %v; want 0", n, err)
				}
			})

			t.Run("list", func(t *testing.T) {
				b := open(t, 0)
				for i, name := range []string{"x", "y", "z"} {
					if err := b.Put(ctx, testKey("alice", name), []byte(name), meta("alice", "op-"+name, now.Add(time.Duration(i)*time.Second), time.Minute)); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Put(ctx, testKey("bob", "b"), []byte("b"), meta("bob", "", now, time.Minute)); err != nil {
					t.Fatal(err)
				}
				if err := b.Put(ctx, testKey("alice", "short"), []byte("short"), meta("alice", "", now.Add(time.Hour), 100*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
				// Activity reorders: x is the most recent now.
				if err := b.Update(ctx, testKey("alice", "x"), []byte("x2"), meta("alice", "op-x", now.Add(time.Minute), time.Minute)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond) // "short" expires
				items, err := b.List(ctx, "alice")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range items {
					got = append(got, string(it.Value))
					if it.Key != testKey("alice", string(it.Value[:1])) || it.Subject != "alice" || it.SID != "op-"+string(it.Value[:1]) {
						t.Errorf("item %+v: key, subject or sid not as stored", it)
					}
				}
				if want := []string{"x2", "z", "y"}; !slices.Equal(got, want) {
					t.Fatalf("List(alice) = %v, want %v (most recent first, without the expired one and bob's)", got, want)
				}
				if items, err := b.List(ctx, "nobody"); err != nil || len(items) != 0 {
					t.Fatalf("List(nobody) = %v, %v", items, err)
				}
			})

			t.Run("cap per subject", func(t *testing.T) {
				b := open(t, 3)
				put := func(name string, seen time.Duration) {
					t.Helper()
					if err := b.Put(ctx, testKey("alice", name), []byte(name), meta("alice", "", now.Add(seen), time.Minute)); err != nil {
						t.Fatal(err)
					}
				}
				put("s1", 1*time.Second)
				put("s2", 2*time.Second)
				put("s3", 3*time.Second)
				// s1 becomes the most recently active; s2 the least.
				if err := b.Update(ctx, testKey("alice", "s1"), []byte("s1"), meta("alice", "", now.Add(10*time.Second), time.Minute)); err != nil {
					t.Fatal(err)
				}
				if err := b.Put(ctx, testKey("bob", "b1"), []byte("b1"), meta("bob", "", now, time.Minute)); err != nil {
					t.Fatal(err)
				}
				put("s4", 4*time.Second) // one beyond the cap
				names := func(sub string) []string {
					t.Helper()
					items, err := b.List(ctx, sub)
					if err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, it := range items {
						out = append(out, string(it.Value))
					}
					return out
				}
				if got, want := names("alice"), []string{"s1", "s4", "s3"}; !slices.Equal(got, want) {
					t.Fatalf("after a 4th session with a cap of 3: %v, want %v (the least recently active ended)", got, want)
				}
				if _, err := b.Get(ctx, testKey("alice", "s2")); !errors.Is(err, ErrNotFound) {
					t.Fatalf("the ended session still reads: %v", err)
				}
				if got := names("bob"); len(got) != 1 {
					t.Fatalf("another subject's sessions: %v, want its one", got)
				}
				// Updates never end sessions.
				for _, name := range []string{"s1", "s3", "s4"} {
					if err := b.Update(ctx, testKey("alice", name), []byte(name), meta("alice", "", now.Add(time.Minute), time.Minute)); err != nil {
						t.Fatal(err)
					}
				}
				if got := names("alice"); len(got) != 3 {
					t.Fatalf("after updates: %v, want 3 sessions", got)
				}
			})

			t.Run("once and used", func(t *testing.T) {
				b := open(t, 0)
				exp := time.Now().Add(time.Minute)
				if used, err := b.Used(ctx, "jti:1"); err != nil || used {
					t.Fatalf("Used before Once = %v, %v; want false", used, err)
				}
				if used, _ := b.Used(ctx, "jti:1"); used {
					t.Fatal("Used marked the key")
				}
				if first, err := b.Once(ctx, "jti:1", exp); err != nil || !first {
					t.Fatalf("first Once = %v, %v; want true", first, err)
				}
				if used, err := b.Used(ctx, "jti:1"); err != nil || !used {
					t.Fatalf("Used after Once = %v, %v; want true", used, err)
				}
				if first, err := b.Once(ctx, "jti:1", exp); err != nil || first {
					t.Fatalf("replayed Once = %v, %v; want false", first, err)
				}
				if first, err := b.Once(ctx, "jti:2", exp); err != nil || !first {
					t.Fatalf("another key's Once = %v, %v; want true", first, err)
				}
				if first, err := b.Once(ctx, "jti:short", time.Now().Add(100*time.Millisecond)); err != nil || !first {
					t.Fatalf("Once = %v, %v", first, err)
				}
				time.Sleep(150 * time.Millisecond)
				if used, err := b.Used(ctx, "jti:short"); err != nil || used {
					t.Fatalf("Used of an expired marker = %v, %v; want false", used, err)
				}
			})

			t.Run("lock", func(t *testing.T) {
				b := open(t, 0)
				var inside, max atomic.Int32
				var wg sync.WaitGroup
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						unlock, err := b.Lock(ctx, "refresh:x", 5*time.Second)
						if err != nil {
							t.Errorf("Lock: %v", err)
							return
						}
						n := inside.Add(1)
						if n > max.Load() {
							max.Store(n)
						}
						time.Sleep(5 * time.Millisecond)
						inside.Add(-1)
						unlock()
					}()
				}
				wg.Wait()
				if max.Load() != 1 {
					t.Fatalf("%d holders at once, want 1", max.Load())
				}
				// A waiter gives up when its context ends.
				unlock, err := b.Lock(ctx, "refresh:y", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				if _, err := b.Lock(short, "refresh:y", 5*time.Second); err == nil {
					t.Fatal("second Lock succeeded while the first was held")
				}
				// Other names are independent.
				other, err := b.Lock(ctx, "refresh:z", 5*time.Second)
				if err != nil {
					t.Fatalf("Lock of another name: %v", err)
				}
				other()
				unlock()
				again, err := b.Lock(ctx, "refresh:y", 5*time.Second)
				if err != nil {
					t.Fatalf("Lock after unlock: %v", err)
				}
				again()
			})

			t.Run("ping", func(t *testing.T) {
				if err := open(t, 0).Ping(ctx); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestBackendConcurrentUse hammers one backend from many goroutines, for the
// race detector.
func TestBackendConcurrentUse(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, name)(t, 5)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						sub := fmt.Sprint("u", i%3)
						key := testKey(sub, fmt.Sprintf("%d-%d", g, i))
						if err := b.Put(ctx, key, []byte("v"), meta(sub, fmt.Sprint("d", i%7), time.Now(), time.Minute)); err != nil {
							t.Error(err)
							return
						}
						// Another goroutine's DeleteSubject (or the cap) may
						// have taken it.
						if _, err := b.Get(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
							t.Error(err)
							return
						}
						if _, err := b.List(ctx, sub); err != nil {
							t.Error(err)
							return
						}
						switch i % 10 {
						case 0:
							if _, err := b.DeleteSubject(ctx, sub); err != nil {
								t.Error(err)
								return
							}
						case 5:
							if _, err := b.DeleteSID(ctx, fmt.Sprint("d", i%7)); err != nil {
								t.Error(err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			for i := range 3 {
				if items, err := b.List(ctx, fmt.Sprint("u", i)); err != nil || len(items) > 5 {
					t.Errorf("u%d: %d sessions, %v; want at most the cap of 5", i, len(items), err)
				}
			}
		})
	}
}
