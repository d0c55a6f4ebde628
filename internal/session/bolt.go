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
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is the embedded Backend: one bbolt file in a data directory, so
// sessions survive a restart without any server to run. Expired records are
// swept in the background.
type Bolt struct {
	db   *bolt.DB
	now  func() time.Time
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
	// locks are enough for Lock: only one process can open the file.
	locks keyedMutex
}

var (
	bucketSessions = []byte("sessions")
	bucketSub      = []byte("by_sub")
	bucketSID      = []byte("by_sid")
	bucketOnce     = []byte("once")
)

// OpenBolt opens (or creates) dir/sessions.db and starts sweeping expired
// records every sweepEvery.
func OpenBolt(dir string, sweepEvery time.Duration, log *slog.Logger) (*Bolt, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sessions.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is in use by another server process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketSub, bucketSID, bucketOnce} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise %s: %w", path, err)
	}
	b := &Bolt{db: db, now: time.Now, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go b.sweepLoop(sweepEvery)
	return b, nil
}

// A stored session value is: 8 bytes expiry (unix nanoseconds), 2 bytes
// length + subject, 2 bytes length + sid, then the record.
func encodeEntry(expires time.Time, sub, sid string, val []byte) []byte {
	buf := make([]byte, 0, 12+len(sub)+len(sid)+len(val))
	buf = binary.BigEndian.AppendUint64(buf, uint64(expires.UnixNano()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(sub)))
	buf = append(buf, sub...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(sid)))
	buf = append(buf, sid...)
	return append(buf, val...)
}

type entry struct {
	expires  time.Time
	sub, sid string
	val      []byte
}

var errCorrupt = errors.New("corrupt session entry")

func decodeEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < 12 {
		return e, errCorrupt
	}
	e.expires = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	b = b[8:]
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n+2 {
		return e, errCorrupt
	}
	e.sub = string(b[2 : 2+n])
	b = b[2+n:]
	n = int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return e, errCorrupt
	}
	e.sid = string(b[2 : 2+n])
	e.val = b[2+n:]
	return e, nil
}

func indexKey(v, key string) []byte { return []byte(v + "\x00" + key) }

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
		if !b.now().Before(e.expires) {
			return ErrNotFound
		}
		out = Entry{Value: bytes.Clone(e.val), Subject: e.sub, SID: e.sid}
		return nil
	})
	if errors.Is(err, errCorrupt) {
		b.log.Warn("corrupt session entry treated as no session")
		return Entry{}, ErrNotFound
	}
	return out, err
}

// Put implements Backend.
func (b *Bolt) Put(_ context.Context, key string, val []byte, expires time.Time, sub, sid string) error {
	return b.put(key, val, expires, sub, sid, false)
}

// Update implements Backend.
func (b *Bolt) Update(_ context.Context, key string, val []byte, expires time.Time, sub, sid string) error {
	return b.put(key, val, expires, sub, sid, true)
}

func (b *Bolt) put(key string, val []byte, expires time.Time, sub, sid string, mustExist bool) error {
	if len(sub) > 0xffff || len(sid) > 0xffff {
		return errors.New("subject or sid too long")
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		old, err := decodeEntry(tx.Bucket(bucketSessions).Get([]byte(key)))
		if mustExist && (err != nil || !b.now().Before(old.expires)) {
			return ErrNotFound
		}
		if err == nil && old.sub != sub {
			tx.Bucket(bucketSub).Delete(indexKey(old.sub, key))
		}
		if err == nil && old.sid != "" && old.sid != sid {
			tx.Bucket(bucketSID).Delete(indexKey(old.sid, key))
		}
		sessions := tx.Bucket(bucketSessions)
		if !mustExist {
			// New sessions' keys start with their creation time (see
			// storageKey), so they are appended: pack the pages full
			// instead of splitting them in half.
			sessions.FillPercent = 0.95
		}
		if err := sessions.Put([]byte(key), encodeEntry(expires, sub, sid, val)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSub).Put(indexKey(sub, key), nil); err != nil {
			return err
		}
		if sid != "" {
			return tx.Bucket(bucketSID).Put(indexKey(sid, key), nil)
		}
		return nil
	})
}

func deleteTx(tx *bolt.Tx, key []byte) error {
	sessions := tx.Bucket(bucketSessions)
	v := sessions.Get(key)
	if v == nil {
		return nil
	}
	if e, err := decodeEntry(v); err == nil {
		tx.Bucket(bucketSub).Delete(indexKey(e.sub, string(key)))
		if e.sid != "" {
			tx.Bucket(bucketSID).Delete(indexKey(e.sid, string(key)))
		}
	}
	return sessions.Delete(key)
}

// Delete implements Backend.
func (b *Bolt) Delete(_ context.Context, key string) error {
	return b.db.Update(func(tx *bolt.Tx) error { return deleteTx(tx, []byte(key)) })
}

func (b *Bolt) deleteIndexed(bucket []byte, v string) (int, error) {
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		prefix := []byte(v + "\x00")
		var keys [][]byte
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k[len(prefix):]))
		}
		for _, k := range keys {
			if tx.Bucket(bucketSessions).Get(k) != nil {
				n++
			}
			if err := deleteTx(tx, k); err != nil {
				return err
			}
			tx.Bucket(bucket).Delete(append(bytes.Clone(prefix), k...))
		}
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

// Once implements Backend.
func (b *Bolt) Once(_ context.Context, key string, expires time.Time) (bool, error) {
	first := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOnce)
		if v := bk.Get([]byte(key)); len(v) == 8 && b.now().UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		first = true
		return bk.Put([]byte(key), binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano())))
	})
	return first, err
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

// Sweep removes expired sessions and replay markers and reports how many.
func (b *Bolt) Sweep() (int, error) {
	now := b.now().UnixNano()
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		var dead [][]byte
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= now {
				dead = append(dead, bytes.Clone(k))
			}
		}
		for _, k := range dead {
			if err := deleteTx(tx, k); err != nil {
				return err
			}
		}
		n = len(dead)
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
