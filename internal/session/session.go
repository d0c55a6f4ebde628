// Package session keeps logged-in sessions on the server, behind gorilla/sessions'
// Store interface. The browser's cookie carries only a signed, encrypted random
// session id; the claims and tokens live in a Backend (the embedded bbolt store
// or Redis), keyed by a hash of that id, so a cookie never grows with the claims
// and a deleted record is a dead cookie on every instance at once.
package session

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// ErrNotFound is returned by a Backend for a key it does not hold (or holds
// only expired).
var ErrNotFound = errors.New("session: not found")

// ExpiredError is the ErrNotFound of a Get whose record the backend still
// held when its lifetime was over (the embedded store until its next sweep;
// Redis only when the clocks disagree, as it forgets records by TTL
// itself). It names the subject, so that the Store can report the session's
// end instead of treating it as one that never was. Its message does not
// repeat the subject: errors end up in logs.
type ExpiredError struct {
	Subject string
}

func (*ExpiredError) Error() string { return "session: expired" }

// Is makes an ExpiredError an ErrNotFound for errors.Is: to every caller but
// the Store it is a record that is not there.
func (*ExpiredError) Is(target error) bool { return target == ErrNotFound }

// ErrUnavailable wraps a backend failure (Redis down, disk error): the caller
// can not tell whether a session exists.
var ErrUnavailable = errors.New("session store unavailable")

// ErrEnded is returned when saving a session that was deleted (by a logout,
// a back-channel logout or expiry) after it was read: the request must go on
// as anonymous, and the session stays ended.
var ErrEnded = errors.New("session ended meanwhile")

// Backend is where session records live. Keys are storage keys (see
// storageKey): a key made for a subject shares the subject's {tag}, which a
// Redis Cluster needs to keep a record and its subject's index in one slot.
type Backend interface {
	// Get returns the entry stored under key, or ErrNotFound; for a record
	// it still holds past its expiry, an *ExpiredError (which is an
	// ErrNotFound).
	Get(ctx context.Context, key string) (Entry, error)
	// Put stores val under key until m.Expires, indexed by m.Subject and,
	// when not empty, by the provider's session id m.SID. Storing a new key
	// beyond the backend's cap of records per subject ends that subject's
	// least recently active records, in the same step where the backend
	// allows.
	Put(ctx context.Context, key string, val []byte, m Meta) error
	// Update is Put for a record that must still exist: it returns
	// ErrNotFound, and stores nothing, when key was deleted or has expired,
	// so that a write racing a logout can not bring the session back.
	Update(ctx context.Context, key string, val []byte, m Meta) error
	// Delete removes key; deleting a missing key is not an error. A nil
	// error means the deletion is as durable as the backend can make it:
	// on a Redis with replicas, a replica has acknowledged it.
	Delete(ctx context.Context, key string) error
	// DeleteSubject removes every record of the subject and says how many.
	DeleteSubject(ctx context.Context, sub string) (int, error)
	// DeleteSID removes every record with the provider session id, of
	// every subject, and says how many.
	DeleteSID(ctx context.Context, sid string) (int, error)
	// List returns every live record of the subject, the most recently
	// active first. It reads no more than the subject's index holds: at
	// most the cap, and what has expired since the index was last pruned.
	List(ctx context.Context, sub string) ([]Item, error)
	// Once records key until expires and reports whether it was new: false
	// means the key was already used (a replayed state or logout token).
	Once(ctx context.Context, key string, expires time.Time) (bool, error)
	// Used reports whether Once recorded key and it has not expired, without
	// recording it: a caller that must act before marking (a back-channel
	// logout marks its token only once the sessions are deleted) checks
	// with Used first.
	Used(ctx context.Context, key string) (bool, error)
	// Lock takes the lock named key, waiting until it is free or ctx ends.
	// It is held until unlock is called or for at most ttl, so that a
	// crashed holder can not block the others for ever. A shared backend
	// locks across every instance that uses it.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	Close() error
}

// Meta is what a backend knows of a record besides its bytes: what it is
// indexed by, what orders a subject's records, and when it may be forgotten.
type Meta struct {
	Subject string
	// SID is the provider's session id, or empty.
	SID string
	// LastSeen is the record's last recorded activity: the cap on records
	// per subject ends the least recent ones, and List returns the most
	// recent first.
	LastSeen time.Time
	// Expires is when the backend may forget the record.
	Expires time.Time
	// Once, when set on a Put, records that Once key (as Backend.Once
	// would, until OnceUntil) in the same write, and stores nothing but
	// fails with ErrUsed when it was recorded already: a login marks its
	// state used with the session it creates, in one transaction. It is
	// not kept with the record.
	Once      string
	OnceUntil time.Time
}

// ErrUsed is returned by a Put whose Meta.Once key was already recorded.
var ErrUsed = errors.New("session: once key already used")

// Entry is a stored record with its Meta. Records stored by an earlier
// version have no LastSeen.
type Entry struct {
	Value []byte
	Meta
}

// Item is an entry with its key, as List returns them.
type Item struct {
	Key string
	Entry
}

// DefaultMaxPerSubject is the cap on live sessions per subject when a
// backend's options set none.
const DefaultMaxPerSubject = 50

// Record is what the server keeps about one logged-in browser.
type Record struct {
	Subject string `json:"sub"`
	// SID is the provider's session id (the ID token's sid claim), used by
	// back-channel logout.
	SID string `json:"sid,omitempty"`
	// UserInfo is the userinfo response as the provider sent it.
	UserInfo     json.RawMessage `json:"userinfo"`
	IDToken      string          `json:"id_token"`
	AccessToken  string          `json:"access_token,omitempty"`
	RefreshToken string          `json:"refresh_token,omitempty"`
	// TokenExpiry is when the ID token (or the access token, if earlier) expires.
	TokenExpiry time.Time `json:"token_exp"`
	CreatedAt   time.Time `json:"created"`
	LastSeen    time.Time `json:"seen"`
	// UserAgent and ClientIP are the sign-in request's, for the list of
	// sessions. The record keeps at most 256 and 64 bytes of them.
	UserAgent string `json:"ua,omitempty"`
	ClientIP  string `json:"ip,omitempty"`
	// AuthTime is when the user last authenticated at the provider (the ID
	// token's auth_time), for actions that need a recent authentication.
	AuthTime time.Time `json:"auth_time,omitzero"`

	// memo caches what the handlers derive from UserInfo (see Derived).
	memo *memo
}

// Options are the lifetimes and cookie settings of a Store.
type Options struct {
	// Secure sets the cookie's Secure flag and __Host- prefix (https apps).
	Secure          bool
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	Logger          *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store implements sessions.Store on top of a Backend.
type Store struct {
	backend Backend
	codec   *securecookie.SecureCookie
	opts    Options
	name    string
	log     *slog.Logger
	cache   *decodedCache
	cookies *cookieCache
	// handleKey makes the public handles of sessions (see handle).
	handleKey []byte
}

// decodedRecords is how many decoded records a Store keeps for reuse: the
// sessions active right now on this instance.
const decodedRecords = 512

var _ sessions.Store = (*Store)(nil)

// recordKey is the key of the *Record in sessions.Session.Values.
type recordKey struct{}

// endedKey is the key of an endedMark in sessions.Session.Values.
type endedKey struct{}

// endedMark is what New leaves on the anonymous session it returns for a
// cookie whose session had expired: whose it was, and its storage key.
type endedMark struct{ sub, key string }

// NewStore returns a Store whose cookie is signed and encrypted with keys
// derived from secret.
func NewStore(backend Backend, secret []byte, opts Options) (*Store, error) {
	if len(secret) < 32 {
		return nil, errors.New("session: secret shorter than 32 bytes")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	codec, err := NewCodec(secret, "session", opts.AbsoluteTimeout)
	if err != nil {
		return nil, err
	}
	handleKey, err := hkdf.Key(sha256.New, secret, nil, "login session handle", 32)
	if err != nil {
		return nil, err
	}
	return &Store{
		backend: backend, codec: codec, opts: opts, name: CookieName("session", opts.Secure), log: opts.Logger,
		cache: newDecodedCache(decodedRecords), cookies: newCookieCache(4 * decodedRecords), handleKey: handleKey,
	}, nil
}

// NewCodec derives a signing and an encryption key for purpose from secret
// with HKDF, and returns a securecookie codec that stores raw bytes.
func NewCodec(secret []byte, purpose string, maxAge time.Duration) (*securecookie.SecureCookie, error) {
	hashKey, err := hkdf.Key(sha256.New, secret, nil, "login cookie hmac "+purpose, 32)
	if err != nil {
		return nil, err
	}
	blockKey, err := hkdf.Key(sha256.New, secret, nil, "login cookie aes "+purpose, 32)
	if err != nil {
		return nil, err
	}
	c := securecookie.New(hashKey, blockKey)
	c.SetSerializer(securecookie.NopEncoder{})
	c.MaxAge(int(maxAge / time.Second))
	c.MaxLength(1024)
	return c, nil
}

// CookieName returns name, with the __Host- prefix for https apps.
func CookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// Name is the session cookie's name.
func (s *Store) Name() string { return s.name }

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.backend }

// Get returns the request's session. It does not cache: the handlers load the
// session once per request in middleware.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New returns the session named by the request's cookie, or a new empty one
// when there is no cookie, the cookie does not verify, or the record is gone
// or expired. Only a failing backend returns an error (wrapping
// ErrUnavailable), together with a new empty session. The empty session
// returned for a record that the backend still held past its lifetime is
// marked (see EndedSubject and EndExpired), so that the end of that session
// is reported once, when it is seen.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.cookieOptions()
	sess.IsNew = true
	ids, value, ok := s.cookieIDs(r, name)
	if !ok {
		return sess, nil
	}
	id, key := ids.id, ids.key
	entry, err := s.backend.Get(r.Context(), key)
	if errors.Is(err, ErrNotFound) {
		// Ended, here or on another instance: nothing of it stays cached.
		s.cache.forget(key)
		s.cookies.forget(value)
		if exp, ok := errors.AsType[*ExpiredError](err); ok {
			sess.Values[endedKey{}] = endedMark{sub: exp.Subject, key: key}
		}
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	rec, err := s.cache.decode(key, entry.Value)
	if err != nil {
		s.log.Warn("corrupt session record treated as no session", "err", err)
		return sess, nil
	}
	// The backend keeps the subject and sid for its indexes; the record
	// does not repeat them.
	if rec.Subject == "" {
		rec.Subject, rec.SID = entry.Subject, entry.SID
	}
	now := s.opts.Now()
	if !s.alive(rec, now) {
		// Held by the backend but past the lifetimes this Store enforces
		// (shorter since the record was written, or another clock).
		s.cache.forget(key)
		s.cookies.forget(value)
		sess.Values[endedKey{}] = endedMark{sub: rec.Subject, key: key}
		return sess, nil
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[recordKey{}] = rec
	return sess, nil
}

// cookieIDs returns the session id and storage key that the request's
// cookie carries, when it has one that verifies, and the cookie's value.
func (s *Store) cookieIDs(r *http.Request, name string) (cookieIDs, string, bool) {
	// A value that verified before is looked up as the header carries it,
	// without net/http's parsing of every cookie (a quarter of a cached
	// lookup's time); anything else goes the long way, with r.Cookie's
	// rules.
	if v, ok := firstCookie(r.Header, name); ok {
		if ids, ok := s.cookies.get(v); ok {
			return ids, v, true
		}
	}
	c, err := r.Cookie(name)
	if err != nil {
		return cookieIDs{}, "", false
	}
	ids, ok := s.cookies.get(c.Value)
	if !ok {
		var raw []byte
		if err := s.codec.Decode(name, c.Value, &raw); err != nil {
			return cookieIDs{}, "", false // tampered, foreign or stale: anonymous
		}
		ids = cookieIDs{id: string(raw), key: storageKey(string(raw))}
		s.cookies.put(c.Value, ids)
	}
	return ids, c.Value, true
}

// firstCookie returns the raw value of the first cookie named name in the
// Cookie headers. It does not validate the value: the caller only looks it
// up among values that r.Cookie returned before, and r.Cookie returns the
// first valid cookie of a name, which is this one whenever it is such a
// value.
func firstCookie(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.Trim(part, " \t")
			if k, v, ok := strings.Cut(part, "="); ok && k == name {
				return v, true
			}
		}
	}
	return "", false
}

// alive reports whether rec is within its idle and absolute lifetimes. The
// token expiry is not checked here: an expired token with a refresh token is
// still a session, which the caller refreshes.
func (s *Store) alive(rec *Record, now time.Time) bool {
	if now.After(rec.CreatedAt.Add(s.opts.AbsoluteTimeout)) {
		return false
	}
	if now.After(rec.LastSeen.Add(s.opts.IdleTimeout)) {
		return false
	}
	if rec.RefreshToken == "" && !rec.TokenExpiry.IsZero() && now.After(rec.TokenExpiry) {
		return false
	}
	return true
}

// expires is when the backend may forget rec.
func (s *Store) expires(rec *Record) time.Time {
	t := rec.CreatedAt.Add(s.opts.AbsoluteTimeout)
	if idle := rec.LastSeen.Add(s.opts.IdleTimeout); idle.Before(t) {
		t = idle
	}
	if rec.RefreshToken == "" && !rec.TokenExpiry.IsZero() && rec.TokenExpiry.Before(t) {
		t = rec.TokenExpiry
	}
	return t
}

// Save stores the session's record and sets the cookie; a negative MaxAge
// deletes the record and the cookie instead. A session without an ID gets a
// fresh random one. Saving a session that was ended since it was read
// clears the cookie and returns ErrEnded.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.delete(r.Context(), storageKey(sess.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, s.expiredCookie())
		return nil
	}
	rec, _ := sess.Values[recordKey{}].(*Record)
	if rec == nil {
		return errors.New("session: save without a record")
	}
	create := sess.ID == "" || sess.IsNew
	if sess.ID == "" {
		sess.ID = newID(s.opts.Now(), rec.Subject)
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	m := Meta{Subject: rec.Subject, SID: rec.SID, LastSeen: rec.LastSeen, Expires: s.expires(rec)}
	if mark, ok := sess.Values[onceKey{}].(OnceMark); ok && create {
		m.Once, m.OnceUntil = mark.Key, mark.Until
		delete(sess.Values, onceKey{})
	}
	if create {
		err = s.backend.Put(r.Context(), storageKey(sess.ID), data, m)
	} else {
		err = s.backend.Update(r.Context(), storageKey(sess.ID), data, m)
	}
	if errors.Is(err, ErrNotFound) {
		http.SetCookie(w, s.expiredCookie())
		return ErrEnded
	}
	if errors.Is(err, ErrUsed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if create {
		enc, err := s.codec.Encode(s.name, []byte(sess.ID))
		if err != nil {
			return fmt.Errorf("encode session cookie: %w", err)
		}
		http.SetCookie(w, s.cookie(enc))
	}
	return nil
}

// delete deletes the record under key and forgets what this process cached
// of it, so that the session is dead here at once (other instances read the
// backend on every request).
func (s *Store) delete(ctx context.Context, key string) error {
	if err := s.backend.Delete(ctx, key); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.cache.forget(key)
	s.cookies.forgetKey(key)
	return nil
}

// OnceMark is a Once key that a login records with its new session, in the
// same write (see Meta.Once): the login's state, so that a replayed
// callback can not create a second session.
type OnceMark struct {
	Key   string
	Until time.Time
}

// onceKey is the key of a pending OnceMark in sessions.Session.Values.
type onceKey struct{}

// Login starts a new session for rec, always under a new id: an id the
// browser presented before login is deleted, never promoted. With marks,
// the first mark's key is recorded with the new session in one write, and
// a key that was recorded already fails the login with ErrUsed.
func (s *Store) Login(w http.ResponseWriter, r *http.Request, rec *Record, marks ...OnceMark) error {
	if old, err := s.New(r, s.name); err == nil && !old.IsNew {
		if err := s.delete(r.Context(), storageKey(old.ID)); err != nil {
			return err
		}
	}
	now := s.opts.Now()
	rec.CreatedAt, rec.LastSeen = now, now
	sess := sessions.NewSession(s, s.name)
	sess.Options = s.cookieOptions()
	sess.IsNew = true
	sess.Values[recordKey{}] = rec
	if len(marks) > 0 {
		sess.Values[onceKey{}] = marks[0]
	}
	return s.Save(r, w, sess)
}

// Logout deletes the session's record and clears the cookie. When the
// session was not found, the record its cookie names is deleted all the
// same: it may be one whose deletion was tried before and could not be
// confirmed (a Redis that lost its master meanwhile), and the new deletion
// confirms it.
func (s *Store) Logout(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
	if sess != nil && sess.ID != "" {
		sess.Options.MaxAge = -1
		return s.Save(r, w, sess)
	}
	if ids, _, ok := s.cookieIDs(r, s.name); ok {
		if err := s.delete(r.Context(), ids.key); err != nil {
			return err
		}
	}
	http.SetCookie(w, s.expiredCookie())
	return nil
}

// EndedSubject reports whether sess is the empty session that New returned
// for a cookie whose session had expired (see New), and whose session it
// was.
func EndedSubject(sess *sessions.Session) (sub string, ok bool) {
	if sess == nil {
		return "", false
	}
	m, ok := sess.Values[endedKey{}].(endedMark)
	return m.sub, ok
}

// endedOnceTTL is how long EndExpired remembers a session it ended: longer
// than the requests that a browser sends at once with the same cookie take.
const endedOnceTTL = time.Minute

// EndExpired finishes a session that New found expired (see EndedSubject):
// it deletes the dead record, so that the backend stops holding it, and
// clears the cookie on w, so that the browser stops sending it. It returns
// the subject and true for one request only, on every instance: requests
// that the browser sent at once with the same cookie all find the record,
// and the first to mark it in the backend (Once) reports the end. For any
// other session it does nothing and returns false. The request is
// anonymous either way, so a failing backend is logged, not returned: the
// cookie is cleared all the same, and an undeleted record is removed by the
// sweep or its TTL.
func (s *Store) EndExpired(w http.ResponseWriter, r *http.Request, sess *sessions.Session) (sub string, ok bool) {
	if sess == nil {
		return "", false
	}
	m, ok := sess.Values[endedKey{}].(endedMark)
	if !ok {
		return "", false
	}
	delete(sess.Values, endedKey{})
	http.SetCookie(w, s.expiredCookie())
	ctx := r.Context()
	first, err := s.backend.Once(ctx, "ended:"+m.key, s.opts.Now().Add(endedOnceTTL))
	if err != nil {
		// Better a rare double count than an expiry not reported.
		s.log.Warn("mark an expired session as reported", "err", err)
		first = true
	}
	if err := s.delete(ctx, m.key); err != nil {
		s.log.Warn("delete an expired session; the store removes it by itself", "err", err)
	}
	return m.sub, first
}

// Touch records activity on a session for the idle timeout. To keep requests
// cheap it writes at most once a minute (or a quarter of the idle timeout,
// when that is shorter) per session.
func (s *Store) Touch(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
	rec := RecordOf(sess)
	if rec == nil {
		return nil
	}
	now := s.opts.Now()
	step := min(time.Minute, s.opts.IdleTimeout/4)
	if now.Sub(rec.LastSeen) < step {
		return nil
	}
	// Touch writes back the whole record as this request read it. Landing
	// just after a token refresh on another instance, it would restore the
	// refresh token that the provider has already rotated away; so it leaves
	// sessions about to be refreshed alone (the refresh records the
	// activity).
	if rec.RefreshToken != "" && !rec.TokenExpiry.IsZero() && rec.TokenExpiry.Sub(now) < RefreshGuard {
		return nil
	}
	rec.LastSeen = now
	return s.Save(r, w, sess)
}

// RefreshGuard is how long before the tokens expire Touch stops writing. It
// is far longer than a request takes from reading a session to writing it.
const RefreshGuard = 10 * time.Second

// Replace stores an updated record (after a token refresh) under the same
// id, and records the activity.
func (s *Store) Replace(w http.ResponseWriter, r *http.Request, sess *sessions.Session, rec *Record) error {
	rec.LastSeen = s.opts.Now()
	sess.Values[recordKey{}] = rec
	return s.Save(r, w, sess)
}

// Lock serialises the token refreshes of one session: across the requests
// of this process and, with a shared backend, across instances. The lock is
// held for at most ttl.
func (s *Store) Lock(ctx context.Context, sess *sessions.Session, ttl time.Duration) (unlock func(), err error) {
	unlock, err = s.backend.Lock(ctx, "refresh:"+storageKey(sess.ID), ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: lock session: %v", ErrUnavailable, err)
	}
	return unlock, nil
}

// SessionInfo describes one live session of a user for the list of
// sessions: nothing in it opens the session.
type SessionInfo struct {
	// Handle names the session in the user's requests to end it. It is
	// opaque and stable for the session, and no credential: it is an HMAC
	// of the storage key, which is itself a hash of the session id.
	Handle string
	// UserAgent and ClientIP are the sign-in request's.
	UserAgent string
	ClientIP  string
	CreatedAt time.Time
	LastSeen  time.Time
	// Current marks the session the list was asked for.
	Current bool
}

// Sessions returns the live sessions of sub, on every instance that shares
// the backend, the most recently active first. current (which may be nil)
// is marked Current.
func (s *Store) Sessions(ctx context.Context, sub string, current *sessions.Session) ([]SessionInfo, error) {
	live, err := s.live(ctx, sub)
	if err != nil {
		return nil, err
	}
	cur := currentKey(current)
	out := make([]SessionInfo, len(live))
	for i, l := range live {
		out[i] = s.info(l, cur)
	}
	return out, nil
}

// EndSession ends the session of sub that handle names, everywhere: its
// record is deleted from the shared backend. It returns false, and ends
// nothing, when handle is not one of sub's live sessions, whether it is
// malformed, stale or another user's.
func (s *Store) EndSession(ctx context.Context, sub, handle string) (SessionInfo, bool, error) {
	live, err := s.live(ctx, sub)
	if err != nil {
		return SessionInfo{}, false, err
	}
	for _, l := range live {
		if subtle.ConstantTimeCompare([]byte(s.handle(l.key)), []byte(handle)) == 1 {
			if err := s.delete(ctx, l.key); err != nil {
				return SessionInfo{}, false, err
			}
			return s.info(l, ""), true, nil
		}
	}
	return SessionInfo{}, false, nil
}

// EndOtherSessions ends every live session of sub but current (all of them
// when current is nil or anonymous), and says how many it ended.
func (s *Store) EndOtherSessions(ctx context.Context, sub string, current *sessions.Session) (int, error) {
	live, err := s.live(ctx, sub)
	if err != nil {
		return 0, err
	}
	cur := currentKey(current)
	n := 0
	for _, l := range live {
		if l.key == cur {
			continue
		}
		if err := s.delete(ctx, l.key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// liveRecord is a decoded record of the backend's List.
type liveRecord struct {
	key string
	rec *Record
}

// live returns the records of sub that are within their lifetimes, the
// most recently active first. They are decoded outside the decoded-record
// cache, which is for the sessions that requests use.
func (s *Store) live(ctx context.Context, sub string) ([]liveRecord, error) {
	items, err := s.backend.List(ctx, sub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	now := s.opts.Now()
	out := make([]liveRecord, 0, len(items))
	for _, it := range items {
		rec, err := decodeRecord(it.Value)
		if err != nil {
			s.log.Warn("corrupt session record left out of the list", "err", err)
			continue
		}
		if rec.Subject == "" {
			rec.Subject, rec.SID = it.Subject, it.SID
		}
		if rec.Subject != sub || !s.alive(rec, now) {
			continue
		}
		out = append(out, liveRecord{key: it.Key, rec: rec})
	}
	// The backend orders by the activity it was told; the records say it
	// too, and are what the list shows.
	slices.SortStableFunc(out, func(a, b liveRecord) int { return b.rec.LastSeen.Compare(a.rec.LastSeen) })
	return out, nil
}

func (s *Store) info(l liveRecord, current string) SessionInfo {
	return SessionInfo{
		Handle:    s.handle(l.key),
		UserAgent: l.rec.UserAgent,
		ClientIP:  l.rec.ClientIP,
		CreatedAt: l.rec.CreatedAt,
		LastSeen:  l.rec.LastSeen,
		Current:   current != "" && l.key == current,
	}
}

// handle is the public name of the session stored under key: 128 bits of
// an HMAC, so that it can not be turned back into the key, let alone the
// session id or a cookie.
func (s *Store) handle(key string) string {
	mac := hmac.New(sha256.New, s.handleKey)
	mac.Write([]byte(key))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func currentKey(sess *sessions.Session) string {
	if sess == nil || sess.ID == "" {
		return ""
	}
	return storageKey(sess.ID)
}

// RecordOf returns the session's record, or nil for an anonymous session.
func RecordOf(sess *sessions.Session) *Record {
	if sess == nil {
		return nil
	}
	rec, _ := sess.Values[recordKey{}].(*Record)
	return rec
}

func (s *Store) cookieOptions() *sessions.Options {
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}
}

func (s *Store) cookie(value string) *http.Cookie {
	return &http.Cookie{Name: s.name, Value: value, Path: "/", HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}
}

func (s *Store) expiredCookie() *http.Cookie {
	c := s.cookie("")
	c.MaxAge = -1
	return c
}

// storageKey is the backend key for a session id: a hash, so that a copy of
// the store holds no usable cookie values, after the id's creation time,
// so that the embedded store appends new sessions in order and packs its
// pages full (see Bolt.Put), and, for ids made since sessions carry one,
// the {tag} of the subject, so that in a Redis Cluster the record lives in
// its subject's slot with the subject's index. 128 bits of hash are plenty
// for a lookup key and keep the indexes small. Ids of the earlier format
// (no tag) keep their keys.
func storageKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	hash := base64.RawURLEncoding.EncodeToString(sum[:16])
	raw, err := base64.RawURLEncoding.DecodeString(id)
	switch {
	case err == nil && len(raw) == idLen:
		return "s:" + hex.EncodeToString(raw[:idTimeLen]) + "{" + hex.EncodeToString(raw[idTimeLen:idTimeLen+idTagLen]) + "}" + hash
	case err == nil && len(raw) == legacyIDLen:
		return "s:" + hex.EncodeToString(raw[:idTimeLen]) + hash
	default:
		return "s:" + hash
	}
}

// A session id is idTimeLen bytes of creation time (nanoseconds since
// 1970, big-endian), idTagLen bytes of the subject's tag (see slotTag) and
// 24 random bytes, 192 bits: the time orders the storage keys (finely
// enough that sessions created in the same millisecond still arrive in
// order), the tag places the record beside its subject's index, the random
// part makes the id unguessable. Ids made before the tag are legacyIDLen
// bytes.
const (
	idLen       = idTimeLen + idTagLen + 24
	legacyIDLen = idTimeLen + 24
	idTimeLen   = 8
	idTagLen    = 2
)

func newID(now time.Time, sub string) string {
	b := make([]byte, idLen)
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	tag := sha256.Sum256([]byte(sub))
	copy(b[idTimeLen:], tag[:idTagLen])
	rand.Read(b[idTimeLen+idTagLen:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// slotTag is the hash tag of what belongs to v (a subject or a provider
// session id): the hex of the first idTagLen bytes of its SHA-256, which a
// Redis Cluster maps to a slot, whatever bytes v holds.
func slotTag(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:idTagLen])
}

// keyTag returns the {tag} of a storage key, or "" for a key without one
// (of the earlier format).
func keyTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return ""
	}
	return key[i+1 : i+1+j]
}
