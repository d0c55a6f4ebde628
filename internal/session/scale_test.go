package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/loginapp/login/internal/session/redistest"
)

// How the store's cost grows with the number of stored sessions (issue
// 12): the reads of an authenticated request and the writes of a login
// must cost the same with a million sessions as with a thousand, and the
// sweep of expired sessions must not stall requests. Everything else a
// request does is independent of the store's size.
//
//	SESSION_SCALE=1000,100000,1000000 go test ./internal/session -run '^$' -bench Scale -benchtime 20000x -timeout 60m
//
// Without SESSION_SCALE it runs at 1,000 and 100,000 sessions.

func scaleSizes(b *testing.B) []int {
	v := os.Getenv("SESSION_SCALE")
	if v == "" {
		return []int{1_000, 100_000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			b.Fatalf("SESSION_SCALE=%q", v)
		}
		out = append(out, n)
	}
	return out
}

// scaleRecord is a stored record of a typical size (the realistic Auth0
// session is about 1.5 KB stored).
var scaleRecord = randBytes(1509)

// fillBolt writes n sessions straight into the file, 10,000 a transaction,
// a tenth of them already expired (for the sweep), and returns some keys.
func fillBolt(b *testing.B, bk *Bolt, n int) []string {
	b.Helper()
	bk.db.NoSync = true
	defer func() { bk.db.NoSync = false }()
	now := time.Now()
	var keys []string
	for done := 0; done < n; done += 10_000 {
		err := bk.db.Update(func(tx *bolt.Tx) error {
			sessions, bySub := tx.Bucket(bucketSessions), tx.Bucket(bucketSub)
			sessions.FillPercent = 0.95
			for i := done; i < min(done+10_000, n); i++ {
				sub := "auth0|" + strconv.Itoa(i)
				key := storageKey(newID(now.Add(time.Duration(i-n)), sub))
				exp := now.Add(time.Hour)
				if i%10 == 0 {
					exp = now.Add(-time.Minute)
				} else if len(keys) < 10_000 {
					keys = append(keys, key)
				}
				if err := sessions.Put([]byte(key), encodeEntry(Meta{Subject: sub, LastSeen: now, Expires: exp}, scaleRecord)); err != nil {
					return err
				}
				bySub.Put(indexKey(sub, key), nil)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	bk.db.Update(func(tx *bolt.Tx) error { return openCount(tx) })
	return keys
}

// fillRedis stores n sessions through the backend, 64 at a time.
func fillRedis(b *testing.B, r *Redis, n int) []string {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	keys := make([]string, 0, min(n, 10_000))
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				sub := "auth0|" + strconv.Itoa(i)
				key := storageKey(newID(now.Add(time.Duration(i-n)), sub))
				if err := r.Put(ctx, key, scaleRecord, Meta{Subject: sub, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				if len(keys) < cap(keys) {
					keys = append(keys, key)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return keys
}

func BenchmarkScale(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"bolt", "redis"} {
		for _, n := range scaleSizes(b) {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				var be Backend
				var keys []string
				var sweep func() (int, error)
				switch name {
				case "bolt":
					bk, err := OpenBolt(b.TempDir(), BoltOptions{MaxPerSubject: DefaultMaxPerSubject})
					if err != nil {
						b.Fatal(err)
					}
					defer bk.Close()
					keys = fillBolt(b, bk, n)
					be, sweep = bk, bk.Sweep
				case "redis":
					srv := redistest.Start(b)
					r := newTestRedisURL(b, srv.URL(), 0)
					keys = fillRedis(b, r, n)
					be = r
				}
				// The sweep's effect first, once, while a tenth of the
				// sessions are expired.
				var quiet, busy time.Duration
				swept := 0
				if sweep != nil {
					quiet = p99(getLatencies(be, keys, 300*time.Millisecond, nil))
					busy = p99(getLatencies(be, keys, 0, func() { swept, _ = sweep() }))
				}
				var seq atomic.Int64
				b.Run("get", func(b *testing.B) {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := be.Get(ctx, keys[rand.IntN(len(keys))]); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
				b.Run("login", func(b *testing.B) {
					// The store's part of a login: the state checked, then the
					// session stored with the state marked, 4 logins at once.
					b.SetParallelism(2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := seq.Add(1)
							sub := "new|" + strconv.FormatInt(i, 10) + "|" + strconv.Itoa(n)
							state := "state:" + sub
							if _, err := be.Used(ctx, state); err != nil {
								b.Fatal(err)
							}
							now := time.Now()
							m := Meta{Subject: sub, LastSeen: now, Expires: now.Add(time.Hour), Once: state, OnceUntil: now.Add(10 * time.Minute)}
							if err := be.Put(ctx, storageKey(newID(now, sub)), scaleRecord, m); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
				if sweep == nil {
					return // Redis expires by TTL: there is no sweep
				}
				b.Run("sweep", func(b *testing.B) {
					for b.Loop() {
					}
					b.ReportMetric(float64(quiet.Microseconds()), "p99-µs")
					b.ReportMetric(float64(busy.Microseconds()), "p99-sweep-µs")
					b.ReportMetric(float64(swept), "swept")
				})
			})
		}
	}
}

// getLatencies times the Gets of an authenticated request's read, from 4
// goroutines, for d or while during runs, with an activity Update now and
// then beside them.
func getLatencies(be Backend, keys []string, d time.Duration, during func()) []time.Duration {
	ctx := context.Background()
	stop := make(chan struct{})
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var mine []time.Duration
			for i := 0; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
					return
				default:
				}
				k := keys[rand.IntN(len(keys))]
				start := time.Now()
				e, err := be.Get(ctx, k)
				mine = append(mine, time.Since(start))
				if err == nil && i%50 == 0 {
					// Now and then a session's activity is recorded, as
					// requests do at most once a minute; not timed here.
					now := time.Now()
					be.Update(ctx, k, e.Value, Meta{Subject: e.Subject, LastSeen: now, Expires: now.Add(time.Hour)})
				}
			}
		})
	}
	if during != nil {
		during()
	} else {
		time.Sleep(d)
	}
	close(stop)
	wg.Wait()
	return lat
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// BenchmarkBoltCap: the cap's part of a login's transaction for a user
// who holds 5 sessions (below the cap of 50: the index is read, no
// session) and 50 (at the cap: each of them is read and the least recent
// one ended). The file holds 10,000 other sessions besides; each
// transaction is rolled back, so every iteration sees the same file.
//
//	go test ./internal/session -run '^$' -bench BoltCap -count 5
func BenchmarkBoltCap(b *testing.B) {
	for _, held := range []int{5, 50} {
		b.Run(fmt.Sprintf("sessions=%d", held), func(b *testing.B) {
			bk, err := OpenBolt(b.TempDir(), BoltOptions{MaxPerSubject: 50})
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			fillBolt(b, bk, 10_000)
			ctx := context.Background()
			now := time.Now()
			bk.db.NoSync = true
			for i := range held {
				m := Meta{Subject: "demo", SID: "sid", LastSeen: now, Expires: now.Add(time.Hour)}
				if err := bk.Put(ctx, fmt.Sprintf("s:%020d:held%d", now.UnixNano(), i), scaleRecord, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				tx, err := bk.db.Begin(true)
				if err != nil {
					b.Fatal(err)
				}
				expired, ended, err := bk.capTx(tx, "demo", "s:new", now)
				tx.Rollback()
				if err != nil || expired != 0 || ended != max(held+1-50, 0) {
					b.Fatalf("capTx = %d, %d, %v", expired, ended, err)
				}
			}
		})
	}
}
