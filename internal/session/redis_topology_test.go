package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loginapp/login/internal/session/redistest"
)

// TestRedisClusterSpansSlots: the subjects of the backend contract's
// cross-subject cases live on different masters of the test cluster, so
// that the contract run against a Cluster does exercise a sid spanning
// slots of several servers.
func TestRedisClusterSpansSlots(t *testing.T) {
	cl := redistest.StartCluster(t)
	r := newTestRedisURL(t, cl.URL(), 0)
	cc := cl.Client()
	defer cc.Close()
	ctx := context.Background()
	masters := map[string]bool{}
	for _, sub := range []string{"alice", "bob", "carol", "dave"} {
		node, err := cc.MasterForKey(ctx, r.subjectKey(sub))
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
		// A record of the subject is in the same slot as its index.
		if a, b := slotOf(r.subjectKey(sub)), slotOf(r.prefix+storageKey(newID(time.Now(), sub))); a != b {
			t.Errorf("%s: index in slot %d, record in slot %d", sub, a, b)
		}
	}
	if len(masters) < 2 {
		t.Fatalf("the test subjects are all on %v; want several masters", masters)
	}
}

// slotOf is Redis Cluster's slot of key (CRC16 of its hash tag).
func slotOf(key string) int {
	if tag := keyTag(key); tag != "" {
		key = tag
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// TestRedisLegacyLayout: sessions stored by the earlier layout (keys
// without a tag, the subject's hash u:SUB, the sid's string d:SID, v1
// entries) still read, are found by deletions by subject and sid, and
// join the new indexes when they are written again.
func TestRedisLegacyLayout(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client()
	r := newTestRedis(t, srv)
	ctx := context.Background()
	legacy := func(key, sub, sid string) {
		t.Helper()
		v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).UnixNano()))
		v = binary.BigEndian.AppendUint16(v, uint16(len(sub)))
		v = append(v, sub...)
		v = binary.BigEndian.AppendUint16(v, uint16(len(sid)))
		v = append(v, sid...)
		v = append(v, "record of "+key...)
		rc.Set(ctx, "login:"+key, v, time.Hour)
		rc.HSet(ctx, "login:u:"+sub, "login:"+key, sid)
		if sid != "" {
			rc.Set(ctx, "login:d:"+sid, sub, time.Hour)
		}
	}
	legacy("s:0000000000000001aaaa", "alice", "op-1")
	legacy("s:0000000000000002bbbb", "alice", "op-2")
	legacy("s:0000000000000003cccc", "alice", "")
	legacy("s:0000000000000004dddd", "bob", "op-4")

	e, err := r.Get(ctx, "s:0000000000000001aaaa")
	if err != nil || e.Subject != "alice" || e.SID != "op-1" || string(e.Value) != "record of s:0000000000000001aaaa" || !e.LastSeen.IsZero() {
		t.Fatalf("Get of an earlier entry = %+v, %v", e, err)
	}
	// Written again (activity), it joins the new indexes.
	if err := r.Update(ctx, "s:0000000000000003cccc", []byte("touched"), meta("alice", "", time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if items, err := r.List(ctx, "alice"); err != nil || len(items) != 1 || string(items[0].Value) != "touched" {
		t.Fatalf("List after the update = %+v, %v; want the updated session", items, err)
	}
	if n, err := r.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
		t.Fatalf("DeleteSID of an earlier sid = %d, %v; want 1", n, err)
	}
	if _, err := r.Get(ctx, "s:0000000000000001aaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the earlier session of the sid survived: %v", err)
	}
	if n, err := r.DeleteSubject(ctx, "alice"); err != nil || n != 2 {
		t.Fatalf("DeleteSubject = %d, %v; want 2 (one indexed the earlier way only, one both ways)", n, err)
	}
	if err := r.Delete(ctx, "s:0000000000000004dddd"); err != nil {
		t.Fatal(err)
	}
	if n := rc.HLen(ctx, "login:u:bob").Val(); n != 0 {
		t.Fatalf("the earlier subject index still names %d deleted sessions", n)
	}
	for _, k := range rc.Keys(ctx, "login:*").Val() {
		if k != "login:d:op-2" && k != "login:d:op-4" { // they expire by themselves
			t.Errorf("key %s left", k)
		}
	}
}

// TestRedisDeletionWaitsForReplica: behind Sentinel, a deletion is done
// only when the replica has it; while replication is held back it fails,
// and so does its retry on another instance (which finds nothing left to
// delete on the master), until the replica has caught up.
func TestRedisDeletionWaitsForReplica(t *testing.T) {
	sen := redistest.StartSentinel(t)
	a := newTestRedisURL(t, sen.URL(), 0)
	ctx := context.Background()
	replica := sen.Replica().Client()
	key := testKey("alice", "1")
	if err := a.Put(ctx, key, []byte("v"), meta("alice", "op-1", time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	f := newStoreFixture(t, a, time.Hour, 2*time.Hour)
	f.store.opts.Now = time.Now
	rec := simpleRecord()
	rec.Subject = "bob"
	f.login(t, rec)
	if err := a.Delete(ctx, testKey("nobody", "x")); err != nil { // its WAIT covers the writes above
		t.Fatal(err)
	}
	if n := replica.Exists(ctx, "login:"+key).Val(); n != 1 {
		t.Fatal("the replica does not have the session")
	}
	// Another instance, whose connection last wrote (and saw acknowledged)
	// before what follows.
	b := newTestRedisURL(t, sen.URL(), 0)
	if err := b.Delete(ctx, testKey("nobody", "y")); err != nil {
		t.Fatal(err)
	}

	sen.StallReplication()
	start := time.Now()
	err := a.Delete(ctx, key)
	if !errors.Is(err, errNotReplicated) {
		t.Fatalf("Delete with replication held back: %v, want errNotReplicated", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the failed Delete took %v", d)
	}
	// The retry arrives at the other instance: finding nothing left to
	// delete on the master, it must not take that for done while the
	// replica still has the session (WAIT alone would answer at once: its
	// connection's own writes are all acknowledged).
	if err := b.Delete(ctx, key); !errors.Is(err, errNotReplicated) {
		t.Fatalf("retried Delete on another instance: %v, want errNotReplicated", err)
	}
	if _, err := b.DeleteSID(ctx, "op-1"); !errors.Is(err, errNotReplicated) {
		t.Fatalf("DeleteSID with replication held back: %v, want errNotReplicated", err)
	}
	if _, err := b.DeleteSubject(ctx, "alice"); !errors.Is(err, errNotReplicated) {
		t.Fatalf("DeleteSubject with replication held back: %v, want errNotReplicated", err)
	}
	// The store reports it as unavailable (the handlers answer 503).
	if _, err := f.store.EndOtherSessions(ctx, "bob", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("EndOtherSessions with replication held back: %v, want ErrUnavailable", err)
	}
	sen.ResumeReplication()
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete once the replica caught up: %v", err)
	}
	if n := replica.Exists(ctx, "login:"+key).Val(); n != 0 {
		t.Fatal("the replica still has the deleted session")
	}
}

// TestRedisSentinelFailover: the master dies. Until the Sentinel has
// promoted the replica, every operation fails quickly (the app answers
// 503), not as "no session"; afterwards the same backend works again by
// itself, and the sessions stored before the kill are all there.
func TestRedisSentinelFailover(t *testing.T) {
	sen := redistest.StartSentinel(t)
	r := newTestRedisURL(t, sen.URL(), 0)
	f := newStoreFixture(t, r, time.Hour, 2*time.Hour)
	f.store.opts.Now = time.Now
	ctx := context.Background()
	var reqs []*http.Request
	for i := range 20 {
		rec := simpleRecord()
		rec.Subject, rec.SID = fmt.Sprint("user", i), fmt.Sprint("op-", i)
		reqs = append(reqs, f.login(t, rec))
	}
	if err := r.Delete(ctx, testKey("nobody", "x")); err != nil { // replicated up to here
		t.Fatal(err)
	}

	start := time.Now()
	next := sen.KillMaster()
	t.Logf("%6.2fs master killed", time.Since(start).Seconds())
	ops := map[string]func() error{
		"Get": func() error { _, err := r.Get(ctx, storageKey(f.idOf(t, reqs[0]))); return err },
		"Put": func() error {
			return r.Put(ctx, testKey("new", "1"), []byte("v"), meta("new", "", time.Now(), time.Hour))
		},
		"Delete": func() error { return r.Delete(ctx, testKey("x", "y")) },
		"List":   func() error { _, err := r.List(ctx, "user1"); return err },
		"Once":   func() error { _, err := r.Once(ctx, "jti:x", time.Now().Add(time.Hour)); return err },
		"Used":   func() error { _, err := r.Used(ctx, "jti:x"); return err },
	}
	for name, op := range ops {
		t0 := time.Now()
		err := op()
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s without a master: %v, want a failure", name, err)
		}
		if d := time.Since(t0); d > 2500*time.Millisecond {
			t.Errorf("%s without a master took %v, want a quick failure", name, d)
		}
	}
	if _, err := f.store.Get(reqs[0], f.store.Name()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Store.Get without a master: %v, want ErrUnavailable", err)
	}
	t.Logf("%6.2fs operations failing fast", time.Since(start).Seconds())
	sen.WaitPromotion(next, 30*time.Second)
	t.Logf("%6.2fs replica promoted", time.Since(start).Seconds())
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := f.store.Get(reqs[0], f.store.Name())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend did not recover within 15s of the promotion: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%6.2fs first session read after the failover", time.Since(start).Seconds())
	for i, req := range reqs {
		if f.visit(t, req) == nil {
			t.Errorf("session %d, stored before the kill, lost", i)
		}
	}
	for name, op := range ops {
		if err := op(); err != nil {
			t.Errorf("%s after the failover: %v", name, err)
		}
	}
}

// TestRedisSentinelNoLostLogout: logouts race the master's death while
// replication lags. Every deletion that returned nil must still be done
// after the failover: Redis replicates asynchronously, so a deletion that
// only the dead master had would come back with the promoted replica.
// Without the wait for a replica, this fails: the deletions made while
// replication was held back return nil and are lost.
func TestRedisSentinelNoLostLogout(t *testing.T) {
	sen := redistest.StartSentinel(t)
	ctx := context.Background()
	// Two instances, as behind a load balancer.
	apps := []*Redis{newTestRedisURL(t, sen.URL(), 0), newTestRedisURL(t, sen.URL(), 0)}
	var stores []*Store
	for _, app := range apps {
		s, err := NewStore(app, []byte(testSecret), Options{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	const n = 300
	keys := make([]string, n)
	for i := range keys {
		sub := fmt.Sprint("user", i%40)
		keys[i] = testKey(sub, fmt.Sprint(i))
		if err := apps[0].Put(ctx, keys[i], []byte("v"), meta(sub, fmt.Sprint("op-", i), time.Now(), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := apps[0].Delete(ctx, testKey("nobody", "x")); err != nil { // replicated up to here
		t.Fatal(err)
	}

	var (
		next    atomic.Int64
		mu      sync.Mutex
		done    []int // deletions that returned nil
		killed  atomic.Bool
		before  atomic.Int64 // nil deletions before the kill
		failed  atomic.Int64
		stop    = make(chan struct{}) // closed to give up
		workers sync.WaitGroup
	)
	for w := range 8 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			app, store := apps[w%2], stores[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				// A logout that failed (503) is retried, as the browser or
				// the provider retries it.
				for {
					var err error
					switch i % 3 { // the three kinds of logout
					case 0:
						err = app.Delete(ctx, keys[i])
					case 1:
						_, err = app.DeleteSID(ctx, fmt.Sprint("op-", i))
					case 2: // through the Store, as POST /logout does it
						err = store.delete(ctx, keys[i])
					}
					if err == nil {
						break
					}
					failed.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
				mu.Lock()
				done = append(done, i)
				mu.Unlock()
				if !killed.Load() {
					before.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for next.Load() < 60 { // some logouts go through normally first
		time.Sleep(time.Millisecond)
	}
	sen.StallReplication()
	t.Logf("%6.2fs replication held back after %d logouts", time.Since(start).Seconds(), next.Load())
	time.Sleep(700 * time.Millisecond) // logouts that only the master sees
	nextMaster := sen.KillMaster()
	killed.Store(true)
	sen.ResumeReplication() // what was held back dies with the master
	t.Logf("%6.2fs master killed, %d logouts answered as done so far", time.Since(start).Seconds(), before.Load())
	sen.WaitPromotion(nextMaster, 30*time.Second)
	t.Logf("%6.2fs replica promoted", time.Since(start).Seconds())
	finished := make(chan struct{})
	go func() {
		workers.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		close(stop)
		<-finished
		t.Errorf("logouts still failing 30s after the promotion")
	}
	t.Logf("%6.2fs %d logouts done, %d attempts failed (answered 503)", time.Since(start).Seconds(), len(done), failed.Load())

	survivor := nextMaster.Client()
	lost := 0
	for _, i := range done {
		if survivor.Exists(ctx, "login:"+keys[i]).Val() != 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d logouts answered as done are undone by the failover", lost, len(done))
	}
	if before.Load() == 0 {
		t.Fatal("no logout went through before the kill; the race did not happen")
	}
	if len(done) <= int(before.Load()) {
		t.Fatal("no logout went through after the failover")
	}

}
