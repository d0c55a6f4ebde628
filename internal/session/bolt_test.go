package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func bucketLen(t *testing.T, b *Bolt, name []byte) int {
	t.Helper()
	n := 0
	b.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	return n
}

// TestBoltSweep: expired sessions leave the file, with their index entries
// and the expired replay markers; live ones stay.
func TestBoltSweep(t *testing.T) {
	ctx := context.Background()
	b := newTestBolt(t)
	clk := &clock{t: time.Now()}
	b.now = clk.Now
	now := clk.Now()
	b.Put(ctx, "s:old", []byte("v"), Meta{Subject: "alice", SID: "op-1", LastSeen: now, Expires: now.Add(time.Minute)})
	b.Put(ctx, "s:new", []byte("v"), Meta{Subject: "alice", SID: "op-2", LastSeen: now, Expires: now.Add(time.Hour)})
	b.Put(ctx, "s:bob", []byte("v"), Meta{Subject: "bob", LastSeen: now, Expires: now.Add(2 * time.Minute)})
	b.Once(ctx, "jti:old", now.Add(time.Minute))
	b.Once(ctx, "jti:new", now.Add(time.Hour))

	if n, err := b.Sweep(); err != nil || n != 0 {
		t.Fatalf("Sweep before anything expired = %d, %v", n, err)
	}
	clk.Add(5 * time.Minute)
	if n, err := b.Sweep(); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	if got := bucketLen(t, b, bucketSessions); got != 1 {
		t.Errorf("%d sessions left, want 1", got)
	}
	if got := bucketLen(t, b, bucketSub); got != 1 {
		t.Errorf("%d subject index entries left, want 1", got)
	}
	if got := bucketLen(t, b, bucketSID); got != 1 {
		t.Errorf("%d sid index entries left, want 1", got)
	}
	if got := bucketLen(t, b, bucketOnce); got != 1 {
		t.Errorf("%d replay markers left, want 1", got)
	}
	if _, err := b.Get(ctx, "s:new"); err != nil {
		t.Errorf("live session swept: %v", err)
	}
	if first, _ := b.Once(ctx, "jti:new", now.Add(time.Hour)); first {
		t.Error("a live replay marker was swept")
	}
}

// TestBoltSweepsStoreLifetimes: what the Store writes expires by its idle
// timeout, and the sweep removes it.
func TestBoltSweepsStoreLifetimes(t *testing.T) {
	b := newTestBolt(t)
	f := newStoreFixture(t, b, 30*time.Minute, 12*time.Hour)
	b.now = f.clock.Now
	r := f.login(t, simpleRecord())
	f.clock.Add(29 * time.Minute)
	if n, _ := b.Sweep(); n != 0 {
		t.Fatalf("swept %d sessions within the idle timeout", n)
	}
	f.visit(t, r) // activity: 30 more minutes
	f.clock.Add(29 * time.Minute)
	if n, _ := b.Sweep(); n != 0 {
		t.Fatalf("swept %d sessions that were active 29 minutes ago", n)
	}
	f.clock.Add(2 * time.Minute)
	if n, _ := b.Sweep(); n != 1 {
		t.Fatalf("swept %d sessions after the idle timeout, want 1", n)
	}
}

// TestBoltSweeper: the background sweep runs by itself.
func TestBoltSweeper(t *testing.T) {
	b, err := OpenBolt(t.TempDir(), BoltOptions{SweepEvery: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Put(context.Background(), "s:x", []byte("v"), meta("alice", "", time.Now(), 30*time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for bucketLen(t, b, bucketSessions) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the expired session was not swept within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBoltPersists: sessions survive closing and reopening the file, and a
// second process can not open it meanwhile.
func TestBoltPersists(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := OpenBolt(dir, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, "s:x", []byte("kept"), meta("alice", "op", time.Now(), time.Hour))
	if _, err := OpenBolt(dir, BoltOptions{}); err == nil {
		t.Fatal("a second OpenBolt of the same directory succeeded")
	}
	b.Close()
	b, err = OpenBolt(dir, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if e, err := b.Get(ctx, "s:x"); err != nil || string(e.Value) != "kept" {
		t.Fatalf("after reopening: %q, %v", e.Value, err)
	}
}

// TestBoltCorruptEntry: an entry whose envelope does not decode is no
// session.
func TestBoltCorruptEntry(t *testing.T) {
	b := newTestBolt(t)
	b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put([]byte("s:bad"), []byte{1, 2, 3}) })
	if _, err := b.Get(context.Background(), "s:bad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if n, _ := b.Sweep(); n != 1 {
		t.Fatalf("Sweep removed %d corrupt entries, want 1", n)
	}
}

// TestBoltReadsV1Entries: entries stored before they carried the last
// activity still read, list and sweep.
func TestBoltReadsV1Entries(t *testing.T) {
	b := newTestBolt(t)
	ctx := context.Background()
	v1 := func(exp time.Time, sub, sid, val string) []byte {
		v := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
		v = binary.BigEndian.AppendUint16(v, uint16(len(sub)))
		v = append(v, sub...)
		v = binary.BigEndian.AppendUint16(v, uint16(len(sid)))
		v = append(v, sid...)
		return append(v, val...)
	}
	now := time.Now()
	b.db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketSessions).Put([]byte("s:old"), v1(now.Add(time.Hour), "alice", "op-1", "kept"))
		tx.Bucket(bucketSub).Put(indexKey("alice", "s:old"), nil)
		tx.Bucket(bucketSID).Put(indexKey("op-1", "s:old"), nil)
		tx.Bucket(bucketSessions).Put([]byte("s:gone"), v1(now.Add(-time.Minute), "alice", "", "expired"))
		return tx.Bucket(bucketSub).Put(indexKey("alice", "s:gone"), nil)
	})
	e, err := b.Get(ctx, "s:old")
	if err != nil || string(e.Value) != "kept" || e.Subject != "alice" || e.SID != "op-1" || !e.LastSeen.IsZero() {
		t.Fatalf("Get of a v1 entry = %+v, %v", e, err)
	}
	if items, err := b.List(ctx, "alice"); err != nil || len(items) != 1 || items[0].Key != "s:old" {
		t.Fatalf("List = %+v, %v; want the live v1 entry", items, err)
	}
	if n, err := b.Sweep(); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the expired v1 entry", n, err)
	}
	if n, err := b.DeleteSID(ctx, "op-1"); err != nil || n != 1 {
		t.Fatalf("DeleteSID = %d, %v", n, err)
	}
}

// TestBoltCountPersists: the count of sessions is the file's, kept across
// a restart without counting again; a file that a program which does not
// keep the count wrote since (an earlier version after a rollback), or that
// has no count yet (the first start after the upgrade), is counted once at
// open.
func TestBoltCountPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Bolt {
		t.Helper()
		b, err := OpenBolt(dir, BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	live := func(b *Bolt, want int) {
		t.Helper()
		if n, err := b.Live(ctx); err != nil || n != want {
			t.Fatalf("Live = %d, %v; want %d", n, err, want)
		}
	}
	b := open()
	for _, k := range []string{"s:1", "s:2", "s:3"} {
		b.Put(ctx, k, []byte("v"), meta("alice", "", time.Now(), time.Hour))
	}
	b.Once(ctx, "jti:x", time.Now().Add(time.Hour)) // a write that stores no session
	live(b, 3)
	b.Close()

	// Reopened: the count is the stored one, not a new count. A count
	// that was stored wrong on purpose shows which one Live reads.
	b = open()
	live(b, 3)
	b.db.Update(func(tx *bolt.Tx) error { return writeCount(tx, 42) })
	b.Close()
	b = open()
	live(b, 42)
	b.db.Update(func(tx *bolt.Tx) error { return writeCount(tx, 3) })
	b.Close()

	// An earlier version adds a session and does not keep the count.
	db, err := bolt.Open(dir+"/sessions.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Put([]byte("s:4"), encodeEntry(meta("bob", "", time.Now(), time.Hour), []byte("v")))
	})
	db.Close()
	b = open()
	live(b, 4)
	b.Close()

	// A file of the earlier version has no count.
	db, err = bolt.Open(dir+"/sessions.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) })
	db.Close()
	b = open()
	defer b.Close()
	live(b, 4)
}

// TestBoltCountIsExact: after each of a mix of every kind of write, the count
// is the number of records in the file.
func TestBoltCountIsExact(t *testing.T) {
	ctx := context.Background()
	b := newTestBoltMax(t, 3)
	clk := &clock{t: time.Now()}
	b.now = clk.Now
	now := clk.Now()
	for i := range 40 {
		sub := []string{"alice", "bob", "carol"}[i%3]
		key := testKey(sub, string(rune('a'+i)))
		ttl := time.Hour
		if i%4 == 0 {
			ttl = time.Minute
		}
		b.Put(ctx, key, []byte("v"), Meta{Subject: sub, SID: "op-" + sub, LastSeen: now.Add(time.Duration(i) * time.Second), Expires: now.Add(ttl)})
		switch i % 7 {
		case 1:
			b.Delete(ctx, key)
		case 3:
			b.Update(ctx, key, []byte("v2"), Meta{Subject: sub, LastSeen: now, Expires: now.Add(ttl)})
		case 5:
			b.Put(ctx, key, []byte("v3"), Meta{Subject: sub, LastSeen: now, Expires: now.Add(ttl)}) // the same key again
		}
		if i == 20 {
			b.DeleteSID(ctx, "op-bob")
		}
		if i == 30 {
			clk.Add(2 * time.Minute)
			b.Sweep()
		}
		if n, _ := b.Live(ctx); n != bucketLen(t, b, bucketSessions) {
			t.Fatalf("step %d: Live = %d, the file holds %d", i, n, bucketLen(t, b, bucketSessions))
		}
	}
	b.DeleteSubject(ctx, "alice")
	if n, _ := b.Live(ctx); n != bucketLen(t, b, bucketSessions) {
		t.Fatalf("Live = %d, the file holds %d", n, bucketLen(t, b, bucketSessions))
	}
}

// TestBoltSweepInChunks: a sweep over more records than a chunk removes
// exactly the expired ones, keeps the count right, and lets writes in
// between its chunks.
func TestBoltSweepInChunks(t *testing.T) {
	b := newTestBoltMax(t, 100000)
	ctx := context.Background()
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	b.now = func() time.Time { return time.Unix(0, clock.Load()) }
	const n = 3*sweepChunk + 7
	var fill sync.WaitGroup
	for w := range 16 {
		fill.Go(func() {
			for i := w; i < n; i += 16 {
				ttl := 3 * time.Hour
				if i%2 == 0 {
					ttl = time.Minute
				}
				sub := fmt.Sprintf("u%d", i%97)
				if err := b.Put(ctx, testKey(sub, fmt.Sprintf("k%05d", i)), []byte("v"), meta(sub, "", now, ttl)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	fill.Wait()
	clock.Store(now.Add(time.Hour).UnixNano()) // the one-minute records are over
	done := make(chan struct{})
	var wrote atomic.Int32
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			if b.Put(ctx, testKey("writer", fmt.Sprintf("w%02d", i)), []byte("v"), meta("writer", "", time.Now(), time.Hour)) == nil {
				wrote.Add(1)
			}
		}
	}()
	removed, err := b.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if want := (n + 1) / 2; removed != want {
		t.Errorf("Sweep removed %d, want the %d expired", removed, want)
	}
	live, _ := b.Live(ctx)
	if want := n/2 + int(wrote.Load()); live != want {
		t.Errorf("Live after the sweep = %d, want %d", live, want)
	}
	for i := range n {
		_, err := b.Get(ctx, testKey(fmt.Sprintf("u%d", i%97), fmt.Sprintf("k%05d", i)))
		if i%2 == 1 && err != nil {
			t.Fatalf("a live record was swept: %v", err)
		}
	}
}

// TestBoltCapAtTheCap: below the cap a login reads only the subject index
// (an expired session stays for the sweep); at the cap it ends the least
// recently active session, and an index entry whose session is gone is
// dropped without taking the place of the session that must end.
func TestBoltCapAtTheCap(t *testing.T) {
	ctx := context.Background()
	b := newTestBoltMax(t, 2)
	now := time.Now()
	put := func(key string, seen, expires time.Time) {
		t.Helper()
		if err := b.Put(ctx, key, []byte("v"), Meta{Subject: "alice", LastSeen: seen, Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() []string {
		t.Helper()
		items, err := b.List(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	put("s:1", now.Add(-3*time.Hour), now.Add(time.Hour))
	put("s:2", now.Add(-time.Hour), now.Add(time.Hour))
	put("s:3", now, now.Add(time.Hour))
	if got := keys(); !slices.Equal(got, []string{"s:3", "s:2"}) {
		t.Fatalf("after a third login with the cap at 2: %v; want s:1, the least recent, ended", got)
	}

	// An index entry that outlived its session (a corrupt record, once).
	b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSub).Put(indexKey("alice", "s:ghost"), nil) })
	put("s:4", now.Add(time.Second), now.Add(time.Hour))
	if got := keys(); !slices.Equal(got, []string{"s:4", "s:3"}) {
		t.Fatalf("after a fourth login with a stale index entry: %v; want s:2 ended", got)
	}
	if n := bucketLen(t, b, bucketSub); n != 2 {
		t.Fatalf("subject index holds %d entries, want 2 (the stale one dropped)", n)
	}

	// Below the cap: bob's expired session is not read at his next login.
	bob := func(key string, expires time.Time) {
		t.Helper()
		if err := b.Put(ctx, key, []byte("v"), Meta{Subject: "bob", LastSeen: now, Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	b.now = func() time.Time { return now }
	bob("s:b1", now.Add(time.Minute))
	b.now = func() time.Time { return now.Add(2 * time.Minute) }
	bob("s:b2", now.Add(time.Hour))
	if n := bucketLen(t, b, bucketSessions); n != 4 {
		t.Fatalf("%d sessions stored, want 4: bob's expired one waits for the sweep", n)
	}
	if n, err := b.Sweep(); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want bob's expired session", n, err)
	}
}
