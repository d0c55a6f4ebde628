package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/loginapp/login/internal/session/redistest"
)

// erringBackend answers every operation with err.
type erringBackend struct{ err error }

func (b *erringBackend) Get(context.Context, string) (Entry, error)         { return Entry{}, b.err }
func (b *erringBackend) Put(context.Context, string, []byte, Meta) error    { return b.err }
func (b *erringBackend) Update(context.Context, string, []byte, Meta) error { return b.err }
func (b *erringBackend) Delete(context.Context, string) error               { return b.err }
func (b *erringBackend) DeleteSubject(context.Context, string) (int, error) { return 0, b.err }
func (b *erringBackend) DeleteSID(context.Context, string) (int, error)     { return 0, b.err }
func (b *erringBackend) List(context.Context, string) ([]Item, error)       { return nil, b.err }
func (b *erringBackend) Once(context.Context, string, time.Time) (bool, error) {
	return false, b.err
}
func (b *erringBackend) Used(context.Context, string) (bool, error) { return false, b.err }
func (b *erringBackend) Lock(context.Context, string, time.Duration) (func(), error) {
	return func() {}, b.err
}
func (b *erringBackend) Ping(context.Context) error { return b.err }
func (b *erringBackend) Close() error               { return nil }

// callEvery calls each operation of b once, in opNames' order.
func callEvery(ctx context.Context, b Backend) {
	b.Get(ctx, "k")
	b.Put(ctx, "k", nil, Meta{})
	b.Update(ctx, "k", nil, Meta{})
	b.Delete(ctx, "k")
	b.DeleteSubject(ctx, "alice")
	b.DeleteSID(ctx, "op-1")
	b.List(ctx, "alice")
	b.Once(ctx, "k", time.Now())
	b.Used(ctx, "k")
	b.Lock(ctx, "k", time.Second)
	b.Ping(ctx)
}

// gathered returns the value of the series name{labels} in reg (a
// histogram's count), and whether reg has it.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestInstrumentCountsFailures(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		wantError bool
	}{
		{"success", context.Background(), nil, false},
		{"a failure of the store", context.Background(), errors.New("connection refused"), true},
		{"a wrapped failure", context.Background(), fmt.Errorf("put script: %w", errors.New("OOM")), true},
		{"the store's own deadline", context.Background(), context.DeadlineExceeded, true},
		{"not found is an answer", context.Background(), ErrNotFound, false},
		{"expired is an answer", context.Background(), &ExpiredError{Subject: "alice"}, false},
		{"the caller gave up", canceled, context.Canceled, false},
		{"the caller gave up, whatever the store said", canceled, errors.New("i/o timeout"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			b := Instrument(&erringBackend{err: tc.err}, "bolt", reg)
			callEvery(tc.ctx, b)
			callEvery(tc.ctx, b)
			for _, op := range opNames {
				labels := map[string]string{"operation": op, "backend": "bolt"}
				n, ok := gathered(t, reg, "loginapp_session_store_operation_duration_seconds", labels)
				if !ok || n != 2 {
					t.Errorf("duration count of %s = %v (present %v), want 2", op, n, ok)
				}
				want := 0.0
				if tc.wantError {
					want = 2
				}
				if n, ok := gathered(t, reg, "loginapp_session_store_errors_total", labels); !ok || n != want {
					t.Errorf("errors of %s = %v (present %v), want %v", op, n, ok, want)
				}
			}
		})
	}
}

// TestInstrumentWithoutRegistry: without a registry (the server makes none
// when METRICS_ADDR is not set) the backend is returned as it is.
func TestInstrumentWithoutRegistry(t *testing.T) {
	b := newTestBolt(t)
	var none *prometheus.Registry
	for name, reg := range map[string]prometheus.Registerer{"nil": nil, "nil *Registry": none} {
		if got := Instrument(b, "bolt", reg); got != Backend(b) {
			t.Errorf("Instrument with a %s registry = %T, want the backend itself", name, got)
		}
	}
}

// TestInstrumentPassesThrough: the decorator returns what the backend
// returns.
func TestInstrumentPassesThrough(t *testing.T) {
	ctx := context.Background()
	b := Instrument(newTestBolt(t), "bolt", prometheus.NewRegistry())
	key := testKey("alice", "a")
	if err := b.Put(ctx, key, []byte("v"), meta("alice", "op-1", time.Now(), time.Minute)); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, key); err != nil || string(e.Value) != "v" {
		t.Fatalf("Get = %q, %v", e.Value, err)
	}
	if items, err := b.List(ctx, "alice"); err != nil || len(items) != 1 {
		t.Fatalf("List = %v, %v", items, err)
	}
	if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
		t.Fatalf("DeleteSID = %d, %v", n, err)
	}
	if _, err := b.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if first, err := b.Once(ctx, "x", time.Now().Add(time.Minute)); err != nil || !first {
		t.Fatalf("Once = %v, %v", first, err)
	}
	if used, err := b.Used(ctx, "x"); err != nil || !used {
		t.Fatalf("Used = %v, %v", used, err)
	}
	unlock, err := b.Lock(ctx, "l", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

// liveOf scrapes loginapp_sessions_live{backend}; -1 when the scrape left it
// out.
func liveOf(t *testing.T, reg *prometheus.Registry, backend string) float64 {
	t.Helper()
	n, ok := gathered(t, reg, "loginapp_sessions_live", map[string]string{"backend": backend})
	if !ok {
		return -1
	}
	return n
}

func removedOf(t *testing.T, reg *prometheus.Registry, backend, reason string) float64 {
	t.Helper()
	n, ok := gathered(t, reg, "loginapp_sessions_removed_total", map[string]string{"backend": backend, "reason": reason})
	if !ok {
		return -1
	}
	return n
}

// TestLiveSessions: the gauge of live sessions follows logins, activity,
// logouts, back-channel logouts by sid and by subject, cap evictions and
// expiry, on each backend, and so do the counts of records removed by the
// backend itself.
func TestLiveSessions(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"bolt", "redis", "cluster"} {
		t.Run(name, func(t *testing.T) {
			raw := backend(t, name)(t, 3)
			reg := prometheus.NewRegistry()
			b := Instrument(raw, name, reg)
			now := time.Now()
			step := func(what string, want float64) {
				t.Helper()
				if got := liveOf(t, reg, name); got != want {
					t.Fatalf("after %s: loginapp_sessions_live = %v, want %v", what, got, want)
				}
			}
			put := func(sub, key, sid string, ttl time.Duration) {
				t.Helper()
				if err := b.Put(ctx, testKey(sub, key), []byte("v"), meta(sub, sid, now, ttl)); err != nil {
					t.Fatal(err)
				}
			}
			step("nothing", 0)
			put("alice", "a1", "op-a1", time.Hour)
			put("alice", "a2", "op-a2", time.Hour)
			put("bob", "b1", "op-b1", time.Hour)
			step("three logins", 3)
			if err := b.Update(ctx, testKey("alice", "a1"), []byte("v2"), meta("alice", "op-a1", now.Add(time.Second), time.Hour)); err != nil {
				t.Fatal(err)
			}
			step("activity", 3)
			put("alice", "a3", "", time.Hour)
			put("alice", "a4", "", time.Hour) // beyond the cap of 3: a2 ends
			step("a login beyond the cap", 4)
			if _, err := raw.Get(ctx, testKey("alice", "a2")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the cap did not end a2: %v", err)
			}
			if got := removedOf(t, reg, name, "cap"); got != 1 {
				t.Errorf("removed_total{reason=cap} = %v, want 1", got)
			}
			if err := b.Delete(ctx, testKey("alice", "a4")); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, testKey("alice", "a4")); err != nil {
				t.Fatal(err)
			}
			step("a logout (twice)", 3)
			if n, err := b.DeleteSID(ctx, "op-b1"); err != nil || n != 1 {
				t.Fatalf("DeleteSID = %d, %v", n, err)
			}
			step("a back-channel logout by sid", 2)
			if n, err := b.DeleteSubject(ctx, "alice"); err != nil || n != 2 {
				t.Fatalf("DeleteSubject = %d, %v", n, err)
			}
			step("a back-channel logout by subject", 0)

			put("carol", "c1", "", 150*time.Millisecond)
			put("carol", "c2", "", time.Hour)
			step("two more logins", 2)
			time.Sleep(200 * time.Millisecond)
			if bolt, ok := raw.(*Bolt); ok {
				// The embedded store counts what it holds until its sweep.
				step("an expiry before the sweep", 2)
				if n, err := bolt.Sweep(); err != nil || n != 1 {
					t.Fatalf("Sweep = %d, %v", n, err)
				}
				if got := removedOf(t, reg, name, "swept"); got != 1 {
					t.Errorf("removed_total{reason=swept} = %v, want 1", got)
				}
			} else if got := removedOf(t, reg, name, "swept"); got != -1 {
				t.Errorf("Redis reports removed_total{reason=swept} = %v; it can not see expiries", got)
			}
			step("an expiry", 1)
		})
	}
}

// TestRedisLiveSetStaysSmall: members of sessions that expired leave the
// set of live sessions with the writes and scrapes that follow, a scrape
// removes a bounded number of them and still counts right, and the set
// itself expires with its last session.
func TestRedisLiveSetStaysSmall(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"redis", "cluster"} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, name)(t, 0).(*Redis)
			members := func() int64 {
				t.Helper()
				var total int64
				for _, k := range b.liveKeys() {
					n, err := b.c.ZCard(ctx, k).Result()
					if err != nil {
						t.Fatal(err)
					}
					total += n
				}
				return total
			}
			now := time.Now()
			// One long session keeps the set (in each shard) from
			// expiring by its TTL; twenty short ones expire.
			for i := range 20 {
				sub := fmt.Sprint("user", i)
				if err := b.Put(ctx, testKey(sub, "long"), []byte("v"), meta(sub, "", now, time.Hour)); err != nil {
					t.Fatal(err)
				}
				if err := b.Put(ctx, testKey(sub, "s"), []byte("v"), meta(sub, "", now, 100*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			if got := members(); got != 40 {
				t.Fatalf("%d members after 40 logins, want 40", got)
			}
			time.Sleep(150 * time.Millisecond)
			// Writes alone trim the set: each up to two expired members
			// of its own set.
			for i := range 5 {
				sub := fmt.Sprint("user", i)
				if err := b.Put(ctx, testKey(sub, "t"), []byte("v"), meta(sub, "", time.Now(), time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			got := members()
			if !b.cluster && got != 45-10 {
				t.Errorf("%d members after 5 writes, want %d: each write trims two expired members", got, 45-10)
			}
			if b.cluster && got >= 45 {
				t.Errorf("%d members after 5 writes, want fewer than 45: writes trim expired members", got)
			}
			if n, err := b.Live(ctx); err != nil || n != 25 {
				t.Fatalf("Live = %d, %v; want 25", n, err)
			}
			if got := members(); got != 25 {
				t.Errorf("%d members after a scrape, want 25: the scrape trims the rest", got)
			}
			for _, k := range b.liveKeys() {
				if b.c.Exists(ctx, k).Val() == 0 {
					continue
				}
				if ttl := b.c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
					t.Errorf("TTL of %s = %v, want the longest session's, at most an hour", k, ttl)
				}
			}
			if b.cluster {
				used := 0
				for _, k := range b.liveKeys() {
					if !strings.Contains(k, "{live-") {
						t.Errorf("shard %s has no tag of its own", k)
					}
					if b.c.Exists(ctx, k).Val() == 1 {
						used++
					}
				}
				if used < 4 {
					t.Errorf("%d shards hold the sessions of 20 users, want them spread", used)
				}
			}

			// After a long time without writes or scrapes: more expired
			// members than one scrape removes. The count is right all the
			// same, and the scrape removes only its share.
			k := b.liveKeys()[0]
			past := float64(time.Now().Add(-time.Minute).UnixMilli())
			var zs []redis.Z
			for i := range liveTrimOnScrape + 500 {
				zs = append(zs, redis.Z{Score: past, Member: fmt.Sprint("stale-", i)})
			}
			if err := b.c.ZAdd(ctx, k, zs...).Err(); err != nil {
				t.Fatal(err)
			}
			before := b.c.ZCard(ctx, k).Val()
			if n, err := b.Live(ctx); err != nil || n != 25 {
				t.Fatalf("Live with %d expired members = %d, %v; want 25", len(zs), n, err)
			}
			if removed := before - b.c.ZCard(ctx, k).Val(); removed != liveTrimOnScrape {
				t.Errorf("one scrape removed %d members, want %d", removed, liveTrimOnScrape)
			}
			if n, err := b.Live(ctx); err != nil || n != 25 {
				t.Fatalf("second Live = %d, %v; want 25", n, err)
			}
			if left := b.c.ZCount(ctx, k, "-inf", fmt.Sprint(time.Now().UnixMilli())).Val(); left != 0 {
				t.Errorf("%d expired members after two scrapes, want 0", left)
			}
		})
	}
}

// TestLiveScrapeWithRedisDown: a scrape while Redis does not answer leaves
// the gauge out (not a false 0), counts the failure, and takes about
// liveTimeout, not the scrape's own timeout.
func TestLiveScrapeWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestRedis(t, srv)
	reg := prometheus.NewRegistry()
	Instrument(b, "redis", reg)
	if got := liveOf(t, reg, "redis"); got != 0 {
		t.Fatalf("live = %v with Redis up, want 0", got)
	}
	srv.Pause() // connections open, nothing answers
	defer srv.Resume()
	start := time.Now()
	if got := liveOf(t, reg, "redis"); got != -1 {
		t.Errorf("live = %v with Redis stalled, want no sample", got)
	}
	if d := time.Since(start); d > liveTimeout+500*time.Millisecond {
		t.Errorf("the scrape took %v, want about %v", d, liveTimeout)
	}
	// Two: the scrape above and the one that reads the counter.
	if n, _ := gathered(t, reg, "loginapp_sessions_live_errors_total", map[string]string{"backend": "redis"}); n != 2 {
		t.Errorf("live errors = %v, want 2", n)
	}
}
