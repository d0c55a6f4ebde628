package session

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/loginapp/login/internal/session/redistest"
)

// The cost of sessions, measured (docs/BENCHMARKS.md):
//
//	go test ./internal/session -run '^$' -bench . -benchmem
//
// BenchmarkStoreGet reads a realistic session for a request with its
// cookie, as the handlers do once per authenticated request, from each
// backend; "memory" is a map in process memory, the baseline of the same
// run. The "+metrics" runs go through Instrument, as the server does: the
// difference is what the metrics of the store cost a request. BenchmarkFootprint stores 100,000 realistic sessions
// (SESSION_FOOTPRINT_N overrides the count) and reports the bytes each
// takes on disk (bbolt) or in Redis (INFO memory used_memory), and for
// Redis the share of the set of live sessions (MEMORY USAGE of it, and how
// much used_memory drops when it is deleted).

// memBackend keeps records in a map: the baseline without storage cost.
type memBackend struct {
	mu sync.Mutex
	m  map[string]Entry
}

func (b *memBackend) Get(_ context.Context, key string) (Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

func (b *memBackend) Put(_ context.Context, key string, val []byte, m Meta) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]Entry{}
	}
	b.m[key] = Entry{Value: val, Meta: m}
	return nil
}

func (b *memBackend) Update(ctx context.Context, key string, val []byte, m Meta) error {
	return b.Put(ctx, key, val, m)
}
func (b *memBackend) Delete(context.Context, string) error                  { return nil }
func (b *memBackend) DeleteSubject(context.Context, string) (int, error)    { return 0, nil }
func (b *memBackend) DeleteSID(context.Context, string) (int, error)        { return 0, nil }
func (b *memBackend) List(context.Context, string) ([]Item, error)          { return nil, nil }
func (b *memBackend) Once(context.Context, string, time.Time) (bool, error) { return true, nil }
func (b *memBackend) Used(context.Context, string) (bool, error)            { return false, nil }
func (b *memBackend) Lock(context.Context, string, time.Duration) (func(), error) {
	return func() {}, nil
}
func (b *memBackend) Ping(context.Context) error { return nil }
func (b *memBackend) Close() error               { return nil }

func benchStore(b *testing.B, backend Backend) *Store {
	b.Helper()
	s, err := NewStore(backend, []byte("bench-secret-bench-secret-bench-secret"), Options{IdleTimeout: time.Hour, AbsoluteTimeout: 12 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// loginRequest stores rec as a new session and returns a request that
// carries its cookie.
func loginRequest(b testing.TB, s *Store, rec *Record) *http.Request {
	b.Helper()
	w := httptest.NewRecorder()
	if err := s.Login(w, httptest.NewRequest(http.MethodGet, "/callback", nil), rec); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/profile", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

func BenchmarkStoreGet(b *testing.B) {
	srv := redistest.Start(b)
	backends := []struct {
		name string
		open func(b *testing.B) Backend
	}{
		{"memory", func(*testing.B) Backend { return &memBackend{} }},
		{"memory+metrics", func(*testing.B) Backend { return Instrument(&memBackend{}, "memory", prometheus.NewRegistry()) }},
		{"bolt", func(b *testing.B) Backend { return newTestBolt(b) }},
		{"bolt+metrics", func(b *testing.B) Backend { return Instrument(newTestBolt(b), "bolt", prometheus.NewRegistry()) }},
		{"redis", func(b *testing.B) Backend { return newTestRedis(b, srv) }},
		{"redis+metrics", func(b *testing.B) Backend { return Instrument(newTestRedis(b, srv), "redis", prometheus.NewRegistry()) }},
	}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			s := benchStore(b, bk.open(b))
			r := loginRequest(b, s, realisticRecord(b))
			b.ReportAllocs()
			for b.Loop() {
				sess, err := s.Get(r, s.Name())
				if err != nil || RecordOf(sess) == nil {
					b.Fatalf("no session: %v", err)
				}
			}
		})
	}
}

// BenchmarkList lists the sessions of a user with one session and of one
// with fifty (the default cap), realistic records, as the list of sessions
// does; Store.Sessions adds the decoding.
func BenchmarkList(b *testing.B) {
	srv := redistest.Start(b)
	backends := []struct {
		name string
		open func(b *testing.B) Backend
	}{
		{"bolt", func(b *testing.B) Backend { return newTestBolt(b) }},
		{"redis", func(b *testing.B) Backend {
			srv.Client().FlushAll(context.Background())
			return newTestRedis(b, srv)
		}},
	}
	for _, bk := range backends {
		for _, n := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/sessions=%d", bk.name, n), func(b *testing.B) {
				backend := bk.open(b)
				s := benchStore(b, backend)
				rec := realisticRecord(b)
				for range n {
					cp := *rec
					loginRequest(b, s, &cp)
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					items, err := backend.List(ctx, rec.Subject)
					if err != nil || len(items) != n {
						b.Fatalf("List = %d items, %v; want %d", len(items), err, n)
					}
				}
			})
		}
	}
}

func footprintN(b *testing.B) int {
	if v := os.Getenv("SESSION_FOOTPRINT_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("SESSION_FOOTPRINT_N=%q is not a positive number", v)
		}
		return n
	}
	return 100_000
}

// storeSessions logs in n realistic sessions through s, each a different
// user, as the callback does.
func storeSessions(b *testing.B, s *Store, n int) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/callback", nil)
	gen := newRecordGen(b)
	for range n {
		if err := s.Login(discardWriter{}, req, gen.next()); err != nil {
			b.Fatal(err)
		}
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

func BenchmarkFootprint(b *testing.B) {
	n := footprintN(b)
	b.Run("bolt", func(b *testing.B) {
		for b.Loop() {
			dir := b.TempDir()
			bk, err := OpenBolt(dir, BoltOptions{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			bk.db.NoSync = true // the file's layout is the same; only faster to fill
			storeSessions(b, benchStore(b, bk), n)
			if err := bk.db.Sync(); err != nil {
				b.Fatal(err)
			}
			var used int64
			bk.db.View(func(tx *bolt.Tx) error {
				used = tx.Size()
				// Where the pages go: each bucket's pages, and how full
				// they are.
				for _, name := range [][]byte{bucketSessions, bucketSub, bucketSID} {
					st := tx.Bucket(name).Stats()
					alloc := st.BranchAlloc + st.LeafAlloc
					inuse := st.BranchInuse + st.LeafInuse
					b.ReportMetric(float64(alloc)/float64(n), string(name)+"-bytes/session")
					b.ReportMetric(100*float64(inuse)/float64(max(alloc, 1)), string(name)+"-fill-%")
				}
				return nil
			})
			b.ReportMetric(float64(used)/float64(n), "used-bytes/session")
			bk.Close()
			fi, err := os.Stat(filepath.Join(dir, "sessions.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/float64(n), "bytes/session")
			b.ReportMetric(float64(fi.Size())/1e6, "MB/total")
		}
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		ctx := context.Background()
		for b.Loop() {
			srv.Client().FlushAll(ctx)
			before, err := srv.UsedMemory(ctx)
			if err != nil {
				b.Fatal(err)
			}
			r := newTestRedis(b, srv)
			storeSessions(b, benchStore(b, r), n)
			after, err := srv.UsedMemory(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after-before)/float64(n), "bytes/session")
			b.ReportMetric(float64(after-before)/1e6, "MB/total")
			// The share of the set of live sessions: what MEMORY USAGE
			// says of it, and what used_memory drops by without it.
			live := r.liveKey("")
			usage, err := srv.Client().MemoryUsage(ctx, live, 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Client().Del(ctx, live).Err(); err != nil {
				b.Fatal(err)
			}
			without, err := srv.UsedMemory(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(usage)/float64(n), "live-set-bytes/session")
			b.ReportMetric(float64(after-without)/float64(n), "live-set-used-bytes/session")
		}
	})
}

// BenchmarkBoltOpen fills a bbolt file with SESSION_OPEN_N (default
// 100,000) sessions of a realistic size (an incompressible 1,561-byte
// record, as zstd leaves it, with the entry and both index entries; written
// directly, in large transactions, to fill it quickly) and times, with the
// file in the page cache, what opening costs:
//
//	SESSION_OPEN_N=1000000 go test ./internal/session -run '^$' -bench BoltOpen -benchtime 3x -timeout 30m
//
// open is OpenBolt as every start does, the count of sessions read from
// the file; open-recount is OpenBolt of a file without the count (the
// first start after the upgrade, or after an earlier version wrote to it),
// which counts from the bucket's page headers; bbolt-open is bbolt's own
// open and first write transaction with the same options, the floor of
// open (with NoFreelistSync bbolt rebuilds its freelist from a walk of
// every page at each open); count-pages is the recount alone; walk is a
// keys-only cursor walk of the sessions, the other way to count.
func BenchmarkBoltOpen(b *testing.B) {
	n := 100_000
	if v := os.Getenv("SESSION_OPEN_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("SESSION_OPEN_N=%q is not a positive number", v)
		}
	}
	dir := b.TempDir()
	bk, err := OpenBolt(dir, BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	bk.db.NoSync = true
	now := time.Now()
	val := randBytes(1561)
	const batch = 10_000
	for done := 0; done < n; done += batch {
		err := bk.update(func(tx *bolt.Tx, delta *int) error {
			sessions, bySub, bySID := tx.Bucket(bucketSessions), tx.Bucket(bucketSub), tx.Bucket(bucketSID)
			sessions.FillPercent = 0.95
			for i := done; i < min(done+batch, n); i++ {
				sub := "auth0|" + strconv.Itoa(i)
				sid := b64(randBytes(16))
				key := storageKey(newID(now.Add(time.Duration(i)), sub))
				m := Meta{Subject: sub, SID: sid, LastSeen: now, Expires: now.Add(time.Hour)}
				if err := sessions.Put([]byte(key), encodeEntry(m, val)); err != nil {
					return err
				}
				bySub.Put(indexKey(sub, key), nil)
				bySID.Put(indexKey(sid, key), nil)
				*delta++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	bk.db.Sync()
	bk.Close()
	fi, _ := os.Stat(filepath.Join(dir, "sessions.db"))
	b.Logf("%d sessions, file %.0f MB", n, float64(fi.Size())/1e6)

	open := func(b *testing.B) *Bolt {
		b.Helper()
		bk, err := OpenBolt(dir, BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return bk
	}
	check := func(b *testing.B, bk *Bolt) {
		b.Helper()
		if got, err := bk.Live(context.Background()); err != nil || got != n {
			b.Fatalf("Live = %d, %v; want %d", got, err, n)
		}
	}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			bk := open(b)
			b.StopTimer()
			check(b, bk)
			bk.Close()
			b.StartTimer()
		}
	})
	b.Run("open-recount", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bk := open(b)
			bk.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCount) })
			bk.Close()
			b.StartTimer()
			bk = open(b)
			b.StopTimer()
			check(b, bk)
			bk.Close()
			b.StartTimer()
		}
	})
	b.Run("bbolt-open", func(b *testing.B) {
		// bbolt alone without a synced freelist, as OpenBolt opened it
		// before, and its first write transaction: it walks every page.
		for b.Loop() {
			db, err := bolt.Open(filepath.Join(dir, "sessions.db"), 0o600, &bolt.Options{NoFreelistSync: true})
			if err != nil {
				b.Fatal(err)
			}
			db.Update(func(*bolt.Tx) error { return nil })
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
	})
	b.Run("count-pages", func(b *testing.B) {
		// What open-recount adds: the count from the page headers.
		bk := open(b)
		defer bk.Close()
		for b.Loop() {
			bk.db.View(func(tx *bolt.Tx) error {
				if got := tx.Bucket(bucketSessions).Stats().KeyN; got != n {
					b.Fatalf("KeyN = %d, want %d", got, n)
				}
				return nil
			})
		}
	})
	b.Run("walk", func(b *testing.B) {
		bk := open(b)
		defer bk.Close()
		for b.Loop() {
			count := 0
			bk.db.View(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketSessions).Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					count++
				}
				return nil
			})
			if count != n {
				b.Fatalf("walked %d keys, want %d", count, n)
			}
		}
	})
}

// BenchmarkInstrumentGet is the decorator's own cost: one Get of the map
// backend, bare and through Instrument, without the Store around it.
func BenchmarkInstrumentGet(b *testing.B) {
	ctx := context.Background()
	mem := &memBackend{}
	mem.Put(ctx, "k", []byte("v"), Meta{Subject: "alice"})
	for _, bk := range []struct {
		name string
		b    Backend
	}{
		{"bare", mem},
		{"instrumented", Instrument(mem, "memory", prometheus.NewRegistry())},
	} {
		b.Run(bk.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bk.b.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
