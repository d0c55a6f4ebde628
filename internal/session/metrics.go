package session

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics of the session store, all labelled with the backend ("bolt",
// "redis", "redis-sentinel" or "redis-cluster") and nothing from a
// request: no key, subject or session id. docs/OPERATIONS.md ("Metrics of
// the session store") says how to read them.
//
//	loginapp_session_store_operation_duration_seconds{operation,backend}
//	loginapp_session_store_errors_total{operation,backend}
//	loginapp_sessions_live{backend}
//	loginapp_sessions_live_errors_total{backend}
//	loginapp_sessions_removed_total{reason,backend}

// The operations of a Backend, as the operation label names them.
const (
	opGet = iota
	opPut
	opUpdate
	opDelete
	opDeleteSubject
	opDeleteSID
	opList
	opOnce
	opUsed
	opLock
	opPing
	numOps
)

var opNames = [numOps]string{
	opGet: "get", opPut: "put", opUpdate: "update", opDelete: "delete",
	opDeleteSubject: "delete_subject", opDeleteSID: "delete_sid", opList: "list",
	opOnce: "once", opUsed: "used", opLock: "lock", opPing: "ping",
}

// storeBuckets span a bbolt read (a few microseconds) to a Redis call that
// runs into its timeout (a second by default).
var storeBuckets = []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5}

// Reasons of loginapp_sessions_removed_total.
const (
	removedSwept = "swept"
	removedCap   = "cap"
)

// liveTimeout bounds the backend's answer for one scrape of
// loginapp_sessions_live: a Redis that does not answer costs the scrape
// this long, not the scrape's own timeout.
const liveTimeout = time.Second

// liveCounter is a backend that knows how many sessions it holds.
type liveCounter interface {
	Live(ctx context.Context) (int, error)
}

// removalCounter is a backend that removes records by itself (expiry,
// the cap) and counts them, by reason.
type removalCounter interface {
	removedCounts() map[string]*atomic.Uint64
}

// Instrument returns b with every operation timed and its failures
// counted, by operation, and registers on reg the metrics of the store
// named backend: those of the operations, and the live sessions and the
// records removed by the backend itself, for the backends that count them
// (Bolt and Redis).
//
// An operation fails, for the error count, when it returns an error other
// than ErrNotFound (a missing or expired record is an answer, not a
// failure), unless the caller's context had ended by then: a browser that
// went away, or a caller's own time limit (a refresh that waited as long as
// it would for another instance's lock), says nothing about the store. The
// store's own time limits (the Redis backend's per-call deadline) do count:
// they are derived from the caller's context, which has not ended. Every
// operation is timed, failed or not.
//
// The children of the metrics are resolved here, once, so that an
// operation (a Get on every authenticated request) costs two clock reads
// and an observation, without hashing label values.
//
// With no registerer (nil, or a nil *prometheus.Registry: the server makes
// none when nothing serves the metrics) it returns b itself: what nobody
// reads is not measured.
func Instrument(b Backend, backend string, reg prometheus.Registerer) Backend {
	if r, ok := reg.(*prometheus.Registry); reg == nil || ok && r == nil {
		return b
	}
	labels := prometheus.Labels{"backend": backend}
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "loginapp", Name: "session_store_operation_duration_seconds",
		Help:        "Time a session store operation took, by operation, failed or not.",
		Buckets:     storeBuckets,
		ConstLabels: labels,
	}, []string{"operation"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "loginapp", Name: "session_store_errors_total",
		Help:        "Session store operations that failed, by operation: not counting a record not found, nor an operation whose caller gave up first.",
		ConstLabels: labels,
	}, []string{"operation"})
	reg.MustRegister(duration, failures)
	m := &instrumented{b: b}
	for op, name := range opNames {
		m.ops[op] = opMetrics{duration: duration.WithLabelValues(name), errors: failures.WithLabelValues(name)}
	}
	if lc, ok := b.(liveCounter); ok {
		reg.MustRegister(newLiveCollector(lc, labels))
	}
	if rc, ok := b.(removalCounter); ok {
		for reason, n := range rc.removedCounts() {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "loginapp", Name: "sessions_removed_total",
				Help:        "Session records the store removed by itself since the process started, by reason: swept (expired, the embedded store only: Redis expires keys unseen) or cap (a login beyond SESSION_MAX_PER_USER ended the least recently active).",
				ConstLabels: prometheus.Labels{"backend": backend, "reason": reason},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
	return m
}

// instrumented is a Backend that times and counts the operations of
// another.
type instrumented struct {
	b   Backend
	ops [numOps]opMetrics
}

type opMetrics struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

var _ Backend = (*instrumented)(nil)

// done records an operation that started at start and returned err.
func (o *opMetrics) done(ctx context.Context, start time.Time, err error) {
	o.duration.Observe(time.Since(start).Seconds())
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrNotFound) {
		o.errors.Inc()
	}
}

func (m *instrumented) Get(ctx context.Context, key string) (Entry, error) {
	start := time.Now()
	e, err := m.b.Get(ctx, key)
	m.ops[opGet].done(ctx, start, err)
	return e, err
}

func (m *instrumented) Put(ctx context.Context, key string, val []byte, meta Meta) error {
	start := time.Now()
	err := m.b.Put(ctx, key, val, meta)
	m.ops[opPut].done(ctx, start, err)
	return err
}

func (m *instrumented) Update(ctx context.Context, key string, val []byte, meta Meta) error {
	start := time.Now()
	err := m.b.Update(ctx, key, val, meta)
	m.ops[opUpdate].done(ctx, start, err)
	return err
}

func (m *instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.b.Delete(ctx, key)
	m.ops[opDelete].done(ctx, start, err)
	return err
}

func (m *instrumented) DeleteSubject(ctx context.Context, sub string) (int, error) {
	start := time.Now()
	n, err := m.b.DeleteSubject(ctx, sub)
	m.ops[opDeleteSubject].done(ctx, start, err)
	return n, err
}

func (m *instrumented) DeleteSID(ctx context.Context, sid string) (int, error) {
	start := time.Now()
	n, err := m.b.DeleteSID(ctx, sid)
	m.ops[opDeleteSID].done(ctx, start, err)
	return n, err
}

func (m *instrumented) List(ctx context.Context, sub string) ([]Item, error) {
	start := time.Now()
	items, err := m.b.List(ctx, sub)
	m.ops[opList].done(ctx, start, err)
	return items, err
}

func (m *instrumented) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	start := time.Now()
	first, err := m.b.Once(ctx, key, expires)
	m.ops[opOnce].done(ctx, start, err)
	return first, err
}

func (m *instrumented) Used(ctx context.Context, key string) (bool, error) {
	start := time.Now()
	used, err := m.b.Used(ctx, key)
	m.ops[opUsed].done(ctx, start, err)
	return used, err
}

// Lock times taking the lock, the wait for another holder included; the
// time it is held is the caller's.
func (m *instrumented) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	start := time.Now()
	unlock, err := m.b.Lock(ctx, key, ttl)
	m.ops[opLock].done(ctx, start, err)
	return unlock, err
}

func (m *instrumented) Ping(ctx context.Context) error {
	start := time.Now()
	err := m.b.Ping(ctx)
	m.ops[opPing].done(ctx, start, err)
	return err
}

func (m *instrumented) Close() error { return m.b.Close() }

// liveCollector asks the backend for the number of live sessions at each
// scrape. A backend that does not answer within liveTimeout leaves the
// sample out, rather than reporting a false 0, and counts the failure.
type liveCollector struct {
	b        liveCounter
	live     *prometheus.Desc
	failures prometheus.Counter
}

func newLiveCollector(b liveCounter, labels prometheus.Labels) *liveCollector {
	return &liveCollector{
		b: b,
		live: prometheus.NewDesc("loginapp_sessions_live",
			"Sessions held by the store, read at each scrape. With Redis every instance reports the same shared number: aggregate with max, not sum.",
			nil, labels),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "sessions_live_errors_total",
			Help:        "Scrapes that left loginapp_sessions_live out because the store did not answer in time.",
			ConstLabels: labels,
		}),
	}
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.live
	c.failures.Describe(ch)
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	if n, err := c.b.Live(ctx); err != nil {
		c.failures.Inc()
	} else {
		ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(n))
	}
	c.failures.Collect(ch)
}
