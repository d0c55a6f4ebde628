package main

// Sessions on the Redis topologies other than one Redis: a Redis Cluster of
// three masters shared by two app instances, and a master with a replica
// behind Sentinel whose master dies while the app is in use. Real
// redis-server processes (internal/session/redistest), real apps started by
// run, the dev provider.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loginapp/login/internal/session"
	"github.com/loginapp/login/internal/session/redistest"
)

// sessReplay returns a client that presents only cookie at app: a copy of
// the browser's session cookie, which a logout must kill everywhere.
func sessReplay(t *testing.T, app *testApp, cookie *http.Cookie) *client {
	t.Helper()
	c := newClient(t)
	u, _ := url.Parse(app.URL)
	c.jar.SetCookies(u, []*http.Cookie{cookie})
	return c
}

// TestSessRedisCluster: two instances on a three-master Redis Cluster
// serve the same sessions, and every kind of logout on one is a logout on
// both. (A provider session id of several users, in several slots, is in
// the session package's backend contract, run against a Cluster too.)
func TestSessRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t)
	cl := sessStartCluster(t, 2, 0, map[string]string{"SESSION_STORE": rc.URL()})
	a, b := cl.apps[0], cl.apps[1]
	cc := rc.Client()
	defer cc.Close()

	t.Run("log in on A, use the session on B, log out on B, dead on A", func(t *testing.T) {
		c := newClient(t)
		sessLogin(t, c, a, "alice")
		frag := c.get(b.URL+"/profile/userinfo", "HX-Request", "true")
		if frag.StatusCode != http.StatusOK {
			t.Fatalf("B: GET /profile/userinfo = %d, want 200", frag.StatusCode)
		}
		mustContain(t, "B's details", frag.Body, "devidp|alice")
		cookie := c.cookie(a, "session")
		out := c.postForm(b.URL+"/logout", url.Values{}, "Origin", b.URL, "Sec-Fetch-Site", "same-origin")
		if out.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /logout on B = %d, want 303", out.StatusCode)
		}
		if sessLoggedIn(t, sessReplay(t, a, cookie), a) {
			t.Fatal("the cookie still works on A after logging out on B")
		}
	})

	t.Run("back-channel logout sent to A ends the session everywhere", func(t *testing.T) {
		maria, alice := newClient(t), newClient(t)
		sessLogin(t, maria, b, "maria")
		sessLogin(t, alice, a, "alice")
		if err := cl.dev.SendBackchannelLogout(context.Background(), "", sessSIDOf(t, cc, "devidp|maria")); err != nil {
			t.Fatalf("back-channel logout to A: %v", err)
		}
		if sessLoggedIn(t, maria, b) || sessLoggedIn(t, maria, a) {
			t.Error("maria's session survived a back-channel logout of its sid")
		}
		if !sessLoggedIn(t, alice, b) {
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
}

// TestSessRedisSentinelFailover: one app instance on a master and a
// replica behind Sentinel; the master is killed while users log out and
// use the app, with replication lagging. While there is no master,
// authenticated pages answer 503; after the promotion they recover by
// themselves, the sessions stored before the kill still work, and every
// logout that was answered as done stays done.
func TestSessRedisSentinelFailover(t *testing.T) {
	sen := redistest.StartSentinel(t)
	cl := sessStartCluster(t, 2, 0, map[string]string{"SESSION_STORE": sen.URL()})
	a, b := cl.apps[0], cl.apps[1]
	users := []string{"alice", "bob", "maria"}
	var stay []*client // logged in throughout
	for i := range 6 {
		c := newClient(t)
		sessLogin(t, c, cl.apps[i%2], users[i%3])
		stay = append(stay, c)
	}
	type leaver struct {
		c      *client
		app    *testApp
		cookie *http.Cookie
	}
	var leave []leaver // log out during the failover
	for i := range 12 {
		c := newClient(t)
		app := cl.apps[i%2]
		sessLogin(t, c, app, users[i%3])
		leave = append(leave, leaver{c, app, c.cookie(app, "session")})
	}
	sessReplicated(t, sen)

	// The logouts: each is retried until answered 303, as a user would
	// press the button again after a 503 page.
	type outcome struct {
		at     time.Duration
		status int
	}
	describe := func(rs []outcome) string {
		var parts []string
		for i := 0; i < len(rs); {
			j := i
			for j+1 < len(rs) && rs[j+1].status == rs[i].status {
				j++
			}
			if j > i {
				parts = append(parts, fmt.Sprintf("%d x%d %.2fs-%.2fs", rs[i].status, j-i+1, rs[i].at.Seconds(), rs[j].at.Seconds()))
			} else {
				parts = append(parts, fmt.Sprintf("%d at %.2fs", rs[i].status, rs[i].at.Seconds()))
			}
			i = j + 1
		}
		return strings.Join(parts, ", ")
	}
	start := time.Now()
	results := make([][]outcome, len(leave))
	var wg sync.WaitGroup
	for i, l := range leave {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 150 * time.Millisecond) // spread over the failover
			for time.Since(start) < 40*time.Second {
				req, _ := http.NewRequest(http.MethodPost, l.app.URL+"/logout", strings.NewReader(""))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", l.app.URL)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				resp, err := l.c.c.Do(req)
				status := 0
				if err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				results[i] = append(results[i], outcome{time.Since(start), status})
				if status == http.StatusSeeOther {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	// A user of the app during the failover.
	user := stay[0]
	var (
		mu                  sync.Mutex
		first503, first200  time.Duration
		promoted, killedAt  time.Duration
		statuses            = map[int]int{}
		done                = make(chan struct{})
		pollerDone          = make(chan struct{})
		otherThan503Or200At time.Duration
	)
	go func() {
		defer close(pollerDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			code, _, _, err := sessGet(user, a.URL+"/profile")
			now := time.Since(start)
			mu.Lock()
			statuses[code]++
			switch {
			case err != nil:
				otherThan503Or200At = now
			case code == http.StatusServiceUnavailable && first503 == 0 && killedAt > 0:
				first503 = now
			case code == http.StatusOK && first503 > 0 && first200 == 0:
				first200 = now
			case code != http.StatusOK && code != http.StatusServiceUnavailable:
				otherThan503Or200At = now
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	time.Sleep(300 * time.Millisecond) // a few logouts go through normally
	sen.StallReplication()             // then the replica falls behind
	time.Sleep(500 * time.Millisecond)
	next := sen.KillMaster()
	sen.ResumeReplication() // what was held back dies with the master
	mu.Lock()
	killedAt = time.Since(start)
	mu.Unlock()
	sen.WaitPromotion(next, 30*time.Second)
	mu.Lock()
	promoted = time.Since(start)
	mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		ok := first200 > 0
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/profile did not answer 200 within 20s of the promotion; statuses %v", statuses)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	<-pollerDone
	wg.Wait()

	t.Logf("failover timeline (since the first logout; replication held back at 0.30s):")
	t.Logf("%6.2fs master killed", killedAt.Seconds())
	t.Logf("%6.2fs first 503 of an authenticated page", first503.Seconds())
	t.Logf("%6.2fs replica promoted by the Sentinel", promoted.Seconds())
	t.Logf("%6.2fs first 200 of the same page", first200.Seconds())
	t.Logf("GET /profile statuses during the run: %v", statuses)
	if first503 == 0 || first503 < killedAt || first503-killedAt > 2*time.Second {
		t.Errorf("first 503 at %v, want within 2s of the kill at %v", first503, killedAt)
	}
	if otherThan503Or200At > 0 {
		t.Errorf("an answer other than 200 or 503 at %v; statuses %v", otherThan503Or200At, statuses)
	}
	if first200-promoted > 5*time.Second {
		t.Errorf("first 200 %v after the promotion, want it within 5s", first200-promoted)
	}

	// Every logout ended with a 303; the ones answered 503 first were
	// retried. Every one of them is dead on both instances.
	answered503 := 0
	for i, rs := range results {
		last := rs[len(rs)-1]
		if last.status != http.StatusSeeOther {
			t.Errorf("logout %d never succeeded: %s", i, describe(rs))
		}
		for _, r := range rs {
			if r.status == http.StatusServiceUnavailable {
				answered503++
			}
		}
		t.Logf("logout %2d: %s", i, describe(rs))
	}
	if answered503 == 0 {
		t.Error("no logout answered 503: none raced the failover")
	}
	for i, l := range leave {
		for _, app := range []*testApp{a, b} {
			if sessLoggedIn(t, sessReplay(t, app, l.cookie), app) {
				t.Errorf("logout %d answered as done, but its session works on %s after the failover", i, app.URL)
			}
		}
	}
	for i, c := range stay {
		for _, app := range []*testApp{a, b} {
			if !sessLoggedIn(t, c, app) {
				t.Errorf("session %d, stored before the failover, does not work on %s after it", i, app.URL)
			}
		}
	}
}

// sessReplicated waits until the Sentinel setup's replica has every write
// so far: a deletion (of nothing) through the backend returns only once
// the replica acknowledges it, and it follows every earlier write.
func sessReplicated(t *testing.T, sen *redistest.Sentinel) {
	t.Helper()
	cfg, err := session.ParseRedisURL(sen.URL())
	if err != nil {
		t.Fatal(err)
	}
	r := session.NewRedis(cfg, session.RedisOptions{})
	defer r.Close()
	if err := r.Delete(context.Background(), "s:fence{0000}"); err != nil {
		t.Fatalf("replication: %v", err)
	}
}

// TestSessStoreURLForms: a Sentinel or Cluster SESSION_STORE that does not
// parse stops start-up naming the setting, without echoing the password;
// one whose servers are down starts, serves anonymous pages and reports
// not ready (as with one Redis).
func TestSessStoreURLForms(t *testing.T) {
	for _, store := range []string{
		"redis-sentinel://:s3cret@127.0.0.1:26379",            // no master name
		"redis-sentinel://:s3cret@127.0.0.1:26379/m?db=x",     // not a database
		"redis-cluster://:s3cret@127.0.0.1:7000/3",            // no databases in a Cluster
		"redis-cluster://:s3cret@127.0.0.1:7000,nohost",       // not HOST:PORT
		"redis-cluster://:s3cret@127.0.0.1:7000?bogus=s3cret", // unknown option
	} {
		env := environ(map[string]string{"SESSION_STORE": store, "LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()})
		err := run(context.Background(), nil, env, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "SESSION_STORE: ") {
			t.Errorf("SESSION_STORE=%s: err = %v, want a SESSION_STORE error", store, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
	for _, store := range []string{"redis-sentinel://" + freePort(t) + "/sessions", "redis-cluster://" + freePort(t) + "," + freePort(t)} {
		app := startApp(t, map[string]string{"SESSION_STORE": store, "SESSION_SECRET": sessSecret})
		if r := newClient(t).get(app.URL + "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s down: /readyz = %d, want 503", store, r.StatusCode)
		}
		if r := newClient(t).get(app.URL + "/"); r.StatusCode != http.StatusOK {
			t.Errorf("%s down: index = %d, want 200", store, r.StatusCode)
		}
	}
}
