package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testKeys is a JWKS server with one published key and a second key the
// provider never published, and a count of fetches.
type testKeys struct {
	published, unpublished *rsa.PrivateKey
	srv                    *httptest.Server
	fetches                atomic.Int32
	extra                  []json.RawMessage
}

func newTestKeys(t *testing.T, extra ...json.RawMessage) *testKeys {
	t.Helper()
	tk := &testKeys{extra: extra}
	var err error
	if tk.published, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if tk.unpublished, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	tk.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tk.fetches.Add(1)
		pub, _ := jose.JSONWebKey{Key: &tk.published.PublicKey, KeyID: "published", Algorithm: "RS256", Use: "sig"}.MarshalJSON()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": append(append([]json.RawMessage{}, tk.extra...), pub)})
	}))
	t.Cleanup(tk.srv.Close)
	return tk
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	var k any = key
	if kid != "" {
		k = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestKeySetRefetchCap: a flood of tokens with unknown kids, from many
// goroutines at once, fetches the JWKS at most refetchBurst times and then
// once per interval.
func TestKeySetRefetchCap(t *testing.T) {
	for _, source := range []keySource{sourceTokenEndpoint, sourceUnsolicited} {
		tk := newTestKeys(t)
		clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		ks := newKeySet(tk.srv.Client(), tk.srv.URL, slog.New(slog.DiscardHandler), clock.Now, MinRefetchInterval)
		ctx := withKeySource(context.Background(), source)

		if _, err := ks.VerifySignature(ctx, sign(t, tk.published, "published")); err != nil {
			t.Fatalf("genuine token: %v", err)
		}
		if got := tk.fetches.Load(); got != 1 {
			t.Fatalf("fetches after the first token = %d, want 1", got)
		}
		flood := func() {
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					if _, err := ks.VerifySignature(ctx, sign(t, tk.unpublished, "kid-"+randomKid())); err == nil {
						t.Error("a token with an unknown kid verified")
					}
				})
			}
			wg.Wait()
		}

		flood()
		flood()
		if got := tk.fetches.Load(); got > 1+refetchBurst {
			t.Errorf("source %d: fetches after two floods within the interval = %d, want at most %d", source, got, 1+refetchBurst)
		}
		before := tk.fetches.Load()
		clock.Add(MinRefetchInterval - time.Second)
		flood()
		if got := tk.fetches.Load(); got != before {
			t.Errorf("source %d: fetches just before the interval ends = %d, want %d", source, got, before)
		}
		clock.Add(time.Second)
		flood()
		if got := tk.fetches.Load(); got != before+1 {
			t.Errorf("source %d: fetches after one interval = %d, want %d (one refetch)", source, got, before+1)
		}
		// The genuine key still works from the cache, with no fetch.
		if _, err := ks.VerifySignature(ctx, sign(t, tk.published, "published")); err != nil {
			t.Errorf("genuine token after the flood: %v", err)
		}
		if got := tk.fetches.Load(); got != before+1 {
			t.Errorf("a known kid caused a fetch: %d", got)
		}
	}
}

func randomKid() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// rotatingKeys is a JWKS server whose key the test can replace, with an
// optional delay on each fetch.
type rotatingKeys struct {
	mu      sync.Mutex
	key     *rsa.PrivateKey
	kid     string
	delay   time.Duration
	srv     *httptest.Server
	fetches atomic.Int32
}

func newRotatingKeys(t *testing.T) *rotatingKeys {
	t.Helper()
	rk := &rotatingKeys{}
	rk.rotate(t)
	rk.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rk.fetches.Add(1)
		rk.mu.Lock()
		pub, _ := jose.JSONWebKey{Key: &rk.key.PublicKey, KeyID: rk.kid, Algorithm: "RS256", Use: "sig"}.MarshalJSON()
		delay := rk.delay
		rk.mu.Unlock()
		time.Sleep(delay)
		json.NewEncoder(w).Encode(map[string]any{"keys": []json.RawMessage{pub}})
	}))
	t.Cleanup(rk.srv.Close)
	return rk
}

// rotate replaces the published key; the old one is gone from the JWKS.
func (rk *rotatingKeys) rotate(t *testing.T) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rk.mu.Lock()
	rk.key, rk.kid = key, "k-"+randomKid()
	rk.mu.Unlock()
}

func (rk *rotatingKeys) token(t *testing.T) string {
	rk.mu.Lock()
	key, kid := rk.key, rk.kid
	rk.mu.Unlock()
	return sign(t, key, kid)
}

// TestKeySetRotationRightAfterAFetch: rp-key-rotation-op-sign-key one
// second after the last fetch: the next token from the provider verifies,
// even while forged logout tokens have spent their own budget.
func TestKeySetRotationRightAfterAFetch(t *testing.T) {
	rk := newRotatingKeys(t)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	ks := newKeySet(rk.srv.Client(), rk.srv.URL, slog.New(slog.DiscardHandler), clock.Now, MinRefetchInterval)
	login := withKeySource(context.Background(), sourceTokenEndpoint)
	logout := withKeySource(context.Background(), sourceUnsolicited)
	if _, err := ks.VerifySignature(login, rk.token(t)); err != nil {
		t.Fatalf("first token: %v", err)
	}
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	for range 20 {
		ks.VerifySignature(logout, sign(t, forger, "kid-"+randomKid()))
	}
	for i := range 3 {
		clock.Add(time.Second)
		rk.rotate(t)
		if _, err := ks.VerifySignature(login, rk.token(t)); err != nil {
			t.Fatalf("rotation %d, one second after the last fetch: %v", i+1, err)
		}
		clock.Add(MinRefetchInterval / 2)
	}
}

// TestKeySetSharedFetch: misses that arrive together share one fetch, and a
// slow fetch holds up only the verifications that need it.
func TestKeySetSharedFetch(t *testing.T) {
	rk := newRotatingKeys(t)
	ks := newKeySet(rk.srv.Client(), rk.srv.URL, slog.New(slog.DiscardHandler), nil, MinRefetchInterval)
	ctx := context.Background()
	old := rk.token(t)
	if _, err := ks.VerifySignature(ctx, old); err != nil {
		t.Fatal(err)
	}
	rk.rotate(t)
	rk.mu.Lock()
	rk.delay = 500 * time.Millisecond
	rk.mu.Unlock()
	fresh := rk.token(t)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := ks.VerifySignature(ctx, fresh)
			errs <- err
		})
	}
	// While the slow fetch runs, a token with a known key is not held up.
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if _, err := ks.VerifySignature(ctx, old); err != nil {
		t.Errorf("known key during the fetch: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a known-key verification waited %v for the slow fetch", d)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("token with the new key: %v", err)
		}
	}
	if n := rk.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (the first, and one shared by 20 misses)", n)
	}
}

// TestKeySetKeys covers which keys verify: kid-less tokens try every
// published key, unparseable keys are skipped, unpublished keys never pass.
func TestKeySetKeys(t *testing.T) {
	tk := newTestKeys(t,
		json.RawMessage(`{"kty":"FUTURE","kid":"f"}`),
		json.RawMessage(`{"kty":"EC","kid":"bad","crv":"P-999","x":"AA","y":"AA"}`),
	)
	ks := newKeySet(tk.srv.Client(), tk.srv.URL, slog.New(slog.DiscardHandler), nil, 0)
	ctx := context.Background()
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"published key with kid", sign(t, tk.published, "published"), true},
		{"published key without kid", sign(t, tk.published, ""), true},
		{"unpublished key under the published kid", sign(t, tk.unpublished, "published"), false},
		{"unpublished key without kid", sign(t, tk.unpublished, ""), false},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", false},
		{"HS256", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", false},
		{"five parts", "a.b.c.d.e", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ks.VerifySignature(ctx, tc.raw)
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestKeySetFailureIsNoted: a key set that can not be fetched is reported
// through the context, so that the caller sees an outage, not a forgery.
func TestKeySetFailureIsNoted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ks := newKeySet(srv.Client(), srv.URL, slog.New(slog.DiscardHandler), nil, 0)
	ctx, f := watchKeyFailure(context.Background())
	if _, err := ks.VerifySignature(ctx, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"); err == nil {
		t.Fatal("verified with no keys")
	}
	if f.Err() == nil {
		t.Error("the failed fetch was not noted")
	}
	// A bad token against good keys is no outage.
	tk := newTestKeys(t)
	ks = newKeySet(tk.srv.Client(), tk.srv.URL, slog.New(slog.DiscardHandler), nil, 0)
	ctx, f = watchKeyFailure(context.Background())
	_, err := ks.VerifySignature(ctx, sign(t, tk.unpublished, "published"))
	if err == nil || f.Err() != nil {
		t.Errorf("forged token: err %v, noted failure %v; want an error and nothing noted", err, f.Err())
	}
}
