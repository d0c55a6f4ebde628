package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is the shared Backend: any number of instances with the same
// SESSION_SECRET serve the same sessions from one Redis, and a record
// deleted by one instance is gone for all at once.
//
// Keys, all under one prefix:
//
//	s:…      a session: the entry (see encodeEntry) with a TTL at its expiry
//	u:SUB    hash of the subject's session keys -> their sid ("" for none)
//	d:SID    the subject of the provider session SID
//	o:KEY    a Once marker
//	l:KEY    a Lock
//
// Two small keys index a session, the least that finds it by subject and by
// sid: in Redis every key costs some 150 bytes besides its value, and memory
// is the budget that binds (docs/BENCHMARKS.md). The indexes expire with the
// longest-lived session they name. Writes that touch a record and its
// indexes are Lua scripts, so they are atomic; they address keys they
// compute, so this works on one Redis (with replicas or Sentinel), not on
// Redis Cluster.
//
// Every call has a short deadline, so an unreachable or stalled Redis costs
// a request about a second, not a hung worker; go-redis reconnects by itself
// when Redis is back.
type Redis struct {
	c       *redis.Client
	prefix  string
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
	// locks queue the requests of this process for a Lock, so that only one
	// of them at a time polls Redis.
	locks keyedMutex
}

// Defaults for a redis:// URL that does not set its own timeouts (go-redis
// reads dial_timeout, read_timeout, write_timeout, pool_timeout and
// max_retries from the query).
const (
	redisTimeout    = time.Second
	redisMaxRetries = 1
	redisPrefix     = "login:"
)

// ParseRedisURL parses a redis:// or rediss:// URL into go-redis options,
// with short timeouts unless the URL sets its own. Its errors never repeat
// the URL, which may hold a password.
func ParseRedisURL(raw string) (*redis.Options, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, errors.New(scrubRedisError(err.Error(), raw))
	}
	if opts.Network == "unix" {
		return nil, errors.New("unix sockets are not supported; use redis:// or rediss://")
	}
	for _, d := range []*time.Duration{&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout} {
		if *d == 0 {
			*d = redisTimeout
		}
	}
	if opts.MaxRetries == 0 {
		// One retry: a connection that died with a Redis restart is
		// replaced at once instead of failing a request.
		opts.MaxRetries = redisMaxRetries
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

func scrubRedisError(msg, raw string) string {
	if raw == "" {
		return msg
	}
	return strings.ReplaceAll(msg, raw, "(the URL)")
}

// NewRedis returns a Redis backend. It does not connect: a server that
// starts while Redis is down serves anonymous pages, and reports not ready,
// until Redis answers.
func NewRedis(opts *redis.Options, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := max(opts.ReadTimeout, opts.WriteTimeout, opts.DialTimeout)
	if timeout <= 0 {
		timeout = redisTimeout
	}
	// go-redis has one logger for the whole process, which prints to
	// stderr; what it says (a failed dial, once per request while Redis is
	// down) the handlers already log with the request, so it goes to debug.
	redis.SetLogger(redisLogger{log})
	return &Redis{c: redis.NewClient(opts), prefix: redisPrefix, timeout: timeout, now: time.Now, log: log}
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// call bounds one call to Redis.
func (r *Redis) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

var _ Backend = (*Redis)(nil)

// Get implements Backend.
func (r *Redis) Get(ctx context.Context, key string) (Entry, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	v, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	e, err := decodeEntry(v)
	if err != nil {
		r.log.Warn("corrupt session entry treated as no session")
		return Entry{}, ErrNotFound
	}
	if !r.now().Before(e.expires) {
		return Entry{}, ErrNotFound
	}
	return Entry{Value: e.val, Subject: e.sub, SID: e.sid}, nil
}

// luaParse reads the subject from an entry (see encodeEntry).
const luaParse = `
local function subject(v)
  if not v or #v < 12 then return nil end
  local n = string.byte(v, 9) * 256 + string.byte(v, 10)
  if #v < 12 + n then return nil end
  return string.sub(v, 11, 10 + n)
end
`

// putScript stores an entry and indexes it.
// KEYS: the record, its subject index, its sid index (when it has a sid).
// ARGV: entry, ttl in ms, "1" when the record must exist, sid, sub, prefix.
var putScript = redis.NewScript(luaParse + `
local ttl = tonumber(ARGV[2])
local old = redis.call('GET', KEYS[1])
if ARGV[3] == '1' and not old then return 0 end
local osub = subject(old)
if osub and osub ~= ARGV[5] then redis.call('HDEL', ARGV[6] .. 'u:' .. osub, KEYS[1]) end
if not old then
  -- A new session: forget the subject's sessions that have expired.
  for _, k in ipairs(redis.call('HKEYS', KEYS[2])) do
    if redis.call('EXISTS', k) == 0 then redis.call('HDEL', KEYS[2], k) end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('HSET', KEYS[2], KEYS[1], ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
if #KEYS > 2 then
  redis.call('SET', KEYS[3], ARGV[5], 'PX', math.max(ttl, redis.call('PTTL', KEYS[3])))
end
return 1
`)

// deleteScript deletes a record and its subject index entry (a sid index
// names only the subject, and expires by itself).
// KEYS: the record. ARGV: prefix.
var deleteScript = redis.NewScript(luaParse + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
local sub = subject(v)
if sub then redis.call('HDEL', ARGV[1] .. 'u:' .. sub, KEYS[1]) end
return 1
`)

// deleteSubjectScript deletes every record of a subject.
// KEYS: the subject index.
var deleteSubjectScript = redis.NewScript(`
local n = 0
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  n = n + redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
return n
`)

// deleteSIDScript deletes every record of a provider session: the sid
// index names the subject, whose index names the sid of each record.
// KEYS: the sid index. ARGV: prefix, sid.
var deleteSIDScript = redis.NewScript(`
local sub = redis.call('GET', KEYS[1])
if not sub then return 0 end
local idx = ARGV[1] .. 'u:' .. sub
local h = redis.call('HGETALL', idx)
local n = 0
for i = 1, #h, 2 do
  if h[i + 1] == ARGV[2] then
    n = n + redis.call('DEL', h[i])
    redis.call('HDEL', idx, h[i])
  end
end
redis.call('DEL', KEYS[1])
return n
`)

// unlockScript deletes a lock only if it is still ours.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Put implements Backend.
func (r *Redis) Put(ctx context.Context, key string, val []byte, expires time.Time, sub, sid string) error {
	return r.put(ctx, key, val, expires, sub, sid, false)
}

// Update implements Backend.
func (r *Redis) Update(ctx context.Context, key string, val []byte, expires time.Time, sub, sid string) error {
	return r.put(ctx, key, val, expires, sub, sid, true)
}

func (r *Redis) put(ctx context.Context, key string, val []byte, expires time.Time, sub, sid string, mustExist bool) error {
	if len(sub) > 0xffff || len(sid) > 0xffff {
		return errors.New("subject or sid too long")
	}
	ttl := expires.Sub(r.now()).Milliseconds()
	if ttl <= 0 {
		// Already over: nothing to keep.
		if err := r.Delete(ctx, key); err != nil {
			return err
		}
		if mustExist {
			return ErrNotFound
		}
		return nil
	}
	ctx, cancel := r.call(ctx)
	defer cancel()
	keys := []string{r.prefix + key, r.prefix + "u:" + sub}
	if sid != "" {
		keys = append(keys, r.prefix+"d:"+sid)
	}
	must := "0"
	if mustExist {
		must = "1"
	}
	n, err := putScript.Run(ctx, r.c, keys, encodeEntry(expires, sub, sid, val), ttl, must, sid, sub, r.prefix).Int()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete implements Backend.
func (r *Redis) Delete(ctx context.Context, key string) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	return deleteScript.Run(ctx, r.c, []string{r.prefix + key}, r.prefix).Err()
}

// DeleteSubject implements Backend.
func (r *Redis) DeleteSubject(ctx context.Context, sub string) (int, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	return deleteSubjectScript.Run(ctx, r.c, []string{r.prefix + "u:" + sub}).Int()
}

// DeleteSID implements Backend.
func (r *Redis) DeleteSID(ctx context.Context, sid string) (int, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	return deleteSIDScript.Run(ctx, r.c, []string{r.prefix + "d:" + sid}, r.prefix, sid).Int()
}

// Once implements Backend.
func (r *Redis) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	ttl := max(expires.Sub(r.now()), time.Millisecond)
	return r.c.SetNX(ctx, r.prefix+"o:"+key, "1", ttl).Result()
}

// Lock implements Backend: SET NX with a random token and a TTL, polled
// until it is free; unlock deletes it only while it holds our token.
func (r *Redis) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	unlockLocal, err := r.locks.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	name := r.prefix + "l:" + key
	wait := 5 * time.Millisecond
	for {
		cctx, cancel := r.call(ctx)
		ok, err := r.c.SetNX(cctx, name, token, ttl).Result()
		cancel()
		if err != nil {
			unlockLocal()
			return nil, err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			unlockLocal()
			return nil, fmt.Errorf("wait for lock: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			defer unlockLocal()
			// Unlock even when the request's context has ended.
			ctx, cancel := r.call(context.WithoutCancel(ctx))
			defer cancel()
			if err := unlockScript.Run(ctx, r.c, []string{name}, token).Err(); err != nil {
				r.log.Warn("release session lock; it expires by itself", "err", err)
			}
		})
	}, nil
}

// Ping implements Backend.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	return r.c.Ping(ctx).Err()
}

// Close implements Backend.
func (r *Redis) Close() error { return r.c.Close() }
