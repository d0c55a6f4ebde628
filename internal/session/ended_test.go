package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// expiredCookie reports whether the response expires the session cookie.
func expiredCookie(w *httptest.ResponseRecorder, name string) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// TestExpiredSessionIsReported: a request whose session the backend still
// holds past its lifetime is anonymous and marked with the subject;
// EndExpired deletes the record, expires the cookie and reports the end
// once; the same cookie again is an unmarked anonymous request. On the
// embedded store the record is held until the sweep; on either backend,
// when the Store's lifetimes are shorter than the record was written with.
func TestExpiredSessionIsReported(t *testing.T) {
	cases := []struct {
		name string
		// expire makes the session of f past its lifetime.
		expire func(f *storeFixture, b Backend)
	}{
		{"bolt, before the sweep", func(f *storeFixture, b Backend) {
			b.(*Bolt).now = f.clock.Now
			f.clock.Add(31 * time.Minute)
		}},
		{"bolt, lifetimes shortened", func(f *storeFixture, _ Backend) { f.store.opts.IdleTimeout = time.Nanosecond }},
		{"redis, lifetimes shortened", func(f *storeFixture, _ Backend) { f.store.opts.IdleTimeout = time.Nanosecond }},
		{"redis, the app's clock ahead of Redis's", func(f *storeFixture, b Backend) {
			b.(*Redis).now = f.clock.Now
			f.clock.Add(31 * time.Minute)
		}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.name, ",")
			b := backend(t, name)(t, 0)
			f := newStoreFixture(t, b, 30*time.Minute, 12*time.Hour)
			r := f.login(t, simpleRecord())
			key := storageKey(f.idOf(t, r))
			if sess, _ := f.store.Get(r, f.store.Name()); RecordOf(sess) == nil {
				t.Fatal("no session right after login")
			}
			if _, ok := EndedSubject(f.session(t, r)); ok {
				t.Fatal("a live session is marked as ended")
			}
			tc.expire(f, b)

			sess := f.session(t, r)
			if RecordOf(sess) != nil || !sess.IsNew {
				t.Fatal("an expired session still reads")
			}
			if sub, ok := EndedSubject(sess); !ok || sub != "alice" {
				t.Fatalf("EndedSubject = %q, %v; want alice, true", sub, ok)
			}
			w := httptest.NewRecorder()
			if sub, ok := f.store.EndExpired(w, r, sess); !ok || sub != "alice" {
				t.Fatalf("EndExpired = %q, %v; want alice, true", sub, ok)
			}
			if !expiredCookie(w, f.store.Name()) {
				t.Error("EndExpired did not expire the cookie")
			}
			if _, ok := EndedSubject(sess); ok {
				t.Error("the session is still marked after EndExpired: a second call in the request would ask the store again")
			}
			if _, err := b.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the record is still there: %v", err)
			}
			if _, isExpired := errors.AsType[*ExpiredError](func() error { _, err := b.Get(ctx, key); return err }()); isExpired {
				t.Error("the record is still held, expired")
			}
			if n, _ := b.(liveCounter).Live(ctx); n != 0 {
				t.Errorf("Live = %d after the expired session ended, want 0", n)
			}
			// The same cookie again (a response that did not reach the
			// browser): nothing more to report.
			again := f.session(t, r)
			if _, ok := EndedSubject(again); ok {
				t.Error("the ended session is reported again")
			}
			if _, ok := f.store.EndExpired(httptest.NewRecorder(), r, again); ok {
				t.Error("EndExpired reports an unmarked session")
			}
		})
	}
}

// TestExpiredSessionReportedOnce: requests that a browser sent at once
// with the cookie of an expired session all find it, and only one reports
// it, across instances (two Stores on one Redis).
func TestExpiredSessionReportedOnce(t *testing.T) {
	b := backend(t, "redis")(t, 0)
	f := newStoreFixture(t, b, 30*time.Minute, 12*time.Hour)
	other := newStoreFixture(t, b, 30*time.Minute, 12*time.Hour)
	r := f.login(t, simpleRecord())
	f.store.opts.IdleTimeout = time.Nanosecond
	other.store.opts.IdleTimeout = time.Nanosecond

	const n = 6
	stores := make([]*Store, n)
	marked := make([]*sessions.Session, n)
	for i := range n {
		stores[i] = f.store
		if i%2 == 1 {
			stores[i] = other.store
		}
		marked[i], _ = stores[i].Get(r, stores[i].Name())
		if _, ok := EndedSubject(marked[i]); !ok {
			t.Fatalf("request %d: not marked", i)
		}
	}
	var mu sync.Mutex
	reported := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := httptest.NewRecorder()
			if _, ok := stores[i].EndExpired(w, r, marked[i]); ok {
				mu.Lock()
				reported++
				mu.Unlock()
			}
			if !expiredCookie(w, f.store.Name()) {
				t.Errorf("request %d: cookie not expired", i)
			}
		})
	}
	wg.Wait()
	if reported != 1 {
		t.Fatalf("%d requests reported the end, want 1", reported)
	}
}

// TestNoMarkWithoutExpiry: a request without a cookie, with a session
// that was logged out, or with one that is alive, is not marked.
func TestNoMarkWithoutExpiry(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), 30*time.Minute, 12*time.Hour)
	if _, ok := EndedSubject(f.session(t, httptest.NewRequest(http.MethodGet, "/", nil))); ok {
		t.Error("a request without a cookie is marked")
	}
	r := f.login(t, simpleRecord())
	if _, ok := EndedSubject(f.session(t, r)); ok {
		t.Error("a live session is marked")
	}
	if err := f.store.Logout(httptest.NewRecorder(), r, f.session(t, r)); err != nil {
		t.Fatal(err)
	}
	if _, ok := EndedSubject(f.session(t, r)); ok {
		t.Error("a logged-out session is marked as expired")
	}
	if _, ok := EndedSubject(nil); ok {
		t.Error("nil is marked")
	}
}
