package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loginapp/login/internal/session/redistest"
)

// The same contract, run against every Backend.

func newTestBolt(t testing.TB) *Bolt {
	t.Helper()
	b, err := OpenBolt(t.TempDir(), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newTestRedis(t testing.TB, srv *redistest.Server) *Redis {
	t.Helper()
	opts, err := ParseRedisURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedis(opts, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Close() })
	return r
}

func backends(t *testing.T) map[string]func(t *testing.T) Backend {
	srv := redistest.Start(t)
	return map[string]func(t *testing.T) Backend{
		"bolt": func(t *testing.T) Backend { return newTestBolt(t) },
		"redis": func(t *testing.T) Backend {
			srv.Client().FlushAll(context.Background())
			return newTestRedis(t, srv)
		},
	}
}

func TestBackendContract(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("get put update delete", func(t *testing.T) {
				b := open(t)
				if _, err := b.Get(ctx, "s:a"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
				}
				if err := b.Update(ctx, "s:a", []byte("v0"), time.Now().Add(time.Minute), "alice", "sid1"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update of a missing key: err = %v, want ErrNotFound", err)
				}
				if _, err := b.Get(ctx, "s:a"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update of a missing key stored it: err = %v", err)
				}
				if err := b.Put(ctx, "s:a", []byte("v1"), time.Now().Add(time.Minute), "alice", "sid1"); err != nil {
					t.Fatal(err)
				}
				if got, err := b.Get(ctx, "s:a"); err != nil || string(got.Value) != "v1" || got.Subject != "alice" || got.SID != "sid1" {
					t.Fatalf("Get = %+v, %v; want v1 of alice, sid1", got, err)
				}
				if err := b.Update(ctx, "s:a", []byte("v2"), time.Now().Add(time.Minute), "alice", "sid1"); err != nil {
					t.Fatalf("Update of a live key: %v", err)
				}
				if got, _ := b.Get(ctx, "s:a"); string(got.Value) != "v2" {
					t.Fatalf("Get after Update = %q, want v2", got.Value)
				}
				if err := b.Delete(ctx, "s:a"); err != nil {
					t.Fatal(err)
				}
				if err := b.Delete(ctx, "s:a"); err != nil {
					t.Fatalf("deleting a missing key: %v", err)
				}
				if _, err := b.Get(ctx, "s:a"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
				}
				// A write that lands after a logout must not bring it back.
				if err := b.Update(ctx, "s:a", []byte("v3"), time.Now().Add(time.Minute), "alice", "sid1"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update after Delete: err = %v, want ErrNotFound", err)
				}
				// The index no longer names the deleted key.
				if n, err := b.DeleteSubject(ctx, "alice"); err != nil || n != 0 {
					t.Fatalf("DeleteSubject after Delete = %d, %v; want 0", n, err)
				}
			})

			t.Run("expired records are gone", func(t *testing.T) {
				b := open(t)
				if err := b.Put(ctx, "s:old", []byte("v"), time.Now().Add(150*time.Millisecond), "bob", ""); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Get(ctx, "s:old"); err != nil {
					t.Fatalf("Get before expiry: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
				if _, err := b.Get(ctx, "s:old"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get after expiry: err = %v, want ErrNotFound", err)
				}
				if err := b.Update(ctx, "s:old", []byte("v"), time.Now().Add(time.Minute), "bob", ""); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update after expiry: err = %v, want ErrNotFound", err)
				}
			})

			t.Run("delete by subject and sid", func(t *testing.T) {
				b := open(t)
				exp := time.Now().Add(time.Minute)
				put := func(key, sub, sid string) {
					t.Helper()
					if err := b.Put(ctx, key, []byte(key), exp, sub, sid); err != nil {
						t.Fatal(err)
					}
				}
				put("s:a1", "alice", "op-1")
				put("s:a2", "alice", "op-2")
				put("s:a3", "alice", "")
				put("s:b1", "bob", "op-3")
				alive := func(key string) bool {
					_, err := b.Get(ctx, key)
					return err == nil
				}
				if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
					t.Fatalf("DeleteSID(op-1) = %d, %v; want 1", n, err)
				}
				if alive("s:a1") || !alive("s:a2") || !alive("s:a3") || !alive("s:b1") {
					t.Fatalf("after DeleteSID(op-1): a1 %v a2 %v a3 %v b1 %v; want only a1 gone", alive("s:a1"), alive("s:a2"), alive("s:a3"), alive("s:b1"))
				}
				if n, err := b.DeleteSubject(ctx, "alice"); err != nil || n != 2 {
					t.Fatalf("DeleteSubject(alice) = %d, %v; want 2", n, err)
				}
				if alive("s:a2") || alive("s:a3") || !alive("s:b1") {
					t.Fatalf("after DeleteSubject(alice): a2 %v a3 %v b1 %v; want only b1", alive("s:a2"), alive("s:a3"), alive("s:b1"))
				}
				if n, err := b.DeleteSID(ctx, "op-2"); err != nil || n != 0 {
					t.Fatalf("DeleteSID of a sid whose sessions are gone = %d, %v; want 0", n, err)
				}
				if n, err := b.DeleteSubject(ctx, "nobody"); err != nil || n != 0 {
					t.Fatalf("DeleteSubject(nobody) = %d, %v", n, err)
				}
				if n, err := b.DeleteSID(ctx, "op-3"); err != nil || n != 1 || alive("s:b1") {
					t.Fatalf("DeleteSID(op-3) = %d, %v; b1 alive %v", n, err, alive("s:b1"))
				}
			})

			t.Run("once", func(t *testing.T) {
				b := open(t)
				exp := time.Now().Add(time.Minute)
				if first, err := b.Once(ctx, "jti:1", exp); err != nil || !first {
					t.Fatalf("first Once = %v, %v; want true", first, err)
				}
				if first, err := b.Once(ctx, "jti:1", exp); err != nil || first {
					t.Fatalf("replayed Once = %v, %v; want false", first, err)
				}
				if first, err := b.Once(ctx, "jti:2", exp); err != nil || !first {
					t.Fatalf("another key's Once = %v, %v; want true", first, err)
				}
			})

			t.Run("lock", func(t *testing.T) {
				b := open(t)
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
				if err := open(t).Ping(ctx); err != nil {
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
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						key := fmt.Sprintf("s:%d-%d", g, i)
						if err := b.Put(ctx, key, []byte("v"), time.Now().Add(time.Minute), fmt.Sprint("u", i%3), fmt.Sprint("d", i)); err != nil {
							t.Error(err)
							return
						}
						// Another goroutine's DeleteSubject may have taken it.
						if _, err := b.Get(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
							t.Error(err)
							return
						}
						if i%5 == 0 {
							if _, err := b.DeleteSubject(ctx, fmt.Sprint("u", i%3)); err != nil {
								t.Error(err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
