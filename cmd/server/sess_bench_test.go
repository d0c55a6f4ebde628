package main

// What a session store adds to an authenticated request, measured through
// the whole handler (router, middleware, session, rendering) as
// docs/BENCHMARKS.md reports it:
//
//	go test ./cmd/server -run '^$' -bench SessProfile -benchmem -count 5
//
// Each backend is measured with the user signed in once and on 50
// devices (SESSION_MAX_PER_USER's default): a user's other sessions must
// cost their /profile nothing.
//
// "memory" keeps sessions in a map in process memory: the same request
// path without any storage cost, the baseline of the same run. The session
// is a realistic one: the large Auth0 userinfo and a 2 KB ID token.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/loginapp/login/handlers"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/session"
	"github.com/loginapp/login/internal/session/redistest"
)

// sessMemBackend is a session.Backend in a map.
type sessMemBackend struct {
	mu sync.Mutex
	m  map[string]session.Entry
}

func (b *sessMemBackend) Get(_ context.Context, key string) (session.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		return session.Entry{}, session.ErrNotFound
	}
	return e, nil
}

func (b *sessMemBackend) Put(_ context.Context, key string, val []byte, m session.Meta) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]session.Entry{}
	}
	b.m[key] = session.Entry{Value: val, Meta: m}
	return nil
}

func (b *sessMemBackend) Update(ctx context.Context, key string, val []byte, m session.Meta) error {
	return b.Put(ctx, key, val, m)
}
func (b *sessMemBackend) Delete(context.Context, string) error                  { return nil }
func (b *sessMemBackend) DeleteSubject(context.Context, string) (int, error)    { return 0, nil }
func (b *sessMemBackend) DeleteSID(context.Context, string) (int, error)        { return 0, nil }
func (b *sessMemBackend) List(context.Context, string) ([]session.Item, error)  { return nil, nil }
func (b *sessMemBackend) Once(context.Context, string, time.Time) (bool, error) { return true, nil }
func (b *sessMemBackend) Used(context.Context, string) (bool, error)            { return false, nil }
func (b *sessMemBackend) Lock(context.Context, string, time.Duration) (func(), error) {
	return func() {}, nil
}
func (b *sessMemBackend) Ping(context.Context) error { return nil }
func (b *sessMemBackend) Close() error               { return nil }

// sessRealisticRecord: the large Auth0 userinfo, and a 2 KB RS256 ID token
// with the profile claims and random nonce, at_hash and signature.
func sessRealisticRecord(b *testing.B) *session.Record {
	b.Helper()
	userinfo, err := os.ReadFile("../../internal/session/testdata/auth0-userinfo-large.json")
	if err != nil {
		b.Fatal(err)
	}
	var claims map[string]any
	json.Unmarshal(userinfo, &claims)
	rnd := func(n int) string {
		p := make([]byte, n)
		rand.Read(p)
		return base64.RawURLEncoding.EncodeToString(p)
	}
	now := time.Now()
	id := map[string]any{"iss": "https://login-example.eu.auth0.com/", "aud": "kX9mP2qR7sT4vW9yZ1aB3cD5eF6gH0jL",
		"iat": now.Unix(), "exp": now.Add(10 * time.Hour).Unix(), "sid": rnd(24), "nonce": rnd(32), "at_hash": rnd(16)}
	for _, k := range []string{"sub", "given_name", "family_name", "nickname", "name", "picture", "locale", "updated_at", "email", "email_verified", "https://app.example.com/roles", "https://app.example.com/org", "https://app.example.com/app_metadata"} {
		id[k] = claims[k]
	}
	payload, _ := json.Marshal(id)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"nZ3fQ8xK2mP7vR4tY9wB1cD6eF0gH5jL"}`))
	token := header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + rnd(256)
	return &session.Record{
		Subject: claims["sub"].(string), SID: id["sid"].(string), UserInfo: userinfo, IDToken: token,
		AccessToken: rnd(24), RefreshToken: "v1." + rnd(64), TokenExpiry: now.Add(10 * time.Hour),
	}
}

// sessBenchServer is the app's handler on backend, with a logged-in
// session's cookie.
func sessBenchServer(b *testing.B, backend session.Backend, perUser int) (http.Handler, *http.Cookie) {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil)) // an access line per request, as in production
	store, err := session.NewStore(backend, []byte(sessSecret), session.Options{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	issuer := "http://127.0.0.1:9" // never asked: the session is served from the store
	rp := auth.New(auth.Config{Issuer: issuer, ClientID: "c", ClientSecret: "s", RedirectURL: "http://app.test/callback", PostLogoutURL: "http://app.test/", Scopes: []string{"openid"}})
	srv, err := handlers.NewServer(handlers.Config{BaseURL: "http://app.test", Secret: []byte(sessSecret)}, log, rp, store)
	if err != nil {
		b.Fatal(err)
	}
	rec := sessRealisticRecord(b)
	var cookie *http.Cookie
	for range perUser {
		w := httptest.NewRecorder()
		copy := *rec
		if err := store.Login(w, httptest.NewRequest(http.MethodGet, "/callback", nil), &copy); err != nil {
			b.Fatal(err)
		}
		cookie = w.Result().Cookies()[0]
	}
	return srv, cookie
}

// sessNullWriter keeps nothing, so that the benchmark measures the handler.
type sessNullWriter struct {
	h      http.Header
	status int
}

func (w *sessNullWriter) Header() http.Header         { return w.h }
func (w *sessNullWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *sessNullWriter) WriteHeader(code int)        { w.status = code }

func BenchmarkSessProfile(b *testing.B) {
	rds := redistest.Start(b)
	backends := []struct {
		name string
		open func(b *testing.B) session.Backend
	}{
		{"memory", func(*testing.B) session.Backend { return &sessMemBackend{} }},
		{"bolt", func(b *testing.B) session.Backend {
			bk, err := session.OpenBolt(b.TempDir(), session.BoltOptions{SweepEvery: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { bk.Close() })
			return bk
		}},
		{"redis", func(b *testing.B) session.Backend {
			cfg, err := session.ParseRedisURL(rds.URL())
			if err != nil {
				b.Fatal(err)
			}
			r := session.NewRedis(cfg, session.RedisOptions{})
			b.Cleanup(func() { r.Close() })
			return r
		}},
	}
	for _, bk := range backends {
		for _, perUser := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/%d-sessions", bk.name, perUser), func(b *testing.B) {
				rds.Client().FlushAll(context.Background())
				srv, cookie := sessBenchServer(b, bk.open(b), perUser)
				r := httptest.NewRequest(http.MethodGet, "/profile", nil)
				r.AddCookie(cookie)
				b.ReportAllocs()
				for b.Loop() {
					w := &sessNullWriter{h: http.Header{}}
					srv.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Fatalf("GET /profile: status %d", w.status)
					}
				}
			})
		}
	}
}
