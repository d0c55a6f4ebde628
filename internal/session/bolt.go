package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is the embedded Backend: one bbolt file in a data directory, so
// sessions survive a restart without any server to run. Expired records are
// swept in the background.
//
// The file also keeps the number of stored sessions, changed in the same
// transactions that store and remove them, so that Live answers without a
// scan and opening a file of a million sessions does not count them (see
// openCount).
type Bolt struct {
	db   *bolt.DB
	now  func() time.Time
	log  *slog.Logger
	max  int
	stop chan struct{}
	done chan struct{}
	// locks are enough for Lock: only one process can open the file.
	locks keyedMutex
	// swept and capped count the records this process removed because
	// they had expired and because of the cap (see removedCounts).
	swept, capped atomic.Uint64
}

// BoltOptions are the settings of the embedded backend.
type BoltOptions struct {
	// SweepEvery is how often expired records are removed; 0 leaves them
	// to explicit Sweep calls.
	SweepEvery time.Duration
	// MaxPerSubject is the cap on live sessions per subject; 0 means
	// DefaultMaxPerSubject.
	MaxPerSubject int
	Logger        *slog.Logger
}

var (
	bucketSessions = []byte("sessions")
	bucketSub      = []byte("by_sub")
	bucketSID      = []byte("by_sid")
	bucketOnce     = []byte("once")
	// bucketMeta holds keyCount: the number of records in bucketSessions
	// and the id of the transaction that last wrote it, 8 bytes each.
	bucketMeta = []byte("meta")
	keyCount   = []byte("sessions")
)

// OpenBolt opens (or creates) dir/sessions.db and starts sweeping expired
// records every opts.SweepEvery.
func OpenBolt(dir string, opts BoltOptions) (*Bolt, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sessions.db")
	// The freelist is written with each commit: without it (NoFreelistSync)
	// bbolt rebuilds it at every open by walking every page, 1.35 s for a
	// file of a million sessions, against 8 ms with it; a commit costs the
	// same either way (docs/BENCHMARKS.md).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if err == nil {
		// Concurrent writes wait at most this long to share a commit.
		db.MaxBatchDelay = 2 * time.Millisecond
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is in use by another server process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketSub, bucketSID, bucketOnce, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return openCount(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise %s: %w", path, err)
	}
	b := &Bolt{db: db, now: time.Now, log: log, max: opts.MaxPerSubject, stop: make(chan struct{}), done: make(chan struct{})}
	if b.max <= 0 {
		b.max = DefaultMaxPerSubject
	}
	go b.sweepLoop(opts.SweepEvery)
	return b, nil
}

func indexKey(v, key string) []byte { return []byte(v + "\x00" + key) }

// readCount returns the stored count of sessions and the id of the
// transaction that wrote it; ok is false when there is none.
func readCount(tx *bolt.Tx) (n uint64, txid uint64, ok bool) {
	v := tx.Bucket(bucketMeta).Get(keyCount)
	if len(v) != 16 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), true
}

func writeCount(tx *bolt.Tx, n uint64) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), n)
	v = binary.BigEndian.AppendUint64(v, uint64(tx.ID()))
	return tx.Bucket(bucketMeta).Put(keyCount, v)
}

// openCount checks, in the first write transaction after opening, that the
// stored count is this file's. Every write transaction of this version
// writes the count with its own id; if the last committed transaction is
// not the one that wrote it, a program that does not keep the count (an
// earlier version, after a rollback, or bbolt's tools) has written since,
// and the sessions are counted once, here. So is a file that has no count
// yet: the first start after the upgrade to this version.
func openCount(tx *bolt.Tx) error {
	n, txid, ok := readCount(tx)
	if !ok || txid != uint64(tx.ID())-1 {
		// KeyN reads only the header of each page, not every key.
		n = uint64(tx.Bucket(bucketSessions).Stats().KeyN)
	}
	return writeCount(tx, n)
}

// update runs fn in a write transaction and keeps the count of stored
// sessions in the same transaction: fn adds to *delta the records it stored
// under new keys and subtracts those it removed. Every write transaction
// goes through update, so that the count's transaction id stays the last
// one (see openCount).
func (b *Bolt) update(fn func(tx *bolt.Tx, delta *int) error) error {
	// Batch: the writes of concurrent requests (logins, activity) share
	// one transaction and one fsync, which was a third of a login's CPU.
	// fn may run more than once (when another write of the batch fails),
	// so it only depends on the transaction.
	return b.db.Batch(func(tx *bolt.Tx) error {
		var delta int
		if err := fn(tx, &delta); err != nil {
			return err
		}
		n, _, _ := readCount(tx)
		return writeCount(tx, uint64(max(int64(n)+int64(delta), 0)))
	})
}

// Live returns the number of stored sessions: those whose lifetime is over
// count until the sweep removes them (at most the sweep interval, a minute
// in the server). It reads one key.
func (b *Bolt) Live(context.Context) (int, error) {
	var n uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		n, _, _ = readCount(tx)
		return nil
	})
	return int(n), err
}

// removedCounts implements removalCounter. swept are expired records that
// the sweep, or a login of the same user, removed; capped are the least
// recently active records of users beyond the cap, ended by a login.
func (b *Bolt) removedCounts() map[string]*atomic.Uint64 {
	return map[string]*atomic.Uint64{removedSwept: &b.swept, removedCap: &b.capped}
}

var _ Backend = (*Bolt)(nil)

// Get implements Backend.
func (b *Bolt) Get(_ context.Context, key string) (Entry, error) {
	var out Entry
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		if !b.now().Before(e.Expires) {
			return &ExpiredError{Subject: e.Subject}
		}
		e.Value = bytes.Clone(e.Value)
		out = e
		return nil
	})
	if errors.Is(err, errCorrupt) {
		b.log.Warn("corrupt session entry treated as no session")
		return Entry{}, ErrNotFound
	}
	return out, err
}

// Put implements Backend.
func (b *Bolt) Put(_ context.Context, key string, val []byte, m Meta) error {
	return b.put(key, val, m, false)
}

// Update implements Backend.
func (b *Bolt) Update(_ context.Context, key string, val []byte, m Meta) error {
	return b.put(key, val, m, true)
}

func (b *Bolt) put(key string, val []byte, m Meta, mustExist bool) error {
	if len(m.Subject) > 0xffff || len(m.SID) > 0xffff {
		return errors.New("subject or sid too long")
	}
	var swept, capped int
	err := b.update(func(tx *bolt.Tx, delta *int) error {
		*delta, swept, capped = 0, 0, 0
		now := b.now()
		if m.Once != "" {
			first, err := onceTx(tx, m.Once, m.OnceUntil, now)
			if err != nil {
				return err
			}
			if !first {
				return ErrUsed
			}
		}
		raw := tx.Bucket(bucketSessions).Get([]byte(key))
		if raw == nil && !mustExist {
			*delta = 1
		}
		old, err := decodeEntry(raw)
		live := err == nil && now.Before(old.Expires)
		if mustExist && !live {
			return ErrNotFound
		}
		if err == nil && old.Subject != m.Subject {
			tx.Bucket(bucketSub).Delete(indexKey(old.Subject, key))
		}
		if err == nil && old.SID != "" && old.SID != m.SID {
			tx.Bucket(bucketSID).Delete(indexKey(old.SID, key))
		}
		sessions := tx.Bucket(bucketSessions)
		if !mustExist {
			// New sessions' keys start with their creation time (see
			// storageKey), so they are appended: pack the pages full
			// instead of splitting them in half.
			sessions.FillPercent = 0.95
		}
		if err := sessions.Put([]byte(key), encodeEntry(m, val)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSub).Put(indexKey(m.Subject, key), nil); err != nil {
			return err
		}
		if m.SID != "" {
			if err := tx.Bucket(bucketSID).Put(indexKey(m.SID, key), nil); err != nil {
				return err
			}
		}
		if live {
			return nil
		}
		var err2 error
		swept, capped, err2 = b.capTx(tx, m.Subject, key, now)
		*delta -= swept + capped
		return err2
	})
	if err == nil {
		b.swept.Add(uint64(swept))
		b.capped.Add(uint64(capped))
	}
	return err
}

// capTx ends the least recently active sessions of sub beyond the cap, the
// new one (keep) aside, in the transaction that stores it. Below the cap it
// reads the subject index alone; at the cap it reads the subject's
// sessions and drops the expired ones on the way. It says how many of each
// it removed.
func (b *Bolt) capTx(tx *bolt.Tx, sub, keep string, now time.Time) (expired, ended int, err error) {
	type held struct {
		key  []byte
		seen time.Time
	}
	var others []held
	var dead [][]byte
	prefix := []byte(sub + "\x00")
	var keys [][]byte
	c := tx.Bucket(bucketSub).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if key := k[len(prefix):]; string(key) != keep {
			keys = append(keys, bytes.Clone(key))
		}
	}
	if len(keys)+1 <= b.max {
		// Under the cap even if none has expired: nothing to read; the
		// sweep removes the expired ones.
		return 0, 0, nil
	}
	sessions := tx.Bucket(bucketSessions)
	for _, key := range keys {
		e, err := decodeEntry(sessions.Get(key))
		if err != nil || !now.Before(e.Expires) {
			dead = append(dead, key)
			continue
		}
		others = append(others, held{key, e.LastSeen})
	}
	for _, k := range dead {
		gone, err := deleteTx(tx, k)
		if err != nil {
			return expired, ended, err
		}
		if gone {
			expired++
		}
		tx.Bucket(bucketSub).Delete(append(bytes.Clone(prefix), k...))
	}
	over := len(others) + 1 - b.max
	if over <= 0 {
		return expired, ended, nil
	}
	slices.SortFunc(others, func(x, y held) int {
		if c := x.seen.Compare(y.seen); c != 0 {
			return c
		}
		return bytes.Compare(x.key, y.key)
	})
	for _, h := range others[:over] {
		if _, err := deleteTx(tx, h.key); err != nil {
			return expired, ended, err
		}
		ended++
	}
	return expired, ended, nil
}

// deleteTx deletes the record under key with its index entries, and
// reports whether there was one.
func deleteTx(tx *bolt.Tx, key []byte) (bool, error) {
	sessions := tx.Bucket(bucketSessions)
	v := sessions.Get(key)
	if v == nil {
		return false, nil
	}
	if e, err := decodeEntry(v); err == nil {
		tx.Bucket(bucketSub).Delete(indexKey(e.Subject, string(key)))
		if e.SID != "" {
			tx.Bucket(bucketSID).Delete(indexKey(e.SID, string(key)))
		}
	}
	return true, sessions.Delete(key)
}

// Delete implements Backend.
func (b *Bolt) Delete(_ context.Context, key string) error {
	return b.update(func(tx *bolt.Tx, delta *int) error {
		gone, err := deleteTx(tx, []byte(key))
		if gone {
			*delta = -1
		}
		return err
	})
}

func (b *Bolt) deleteIndexed(bucket []byte, v string) (int, error) {
	n := 0
	err := b.update(func(tx *bolt.Tx, delta *int) error {
		n = 0
		prefix := []byte(v + "\x00")
		var keys [][]byte
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k[len(prefix):]))
		}
		for _, k := range keys {
			gone, err := deleteTx(tx, k)
			if err != nil {
				return err
			}
			if gone {
				n++
			}
			tx.Bucket(bucket).Delete(append(bytes.Clone(prefix), k...))
		}
		*delta = -n
		return nil
	})
	return n, err
}

// DeleteSubject implements Backend.
func (b *Bolt) DeleteSubject(_ context.Context, sub string) (int, error) {
	return b.deleteIndexed(bucketSub, sub)
}

// DeleteSID implements Backend.
func (b *Bolt) DeleteSID(_ context.Context, sid string) (int, error) {
	return b.deleteIndexed(bucketSID, sid)
}

// List implements Backend.
func (b *Bolt) List(_ context.Context, sub string) ([]Item, error) {
	var out []Item
	err := b.db.View(func(tx *bolt.Tx) error {
		now := b.now()
		sessions := tx.Bucket(bucketSessions)
		prefix := []byte(sub + "\x00")
		c := tx.Bucket(bucketSub).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := k[len(prefix):]
			e, err := decodeEntry(sessions.Get(key))
			if err != nil || !now.Before(e.Expires) {
				continue // expired or corrupt: the sweep removes it
			}
			e.Value = bytes.Clone(e.Value)
			out = append(out, Item{Key: string(key), Entry: e})
		}
		return nil
	})
	slices.SortStableFunc(out, func(x, y Item) int { return y.LastSeen.Compare(x.LastSeen) })
	return out, err
}

// Once implements Backend.
func (b *Bolt) Once(_ context.Context, key string, expires time.Time) (bool, error) {
	first := false
	err := b.update(func(tx *bolt.Tx, _ *int) error {
		var err error
		first, err = onceTx(tx, key, expires, b.now())
		return err
	})
	return first, err
}

// onceTx records key until expires in tx and reports whether it was new.
func onceTx(tx *bolt.Tx, key string, expires, now time.Time) (bool, error) {
	bk := tx.Bucket(bucketOnce)
	if onceLive(bk.Get([]byte(key)), now) {
		return false, nil
	}
	return true, bk.Put([]byte(key), binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano())))
}

// Used implements Backend.
func (b *Bolt) Used(_ context.Context, key string) (bool, error) {
	used := false
	err := b.db.View(func(tx *bolt.Tx) error {
		used = onceLive(tx.Bucket(bucketOnce).Get([]byte(key)), b.now())
		return nil
	})
	return used, err
}

// onceLive reports whether v is a replay marker that has not expired.
func onceLive(v []byte, now time.Time) bool {
	return len(v) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(v))
}

// Lock implements Backend. The ttl is not needed: a holder that crashes
// takes the whole process, and so the lock, with it.
func (b *Bolt) Lock(ctx context.Context, key string, _ time.Duration) (func(), error) {
	return b.locks.lock(ctx, key)
}

// Ping implements Backend.
func (b *Bolt) Ping(context.Context) error {
	return b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return errors.New("sessions bucket missing")
		}
		return nil
	})
}

// Sweep removes expired sessions and replay markers and reports how many
// sessions.
func (b *Bolt) Sweep() (int, error) {
	now := b.now().UnixNano()
	n := 0
	// Expired keys are found in read transactions, which writers do not
	// wait for, and deleted sweepChunk at a time (each delete rewrites
	// pages), so that sweeping a million sessions never holds the write
	// lock for more than a few
	// milliseconds at once: logins and activity go on meanwhile.
	var after []byte
	for {
		var dead [][]byte
		var next []byte
		err := b.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketSessions).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			scanned := 0
			for ; k != nil && len(dead) < sweepChunk && scanned < sweepScan; k, v = c.Next() {
				scanned++
				if exp, ok := entryExpiry(v); !ok || exp <= now {
					dead = append(dead, bytes.Clone(k))
				}
				next = k
			}
			if k == nil {
				next = nil
			} else {
				next = bytes.Clone(next)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		if len(dead) > 0 {
			removed := 0
			err := b.update(func(tx *bolt.Tx, delta *int) error {
				removed = 0
				for _, k := range dead {
					// The record may have been renewed since the read.
					v := tx.Bucket(bucketSessions).Get(k)
					if exp, ok := entryExpiry(v); v == nil || (ok && exp > now) {
						continue
					}
					if ok, err := deleteTx(tx, k); err != nil {
						return err
					} else if ok {
						removed++
					}
				}
				*delta = -removed
				return nil
			})
			if err != nil {
				return n, err
			}
			n += removed
			b.swept.Add(uint64(removed))
		}
		if next == nil {
			break
		}
		after = next
	}
	err := b.update(func(tx *bolt.Tx, _ *int) error {
		var once [][]byte
		oc := tx.Bucket(bucketOnce).Cursor()
		for k, v := oc.First(); k != nil; k, v = oc.Next() {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now {
				once = append(once, bytes.Clone(k))
			}
		}
		for _, k := range once {
			tx.Bucket(bucketOnce).Delete(k)
		}
		return nil
	})
	return n, err
}

// sweepChunk is how many expired records one write transaction of the
// sweep removes, and sweepScan how many records one read transaction looks
// at.
const (
	sweepChunk = 250
	sweepScan  = 20000
)

func (b *Bolt) sweepLoop(every time.Duration) {
	defer close(b.done)
	if every <= 0 {
		<-b.stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			if n, err := b.Sweep(); err != nil {
				b.log.Error("sweep expired sessions", "err", err)
			} else if n > 0 {
				b.log.Debug("swept expired sessions", "count", n)
			}
		}
	}
}

// Close stops the sweeper and closes the database.
func (b *Bolt) Close() error {
	close(b.stop)
	<-b.done
	return b.db.Close()
}
