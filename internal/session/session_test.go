package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testSecret = "test-secret-test-secret-test-secret-0123"

// countingBackend counts writes, to check that requests stay cheap.
type countingBackend struct {
	Backend
	mu     sync.Mutex
	writes int
}

func (b *countingBackend) Update(ctx context.Context, key string, val []byte, m Meta) error {
	b.mu.Lock()
	b.writes++
	b.mu.Unlock()
	return b.Backend.Update(ctx, key, val, m)
}

func (b *countingBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

type storeFixture struct {
	store   *Store
	backend *countingBackend
	clock   *clock
	logs    *bytes.Buffer
}

func newStoreFixture(t *testing.T, backend Backend, idle, absolute time.Duration) *storeFixture {
	t.Helper()
	f := &storeFixture{backend: &countingBackend{Backend: backend}, clock: &clock{t: time.Now()}, logs: new(bytes.Buffer)}
	var err error
	f.store, err = NewStore(f.backend, []byte(testSecret), Options{
		IdleTimeout: idle, AbsoluteTimeout: absolute, Now: f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// login stores rec and returns a request carrying the new session's cookie.
func (f *storeFixture) login(t *testing.T, rec *Record) *http.Request {
	t.Helper()
	w := httptest.NewRecorder()
	if err := f.store.Login(w, httptest.NewRequest(http.MethodGet, "/callback", nil), rec); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/profile", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// visit is one authenticated request: read the session, record activity.
// It returns the record, or nil when anonymous.
func (f *storeFixture) visit(t *testing.T, r *http.Request) *Record {
	t.Helper()
	sess, err := f.store.Get(r, f.store.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Touch(httptest.NewRecorder(), r, sess); err != nil {
		t.Fatal(err)
	}
	return RecordOf(sess)
}

func simpleRecord() *Record {
	return &Record{Subject: "alice", SID: "op-1", UserInfo: []byte(`{"sub":"alice"}`), IDToken: "h.p.s"}
}

func TestLifetimes(t *testing.T) {
	const idle, absolute = 30 * time.Minute, 12 * time.Hour
	tests := []struct {
		name  string
		rec   func() *Record
		steps []time.Duration // time passes, then a request
		alive []bool          // after each step
	}{
		{"idle timeout ends an unused session", simpleRecord,
			[]time.Duration{29 * time.Minute, 31 * time.Minute}, []bool{true, false}},
		{"activity slides the idle timeout", simpleRecord,
			[]time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 29 * time.Minute}, []bool{true, true, true, true}},
		{"just past the idle timeout", simpleRecord,
			[]time.Duration{idle + time.Second}, []bool{false}},
		{"absolute timeout ends even an active session", simpleRecord,
			// 25 steps of 29 minutes: 12h05m in all.
			repeat(29*time.Minute, 25), append(repeatBool(true, 24), false)},
		{"token expiry ends a session without a refresh token", func() *Record {
			r := simpleRecord()
			r.TokenExpiry = time.Now().Add(10 * time.Minute)
			return r
		}, []time.Duration{9 * time.Minute, 2 * time.Minute}, []bool{true, false}},
		{"a refresh token keeps it past the token expiry (for the refresh)", func() *Record {
			r := simpleRecord()
			r.TokenExpiry = time.Now().Add(10 * time.Minute)
			r.RefreshToken = "rt"
			return r
		}, []time.Duration{15 * time.Minute}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreFixture(t, newTestBolt(t), idle, absolute)
			r := f.login(t, tt.rec())
			for i, d := range tt.steps {
				f.clock.Add(d)
				if got := f.visit(t, r) != nil; got != tt.alive[i] {
					t.Fatalf("after step %d (+%v): alive = %v, want %v", i, d, got, tt.alive[i])
				}
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func repeatBool(b bool, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestTouchWritesRarely: reading a session costs no write; activity is
// written at most once a minute.
func TestTouchWritesRarely(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), 30*time.Minute, 12*time.Hour)
	r := f.login(t, simpleRecord())
	for range 100 {
		f.clock.Add(500 * time.Millisecond)
		if f.visit(t, r) == nil {
			t.Fatal("session lost")
		}
	}
	// 50 seconds of requests: none written.
	if n := f.backend.count(); n != 0 {
		t.Fatalf("%d writes in 50s of requests, want 0", n)
	}
	f.clock.Add(11 * time.Second)
	f.visit(t, r)
	f.visit(t, r)
	if n := f.backend.count(); n != 1 {
		t.Fatalf("%d writes after a minute, want 1", n)
	}
}

// TestTouchLeavesExpiringTokensAlone: near the token expiry Touch does not
// write back the tokens it read (a refresh elsewhere may have rotated them).
func TestTouchLeavesExpiringTokensAlone(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), 30*time.Minute, 12*time.Hour)
	rec := simpleRecord()
	rec.RefreshToken = "rt"
	rec.TokenExpiry = f.clock.Now().Add(2*time.Minute + 5*time.Second)
	r := f.login(t, rec)
	f.clock.Add(2 * time.Minute) // a Touch is due, but the token expires in 5s
	if f.visit(t, r) == nil {
		t.Fatal("session lost")
	}
	if n := f.backend.count(); n != 0 {
		t.Fatalf("Touch wrote %d times within RefreshGuard of the token expiry, want 0", n)
	}
}

func TestLoginIssuesNewID(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	first := f.login(t, simpleRecord())
	old, _ := f.store.Get(first, f.store.Name())

	// Logging in again with the old cookie: a new id, the old one deleted.
	w := httptest.NewRecorder()
	if err := f.store.Login(w, first, simpleRecord()); err != nil {
		t.Fatal(err)
	}
	second := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range w.Result().Cookies() {
		second.AddCookie(c)
	}
	fresh, _ := f.store.Get(second, f.store.Name())
	if fresh.ID == "" || fresh.ID == old.ID {
		t.Fatalf("login kept the session id %q", fresh.ID)
	}
	if f.visit(t, first) != nil {
		t.Fatal("the session id presented before login still works")
	}
}

func TestLogoutDeletes(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := f.login(t, simpleRecord())
	sess, _ := f.store.Get(r, f.store.Name())
	w := httptest.NewRecorder()
	if err := f.store.Logout(w, r, sess); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("logout cookies = %v, want the session cookie expired", c)
	}
	if f.visit(t, r) != nil {
		t.Fatal("a copied cookie works after logout")
	}
}

// TestSaveAfterLogoutStaysEnded: a request that read the session before a
// logout elsewhere must not bring it back when it writes.
func TestSaveAfterLogoutStaysEnded(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := f.login(t, simpleRecord())
	sess, _ := f.store.Get(r, f.store.Name())
	if _, err := f.backend.DeleteSID(context.Background(), "op-1"); err != nil { // back-channel logout
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Minute)
	w := httptest.NewRecorder()
	if err := f.store.Touch(w, r, sess); !errors.Is(err, ErrEnded) {
		t.Fatalf("Touch after logout: err = %v, want ErrEnded", err)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("cookies = %v, want the session cookie expired", c)
	}
	if err := f.store.Replace(httptest.NewRecorder(), r, sess, simpleRecord()); !errors.Is(err, ErrEnded) {
		t.Fatalf("Replace after logout: err = %v, want ErrEnded", err)
	}
	if f.visit(t, r) != nil {
		t.Fatal("the session came back")
	}
}

func TestTamperedCookieIsAnonymous(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := f.login(t, simpleRecord())
	c, _ := r.Cookie(f.store.Name())
	bad := httptest.NewRequest(http.MethodGet, "/", nil)
	bad.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value[:len(c.Value)-2] + "xx"})
	if f.visit(t, bad) != nil {
		t.Fatal("a tampered cookie loads a session")
	}
}

// failingBackend fails every call.
type failingBackend struct{ Backend }

func (failingBackend) Get(context.Context, string) (Entry, error) {
	return Entry{}, errors.New("connection refused")
}

func TestBackendFailureIsUnavailable(t *testing.T) {
	good := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := good.login(t, simpleRecord())
	bad := newStoreFixture(t, failingBackend{}, time.Hour, 2*time.Hour)
	sess, err := bad.store.Get(r, bad.store.Name())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if sess == nil || RecordOf(sess) != nil {
		t.Fatal("want an empty session with the error")
	}
	// Without a cookie the backend is not asked: anonymous pages work.
	if _, err := bad.store.Get(httptest.NewRequest(http.MethodGet, "/", nil), bad.store.Name()); err != nil {
		t.Fatalf("anonymous request with the backend down: %v", err)
	}
}

// TestCorruptRecord: in either backend, a record that does not decode is no
// session, and is logged.
func TestCorruptRecord(t *testing.T) {
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, name)(t, 0)
			f := newStoreFixture(t, b, time.Hour, 2*time.Hour)
			r := f.login(t, simpleRecord())
			sess, _ := f.store.Get(r, f.store.Name())
			key := storageKey(sess.ID)
			for what, data := range map[string][]byte{"garbage": []byte("\x01not zstd"), "unknown format": []byte("\x09"), "bad json": []byte("{")} {
				if err := b.Put(context.Background(), key, data, meta("alice", "op-1", time.Now(), time.Hour)); err != nil {
					t.Fatal(err)
				}
				f.logs.Reset()
				sess, err := f.store.Get(r, f.store.Name())
				if err != nil || RecordOf(sess) != nil {
					t.Fatalf("%s: session %v, err %v; want anonymous without error", what, RecordOf(sess), err)
				}
				if !strings.Contains(f.logs.String(), "corrupt session record") {
					t.Errorf("%s: not logged: %q", what, f.logs.String())
				}
			}
		})
	}
}

func TestSessionIDs(t *testing.T) {
	now := time.Now()
	a, b := newID(now, "alice"), newID(now.Add(time.Nanosecond), "alice")
	if a == b || len(a) != 46 {
		t.Fatalf("ids %q %q", a, b)
	}
	// Storage keys sort by creation time, carry the subject's tag, and
	// hide the id.
	ka, kb := storageKey(a), storageKey(b)
	if !(ka < kb) || strings.Contains(ka, a[14:]) {
		t.Fatalf("storage keys %q %q", ka, kb)
	}
	if keyTag(ka) != slotTag("alice") || keyTag(storageKey(newID(now, "bob"))) != slotTag("bob") {
		t.Fatalf("storage key %q does not carry alice's tag %q", ka, slotTag("alice"))
	}
	if !strings.HasPrefix(ka, "s:") || len(ka) != 46 {
		t.Fatalf("storage key %q, want s: and 44 more characters", ka)
	}
	// An id of the earlier format (no tag) keeps its key.
	legacy := make([]byte, legacyIDLen)
	legacy[7] = 1
	lk := storageKey(b64(legacy))
	if keyTag(lk) != "" || len(lk) != 40 || !strings.HasPrefix(lk, "s:0000000000000001") {
		t.Fatalf("storageKey(earlier format) = %q", lk)
	}
	// An id of another shape still gets a key.
	if k := storageKey("legacy"); !strings.HasPrefix(k, "s:") || len(k) != 24 || keyTag(k) != "" {
		t.Fatalf("storageKey(legacy) = %q", k)
	}
}

// TestCookieHeaderShapes: a session cookie is found (or not) the same
// way whether or not its value is cached: the cached lookup reads the
// header without net/http's parsing, and must agree with r.Cookie.
func TestCookieHeaderShapes(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := f.login(t, simpleRecord())
	c, _ := r.Cookie(f.store.Name())
	v := c.Value
	tests := []struct {
		headers []string
		alive   bool
	}{
		{[]string{"session=" + v}, true},
		{[]string{"a=1; session=" + v + "; b=2"}, true},
		{[]string{"a=1;session=" + v}, true},
		{[]string{"a=1", "session=" + v}, true},
		{[]string{`session="` + v + `"`}, true},              // quoted: r.Cookie strips the quotes
		{[]string{"session=" + v + "x"}, false},              // another value
		{[]string{"xsession=" + v}, false},                   // another name
		{[]string{"Session=" + v}, false},                    // names are case-sensitive
		{[]string{"session=bad; session=" + v}, false},       // r.Cookie takes the first
		{[]string{`session=b"d; session=` + v}, true},        // unless it is not a valid value
		{[]string{"session=" + v + "; session=other"}, true}, // the first wins
	}
	for _, cached := range []bool{false, true} {
		for _, tt := range tests {
			if !cached {
				f.store.cookies = newCookieCache(4 * decodedRecords)
			} else {
				f.visit(t, r) // the value is cached now
			}
			req := httptest.NewRequest(http.MethodGet, "/profile", nil)
			for _, h := range tt.headers {
				req.Header.Add("Cookie", h)
			}
			if got := f.visit(t, req) != nil; got != tt.alive {
				t.Errorf("cached %v, Cookie %q: alive = %v, want %v", cached, tt.headers, got, tt.alive)
			}
		}
	}
}
