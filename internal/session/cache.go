package session

import (
	"bytes"
	"sync"
)

// decodedCache keeps recently decoded records, keyed by storage key with
// the stored bytes they were decoded from, so that a session read again
// unchanged is not decompressed and decoded again. The backend is still
// asked on every request: a deleted or changed record is never served from
// here. Comparing the bytes costs less than hashing them (the cache held a
// hash until records grew a copy per request that was worth paying for),
// and the 1.5 KB they take per entry are little beside the decoded record.
type decodedCache struct {
	max int

	mu      sync.Mutex
	entries map[string]cachedRecord
}

type cachedRecord struct {
	stored []byte  // a copy of what the backend returned
	rec    *Record // never modified; callers get copies
}

func newDecodedCache(max int) *decodedCache {
	return &decodedCache{max: max, entries: make(map[string]cachedRecord, max)}
}

// decode returns a copy of the record stored as value under key, decoding it
// only when this key's bytes changed since the last call.
func (c *decodedCache) decode(key string, value []byte) (*Record, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && bytes.Equal(e.stored, value) {
		cp := *e.rec
		return &cp, nil
	}
	rec, err := decodeRecord(value)
	if err != nil {
		return nil, err
	}
	rec.memo = new(memo)
	c.mu.Lock()
	if len(c.entries) >= c.max {
		// Evict an arbitrary entry: map iteration order is random.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedRecord{stored: bytes.Clone(value), rec: rec}
	c.mu.Unlock()
	cp := *rec
	return &cp, nil
}

// forget drops key (the session was deleted or replaced).
func (c *decodedCache) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// memo holds values derived from a decoded record's userinfo.
type memo struct {
	m sync.Map // key -> value
}

// Derived returns what compute derives from the record's userinfo, computed
// once per decoded record and shared by every request that reads the same
// stored record, so that pages do not parse the userinfo on each request.
// compute must depend on the userinfo alone, which never changes during a
// session.
func (r *Record) Derived(key any, compute func(userinfo []byte) any) any {
	if r.memo == nil {
		return compute(r.UserInfo)
	}
	if v, ok := r.memo.m.Load(key); ok {
		return v
	}
	v, _ := r.memo.m.LoadOrStore(key, compute(r.UserInfo))
	return v
}

// cookieCache remembers cookie values that verified, with the session id
// and storage key they carry, so that a session's later requests skip the
// HMAC, the decryption and the key hash. Only exact values that verified
// are kept; the record's own lifetimes are checked on every request.
type cookieCache struct {
	max     int
	mu      sync.Mutex
	entries map[string]cookieIDs
}

type cookieIDs struct{ id, key string }

func newCookieCache(max int) *cookieCache {
	return &cookieCache{max: max, entries: make(map[string]cookieIDs, max)}
}

func (c *cookieCache) get(value string) (cookieIDs, bool) {
	c.mu.Lock()
	ids, ok := c.entries[value]
	c.mu.Unlock()
	return ids, ok
}

func (c *cookieCache) put(value string, ids cookieIDs) {
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[value] = ids
	c.mu.Unlock()
}

// forget drops a cookie value (its session is gone).
func (c *cookieCache) forget(value string) {
	c.mu.Lock()
	delete(c.entries, value)
	c.mu.Unlock()
}

// forgetKey drops every cookie value that names the storage key (the
// session was deleted). Deletions are rare next to reads, so a scan of the
// few thousand entries is cheaper than a second map kept on every put.
func (c *cookieCache) forgetKey(key string) {
	c.mu.Lock()
	for v, ids := range c.entries {
		if ids.key == key {
			delete(c.entries, v)
		}
	}
	c.mu.Unlock()
}
