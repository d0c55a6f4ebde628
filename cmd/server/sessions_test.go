package main

// Sessions end to end (issue 4): real app instances started by run, a real
// redis-server, the dev OpenID Provider. Helpers here start with "sess".

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/loginapp/login/internal/devidp"
	"github.com/loginapp/login/internal/session/redistest"
)

const sessSecret = "sess-test-secret-sess-test-secret-0123456789"

// sessCluster is one dev provider and the app instances that share it.
type sessCluster struct {
	t    *testing.T // the test that owns the provider
	dev  *devidp.Server
	cfg  devidp.Config
	apps []*testApp
}

// sessStartCluster starts a dev provider and n apps that use it, with the
// same SESSION_SECRET and env (SESSION_STORE...). Back-channel logouts go
// to the first app.
func sessStartCluster(t *testing.T, n int, tokenLifetime time.Duration, env map[string]string) *sessCluster {
	t.Helper()
	cfg := devidp.Config{
		ClientID:            "sess-client",
		ClientSecret:        "sess-client-secret",
		Addr:                freePort(t),
		AccessTokenLifetime: tokenLifetime,
		IDTokenLifetime:     tokenLifetime,
	}
	c := &sessCluster{t: t, cfg: cfg}
	// The apps start first, on ports of their own choosing (picking free
	// ports up front races with other tests), while the provider is still
	// down: they wait for it as in production. Then the provider starts
	// with their callback URLs.
	for range n {
		full := map[string]string{
			"OIDC_ISSUER_URL":    "http://" + cfg.Addr,
			"OIDC_CLIENT_ID":     cfg.ClientID,
			"OIDC_CLIENT_SECRET": cfg.ClientSecret,
			"OIDC_SCOPES":        "openid profile email offline_access",
			"SESSION_SECRET":     sessSecret,
			// A restarted provider has a new key; see it at once.
			"OIDC_JWKS_REFETCH_INTERVAL": "50ms",
		}
		for k, v := range env {
			full[k] = v
		}
		app := startApp(t, full)
		for _, u := range devidp.DemoUsers() {
			app.DevUsers[u.Username] = u.Password
		}
		c.apps = append(c.apps, app)
		c.cfg.RedirectURIs = append(c.cfg.RedirectURIs, app.URL+"/callback")
		c.cfg.PostLogoutRedirectURIs = append(c.cfg.PostLogoutRedirectURIs, app.URL+"/")
	}
	c.cfg.BackchannelLogoutURI = c.apps[0].URL + "/backchannel-logout"
	c.startProvider()
	for _, app := range c.apps {
		app.waitReady(t)
	}
	return c
}

// startProvider starts (or, after Close, restarts: same address, new keys,
// no tokens) the provider.
func (c *sessCluster) startProvider() {
	c.t.Helper()
	var err error
	for range 50 {
		if c.dev, err = devidp.Start(context.Background(), c.cfg); err == nil {
			dev := c.dev
			c.t.Cleanup(func() { dev.Close() })
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("start dev provider: %v", err)
}

// sessStop stops app now, as SIGTERM would (the test's cleanup then finds
// it stopped).
func sessStop(t *testing.T, app *testApp) {
	t.Helper()
	app.cancel()
	select {
	case err := <-app.done:
		app.done <- err
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of cancellation")
	}
}

// sessGet is a GET that reports the status (and body) instead of failing,
// so that it can run on any goroutine.
func sessGet(c *client, rawURL string, headers ...string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, nil, "", err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

// sessLoggedIn reports whether c has a session at app: /profile is the
// profile page rather than a redirect to the login.
func sessLoggedIn(t *testing.T, c *client, app *testApp) bool {
	t.Helper()
	resp := c.get(app.URL + "/profile")
	switch resp.StatusCode {
	case http.StatusOK:
		mustContain(t, "profile page", resp.Body, `data-testid="profile-name"`)
		return true
	case http.StatusSeeOther:
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
			t.Fatalf("GET /profile redirected to %q, want the login", loc)
		}
		return false
	default:
		t.Fatalf("GET %s/profile = %d, want 200 or 303:\n%s", app.URL, resp.StatusCode, truncate(resp.Body, 2000))
		return false
	}
}

func sessLogin(t *testing.T, c *client, app *testApp, user string) {
	t.Helper()
	resp, at := c.login(app, "/login", user)
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(at, "/profile") {
		t.Fatalf("login as %s on %s: %d at %s\n%s", user, app.URL, resp.StatusCode, at, truncate(resp.Body, 2000))
	}
}

// sessSIDs returns the provider session ids that Redis indexes, with the
// subjects that have sessions of each (see docs/OPERATIONS.md, "Redis key
// layout").
func sessSIDs(t *testing.T, rds redis.UniversalClient) map[string][]string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		k, err := c.Keys(ctx, "login:sid:*").Result()
		keys = append(keys, k...)
		return err
	}
	var err error
	if cc, ok := rds.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, c)
		})
	} else {
		err = scan(ctx, rds.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range keys {
		subs, err := rds.ZRange(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		// login:sid:{TAG}SID
		_, sid, _ := strings.Cut(k, "}")
		out[sid] = subs
	}
	return out
}

// sessSIDOf returns the provider session id of sub's session, the only one
// in the index that names sub.
func sessSIDOf(t *testing.T, rds redis.UniversalClient, sub string) string {
	t.Helper()
	found := ""
	for sid, subs := range sessSIDs(t, rds) {
		if slices.Contains(subs, sub) {
			if found != "" {
				t.Fatalf("more than one sid indexed for %s", sub)
			}
			found = sid
		}
	}
	if found == "" {
		t.Fatalf("no sid indexed for %s", sub)
	}
	return found
}

// TestSessSharedRedis: two instances on one Redis serve the same sessions,
// and every kind of logout on one is a logout on both.
func TestSessSharedRedis(t *testing.T) {
	rds := redistest.Start(t)
	cl := sessStartCluster(t, 2, 0, map[string]string{"SESSION_STORE": rds.URL()})
	a, b := cl.apps[0], cl.apps[1]

	t.Run("log in on A, use the session on B", func(t *testing.T) {
		c := newClient(t)
		sessLogin(t, c, a, "alice")
		frag := c.get(b.URL+"/profile/userinfo", "HX-Request", "true")
		if frag.StatusCode != http.StatusOK {
			t.Fatalf("B: GET /profile/userinfo = %d, want 200", frag.StatusCode)
		}
		mustContain(t, "B's details", frag.Body, "devidp|alice")
	})

	t.Run("log out on B, the cookie is dead on A", func(t *testing.T) {
		c := newClient(t)
		sessLogin(t, c, a, "bob")
		cookie := c.cookie(a, "session")
		out := c.postForm(b.URL+"/logout", url.Values{}, "Origin", b.URL, "Sec-Fetch-Site", "same-origin")
		if out.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /logout on B = %d, want 303", out.StatusCode)
		}
		// Not following the redirect to the provider: the provider's
		// back-channel logout is not what ends it here.
		replay := newClient(t)
		u, _ := url.Parse(a.URL)
		replay.jar.SetCookies(u, []*http.Cookie{cookie})
		if sessLoggedIn(t, replay, a) {
			t.Fatal("the cookie still works on A after logging out on B")
		}
	})

	t.Run("back-channel logout sent to A ends the session used on B", func(t *testing.T) {
		c := newClient(t)
		sessLogin(t, c, b, "maria")
		other := newClient(t)
		sessLogin(t, other, b, "alice")
		mariaSID := sessSIDOf(t, rds.Client(), "devidp|maria")
		if err := cl.dev.SendBackchannelLogout(context.Background(), "", mariaSID); err != nil {
			t.Fatalf("back-channel logout to A: %v", err)
		}
		if sessLoggedIn(t, c, b) {
			t.Error("maria's session survived a back-channel logout of its sid")
		}
		if !sessLoggedIn(t, other, b) {
			t.Error("a back-channel logout of maria's sid ended alice's session too")
		}
	})

	t.Run("a sub alone ends all of the user's sessions", func(t *testing.T) {
		c1, c2, bob := newClient(t), newClient(t), newClient(t)
		sessLogin(t, c1, a, "alice")
		sessLogin(t, c2, b, "alice")
		sessLogin(t, bob, b, "bob")
		if err := cl.dev.SendBackchannelLogout(context.Background(), "devidp|alice", ""); err != nil {
			t.Fatal(err)
		}
		if sessLoggedIn(t, c1, b) || sessLoggedIn(t, c2, a) {
			t.Error("one of alice's sessions survived a back-channel logout of her sub")
		}
		if !sessLoggedIn(t, bob, a) {
			t.Error("bob's session ended with alice's")
		}
	})

	t.Run("logout at the provider ends the session on both", func(t *testing.T) {
		c := newClient(t)
		sessLogin(t, c, b, "bob")
		// The provider's end_session sends a back-channel logout to A; the
		// browser's cookie must be dead on B too. Use a copy of the cookie,
		// since following the logout clears it in this browser.
		cookie := c.cookie(b, "session")
		out := c.postForm(b.URL+"/logout", url.Values{}, "Origin", b.URL, "Sec-Fetch-Site", "same-origin")
		c.follow(out.Header.Get("Location"))
		replay := newClient(t)
		u, _ := url.Parse(b.URL)
		replay.jar.SetCookies(u, []*http.Cookie{cookie})
		if sessLoggedIn(t, replay, a) || sessLoggedIn(t, replay, b) {
			t.Error("session alive after logout at the provider")
		}
	})
}

// TestSessRefreshAcrossInstances: with short-lived tokens and requests
// arriving at both instances at once, the session is refreshed once per
// expiry and survives. The provider rotates refresh tokens, so two
// instances refreshing with the same token would end the session: this
// fails without the lock in Redis.
func TestSessRefreshAcrossInstances(t *testing.T) {
	rds := redistest.Start(t)
	cl := sessStartCluster(t, 2, 2*time.Second, map[string]string{"SESSION_STORE": rds.URL()})
	c := newClient(t)
	sessLogin(t, c, cl.apps[0], "alice")

	for round := range 2 {
		time.Sleep(2100 * time.Millisecond) // both tokens have expired
		var wg sync.WaitGroup
		results := make(chan string, 16)
		for i := range 16 {
			app := cl.apps[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, h, _, err := sessGet(c, app.URL+"/profile/userinfo", "HX-Request", "true")
				if err != nil || code != http.StatusOK {
					results <- fmt.Sprintf("%s: %d %v (HX-Redirect %q)", app.URL, code, err, h.Get("HX-Redirect"))
				}
			}()
		}
		wg.Wait()
		close(results)
		for r := range results {
			t.Errorf("round %d: concurrent request after expiry: %s", round, r)
		}
		if t.Failed() {
			t.Fatalf("stderr A:\n%s\nstderr B:\n%s", cl.apps[0].Stderr, cl.apps[1].Stderr)
		}
	}
	if !sessLoggedIn(t, c, cl.apps[1]) {
		t.Fatal("session ended after the refreshes")
	}
	if s := cl.apps[0].Stderr.String() + cl.apps[1].Stderr.String(); strings.Contains(s, "refresh failed") {
		t.Fatalf("a refresh failed:\n%s", s)
	}
}

// TestSessRefreshFailureLogsIn: when the refresh token no longer works (the
// provider restarted and forgot it), the session ends and the user is sent
// to log in: htmx gets 401 with HX-Redirect, a page a redirect, never an
// error page. This one runs on the embedded store.
func TestSessRefreshFailureLogsIn(t *testing.T) {
	cl := sessStartCluster(t, 1, 2*time.Second, nil)
	app := cl.apps[0]
	tests := []struct {
		name    string
		path    string
		headers []string
		check   func(t *testing.T, r *response)
	}{
		{"htmx", "/profile/userinfo", []string{"HX-Request", "true"}, func(t *testing.T, r *response) {
			if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("HX-Redirect"), "/login?returnTo=") {
				t.Errorf("htmx after a failed refresh: %d HX-Redirect %q, want 401 to the login", r.StatusCode, r.Header.Get("HX-Redirect"))
			}
		}},
		{"page", "/profile", nil, func(t *testing.T, r *response) {
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?returnTo=") {
				t.Errorf("page after a failed refresh: %d Location %q, want 303 to the login", r.StatusCode, r.Header.Get("Location"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			sessLogin(t, c, app, "alice")
			// The provider restarts: the refresh token is gone with it.
			cl.dev.Close()
			cl.startProvider()
			time.Sleep(2100 * time.Millisecond)
			resp := c.get(app.URL+tt.path, tt.headers...)
			tt.check(t, resp)
			if strings.Contains(resp.Body, "went wrong") {
				t.Errorf("an error page after a failed refresh:\n%s", truncate(resp.Body, 1000))
			}
			if c.cookie(app, "session") != nil {
				t.Error("the session cookie was not cleared")
			}
			if idx := c.get(app.URL + "/"); idx.StatusCode != http.StatusOK || idx.Doc(t).Find(`[data-testid="login-card"]`).Length() != 1 {
				t.Errorf("index after a failed refresh: %d without the login card", idx.StatusCode)
			}
		})
	}
}

// TestSessDevTokenLifetime: DEV_TOKEN_LIFETIME shortens the dev provider's
// tokens, and concurrent requests of one browser refresh them once.
func TestSessDevTokenLifetime(t *testing.T) {
	app := startApp(t, map[string]string{"DEV_TOKEN_LIFETIME": "2s"})
	app.waitReady(t)
	c := newClient(t)
	sessLogin(t, c, app, "bob")
	time.Sleep(2100 * time.Millisecond)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _, _ = sessGet(c, app.URL+"/profile/userinfo", "HX-Request", "true")
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("request %d after the tokens expired: %d, want 200 (refreshed)", i, code)
		}
	}
	if !sessLoggedIn(t, c, app) {
		t.Fatalf("session ended; stderr:\n%s", app.Stderr)
	}
}

// TestSessEmbeddedSurvivesRestart: same DATA_DIR and SESSION_SECRET, a new
// process, the same session.
func TestSessEmbeddedSurvivesRestart(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "SESSION_SECRET": sessSecret}
	app := startApp(t, env)
	c := newClient(t)
	sessLogin(t, c, app, "alice")
	sessStop(t, app)

	again := startApp(t, env)
	if !sessLoggedIn(t, c, again) {
		t.Fatal("the session did not survive a restart")
	}
}

// sessCorrupt is what a corrupt record can look like.
var sessCorrupt = map[string]func(stored []byte) []byte{
	"garbage":         func([]byte) []byte { return []byte("\x00\x01garbage") },
	"truncated":       func(b []byte) []byte { return b[:len(b)/2] },
	"flipped payload": func(b []byte) []byte { return sessFlip(b) },
}

func sessFlip(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := len(c) - 40; i < len(c)-8; i++ {
		c[i] ^= 0xa5
	}
	return c
}

// sessAssertAnonymousAfterCorruption: a corrupt record is no session:
// pages work, nothing is a 500, and it is logged.
func sessAssertAnonymousAfterCorruption(t *testing.T, c *client, app *testApp) {
	t.Helper()
	if sessLoggedIn(t, c, app) {
		t.Fatal("a corrupt record still logs in")
	}
	frag := c.get(app.URL+"/profile/userinfo", "HX-Request", "true")
	if frag.StatusCode != http.StatusUnauthorized {
		t.Errorf("htmx with a corrupt record: %d, want 401", frag.StatusCode)
	}
	if idx := c.get(app.URL + "/"); idx.StatusCode != http.StatusOK {
		t.Errorf("index with a corrupt record: %d", idx.StatusCode)
	}
	if s := app.Stderr.String(); !strings.Contains(s, "corrupt session") {
		t.Errorf("corruption not logged; stderr:\n%s", s)
	}
}

func TestSessCorruptRecordEmbedded(t *testing.T) {
	for name, corrupt := range sessCorrupt {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": t.TempDir(), "SESSION_SECRET": sessSecret}
			app := startApp(t, env)
			c := newClient(t)
			sessLogin(t, c, app, "alice")
			sessStop(t, app) // bbolt allows one process at a time

			db, err := bolt.Open(env["DATA_DIR"]+"/sessions.db", 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("sessions"))
				var keys, vals [][]byte
				b.ForEach(func(k, v []byte) error {
					keys, vals = append(keys, append([]byte(nil), k...)), append(vals, append([]byte(nil), v...))
					return nil
				})
				if len(keys) != 1 {
					return fmt.Errorf("%d sessions stored, want 1", len(keys))
				}
				return b.Put(keys[0], corrupt(vals[0]))
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			sessAssertAnonymousAfterCorruption(t, c, startApp(t, env))
		})
	}
}

func TestSessCorruptRecordRedis(t *testing.T) {
	rds := redistest.Start(t)
	app := startApp(t, map[string]string{"SESSION_STORE": rds.URL(), "SESSION_SECRET": sessSecret})
	ctx := context.Background()
	for name, corrupt := range sessCorrupt {
		t.Run(name, func(t *testing.T) {
			c := newClient(t)
			sessLogin(t, c, app, "alice")
			keys, err := rds.Client().Keys(ctx, "login:s:*").Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("sessions in Redis: %v, %v; want 1", keys, err)
			}
			stored, err := rds.Client().Get(ctx, keys[0]).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if err := rds.Client().Set(ctx, keys[0], corrupt(stored), time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			sessAssertAnonymousAfterCorruption(t, c, app)
			rds.Client().Del(ctx, keys[0])
		})
	}
}

// TestSessRedisOutage: Redis dies, or stalls, under a running app.
// Authenticated pages get a clear 503 page quickly, anonymous pages keep
// working, /readyz says 503, nothing panics, and when Redis is back the
// same session works again without restarting the app.
func TestSessRedisOutage(t *testing.T) {
	rds := redistest.Start(t)
	app := startApp(t, map[string]string{"SESSION_STORE": rds.URL(), "SESSION_SECRET": sessSecret})
	app.waitReady(t)
	c := newClient(t)
	sessLogin(t, c, app, "alice")
	ctx := context.Background()

	outage := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		page := c.get(app.URL + "/profile")
		if page.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET /profile with Redis down = %d, want 503", page.StatusCode)
		}
		mustContain(t, "503 page", page.Body, "Sessions are unavailable")
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("the 503 took %v, want a quick answer", d)
		}
		if frag := c.get(app.URL+"/profile/userinfo", "HX-Request", "true"); frag.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("htmx with Redis down = %d, want 503", frag.StatusCode)
		}
		if idx := c.get(app.URL + "/"); idx.StatusCode != http.StatusOK || idx.Doc(t).Find(`[data-testid="login-card"]`).Length() != 1 {
			t.Errorf("index with Redis down: %d without the login card", idx.StatusCode)
		}
		if login := newClient(t).get(app.URL + "/login"); login.StatusCode != http.StatusSeeOther {
			t.Errorf("GET /login with Redis down = %d, want 303 to the provider", login.StatusCode)
		}
		ready := c.get(app.URL + "/readyz")
		if ready.StatusCode != http.StatusServiceUnavailable || !strings.Contains(ready.Body, "session store") {
			t.Errorf("/readyz with Redis down = %d %q, want 503 naming the session store", ready.StatusCode, ready.Body)
		}
	}
	recovered := func(t *testing.T) {
		t.Helper()
		app.waitReady(t)
		if !sessLoggedIn(t, c, app) {
			t.Fatal("the session did not come back with Redis")
		}
	}

	t.Run("killed and restarted", func(t *testing.T) {
		// A snapshot, so that the restarted Redis has the session.
		if err := rds.Client().Save(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		rds.Kill()
		outage(t)
		rds.Restart()
		recovered(t)
	})

	t.Run("stalled", func(t *testing.T) {
		rds.Pause()
		outage(t)
		rds.Resume()
		recovered(t)
	})

	if s := app.Stderr.String(); strings.Contains(s, "panic") {
		t.Fatalf("the app panicked:\n%s", s)
	}
}

// TestSessRedisDownAtStart: the app starts while Redis is down and becomes
// ready when it comes up.
func TestSessRedisDownAtStart(t *testing.T) {
	rds := redistest.Start(t)
	rds.Kill()
	app := startApp(t, map[string]string{"SESSION_STORE": rds.URL(), "SESSION_SECRET": sessSecret})
	if r := newClient(t).get(app.URL + "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down = %d, want 503", r.StatusCode)
	}
	if r := newClient(t).get(app.URL + "/"); r.StatusCode != http.StatusOK {
		t.Fatalf("index with Redis down = %d, want 200", r.StatusCode)
	}
	rds.Restart()
	app.waitReady(t)
	sessLogin(t, newClient(t), app, "alice")
}

// TestSessBadStoreURL: a SESSION_STORE that is not a usable Redis URL stops
// start-up naming the setting, without echoing a password.
func TestSessBadStoreURL(t *testing.T) {
	for _, store := range []string{"redis://:s3cret@127.0.0.1:6379/notanumber", "redis://127.0.0.1:6379/0?bogus=1", "http://127.0.0.1:6379"} {
		env := environ(map[string]string{"SESSION_STORE": store, "LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()})
		err := run(context.Background(), nil, env, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "SESSION_STORE: ") {
			t.Errorf("SESSION_STORE=%s: err = %v, want a SESSION_STORE error", store, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
}
