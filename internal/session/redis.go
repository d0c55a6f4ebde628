package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is the shared Backend: any number of instances with the same
// SESSION_SECRET serve the same sessions from one Redis (alone, behind
// Sentinel, or a Redis Cluster), and a record deleted by one instance is
// gone for all at once. It talks to a redis.UniversalClient and does not
// know which topology it has, with two exceptions: deletions wait for a
// replica on the connection of the server behind the key (see durable), and
// the set of live sessions is kept in the scripts on one Redis and in a
// step of its own on a Cluster (see liveKey).
//
// docs/OPERATIONS.md ("Redis key layout") lists the keys, their types,
// TTLs and slots, and which operations take more than one step and why
// those are safe. In short: a session's key carries its subject's {tag},
// so that every script that touches a record and its subject's index
// stays in one Cluster slot; the index of a provider session id, in a slot
// of its own, names only subjects, and DeleteSID works through them one
// subject (one slot) at a time.
//
// Every call has a short deadline, so an unreachable or stalled Redis costs
// a request about a second, not a hung worker; go-redis reconnects by itself
// when Redis is back, and follows a Sentinel failover or a Cluster's new
// slot map.
type Redis struct {
	c redis.UniversalClient
	// reads sends the GET of each authenticated request: go-redis's
	// autopipeliner, where it can be had, so that the GETs of concurrent
	// requests share one write and one read on one connection instead of a
	// round trip each (40 % more requests per second, a quarter less CPU per
	// request: docs/BENCHMARKS.md). A GET is sent only after the write it
	// follows was answered, so a deletion is seen at once as before. Nil
	// means plain GETs on c.
	reads *redis.AutoPipeliner
	// readsInFlight counts the session reads under way, readsPipelined
	// those that went through reads (see get).
	readsInFlight  atomic.Int64
	readsPipelined atomic.Uint64
	prefix         string
	timeout        time.Duration
	// wait is how long a deletion waits for a replica's acknowledgement.
	wait time.Duration
	max  int
	now  func() time.Time
	log  *slog.Logger
	// locks queue the requests of this process for a Lock, so that only one
	// of them at a time polls Redis.
	locks keyedMutex
	// cluster is true on a Redis Cluster, where the set of live sessions
	// is sharded and kept in a step after each script (see liveKey).
	cluster bool
	// capped counts the records this process's logins ended because of
	// the cap (see removedCounts).
	capped atomic.Uint64
}

// RedisOptions are the settings of the Redis backend that do not come from
// the URL.
type RedisOptions struct {
	// MaxPerSubject is the cap on live sessions per subject; 0 means
	// DefaultMaxPerSubject.
	MaxPerSubject int
	Logger        *slog.Logger
}

// Defaults for a URL that does not set its own timeouts (go-redis reads
// dial_timeout, read_timeout, write_timeout, pool_timeout and max_retries
// from the query, in every form).
const (
	redisTimeout    = time.Second
	redisMaxRetries = 1
	redisPrefix     = "login:"
	// redisMaxWait bounds how long a deletion waits for a replica.
	redisMaxWait = 500 * time.Millisecond
)

// RedisConfig is a parsed SESSION_STORE URL: exactly one of the options is
// set, for the form the URL has.
type RedisConfig struct {
	// Simple is a redis:// or rediss:// URL's: one Redis.
	Simple *redis.Options
	// Failover is a redis-sentinel:// URL's: the master that the Sentinels
	// name, followed through failovers.
	Failover *redis.FailoverOptions
	// Cluster is a redis-cluster:// URL's.
	Cluster *redis.ClusterOptions
}

// Addrs returns the addresses that the URL names (Sentinels for
// redis-sentinel://, seed nodes for redis-cluster://), for logs.
func (c *RedisConfig) Addrs() []string {
	switch {
	case c.Failover != nil:
		return c.Failover.SentinelAddrs
	case c.Cluster != nil:
		return c.Cluster.Addrs
	default:
		return []string{c.Simple.Addr}
	}
}

// Kind names the form of the URL, for the backend label of the metrics:
// "redis" (redis:// or rediss://), "redis-sentinel" or "redis-cluster".
func (c *RedisConfig) Kind() string {
	switch {
	case c.Failover != nil:
		return "redis-sentinel"
	case c.Cluster != nil:
		return "redis-cluster"
	default:
		return "redis"
	}
}

func (c *RedisConfig) client() redis.UniversalClient {
	switch {
	case c.Failover != nil:
		return redis.NewFailoverClient(c.Failover)
	case c.Cluster != nil:
		return redis.NewClusterClient(c.Cluster)
	default:
		return redis.NewClient(c.Simple)
	}
}

func (c *RedisConfig) timeouts() (read, write, dial time.Duration) {
	switch {
	case c.Failover != nil:
		return c.Failover.ReadTimeout, c.Failover.WriteTimeout, c.Failover.DialTimeout
	case c.Cluster != nil:
		return c.Cluster.ReadTimeout, c.Cluster.WriteTimeout, c.Cluster.DialTimeout
	default:
		return c.Simple.ReadTimeout, c.Simple.WriteTimeout, c.Simple.DialTimeout
	}
}

// ParseRedisURL parses a SESSION_STORE URL of one of the forms
//
//	redis://[:PASSWORD@]HOST:PORT/DB (rediss:// for TLS)
//	redis-sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[?db=N&...]
//	redis-cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT...][?...]
//
// into go-redis options, with short timeouts unless the URL sets its own.
// A Sentinel URL's password is the Redis servers' (the master's and the
// replicas'); Sentinels that require one of their own get it from the
// sentinel_password parameter. Its errors never repeat the URL, which may
// hold a password.
func ParseRedisURL(raw string) (*RedisConfig, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	var (
		cfg      *RedisConfig
		password string
		err      error
	)
	switch scheme {
	case "redis", "rediss":
		cfg, err = parseSimpleURL(raw)
		if cfg != nil {
			password = cfg.Simple.Password
		}
	case "redis-sentinel", "redis-cluster":
		cfg, password, err = parseMultiURL(scheme, rest)
	default:
		return nil, errors.New("the URL must start with redis://, rediss://, redis-sentinel:// or redis-cluster://")
	}
	if err != nil {
		return nil, errors.New(scrub(err.Error(), raw, password))
	}
	return cfg, nil
}

func parseSimpleURL(raw string) (*RedisConfig, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if opts.Network == "unix" {
		return nil, errors.New("unix sockets are not supported; use redis:// or rediss://")
	}
	defaultTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.DialerRetries)
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &RedisConfig{Simple: opts}, nil
}

// parseMultiURL parses the Sentinel and Cluster forms, whose comma-separated
// host lists net/url does not take, into go-redis's own URL form for them
// (one host, the others as addr parameters), so that every go-redis
// parameter works as in a redis:// URL.
func parseMultiURL(scheme, rest string) (*RedisConfig, string, error) {
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	var user, password string
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		u, err := url.Parse("redis://" + authority[:i] + "@host")
		if err != nil || u.User == nil {
			return nil, "", errors.New("the user and password are not URL-encoded")
		}
		user = u.User.Username()
		password, _ = u.User.Password()
		authority = authority[i+1:]
	}
	hosts := strings.Split(authority, ",")
	for i, h := range hosts {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return nil, password, fmt.Errorf("address %d of the list is not HOST:PORT", i+1)
		}
	}
	u, err := url.Parse("redis://" + hosts[0] + tail)
	if err != nil {
		return nil, password, errors.New("the path or query does not parse")
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	path := strings.Trim(u.Path, "/")
	if scheme == "redis-cluster" {
		if path != "" {
			return nil, password, errors.New("a redis-cluster:// URL has no path (a Cluster has only database 0)")
		}
		u.Path, u.RawQuery = "", q.Encode()
		opts, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, password, err
		}
		opts.Username, opts.Password = user, password
		defaultTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.DialerRetries)
		opts.ContextTimeoutEnabled = true
		opts.DisableIdentity = true
		opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return &RedisConfig{Cluster: opts}, password, nil
	}
	if path == "" || strings.Contains(path, "/") {
		return nil, password, errors.New("a redis-sentinel:// URL's path is the master's name: /MASTER_NAME")
	}
	sentinelPassword := q.Get("sentinel_password")
	q.Del("sentinel_password")
	q.Set("master_name", path)
	u.Path, u.RawQuery = "", q.Encode()
	opts, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, password, err
	}
	opts.Username, opts.Password = user, password
	opts.SentinelPassword = sentinelPassword
	defaultTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.DialerRetries)
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	return &RedisConfig{Failover: opts}, password, nil
}

// defaultTimeouts applies the short defaults to what the URL left unset.
func defaultTimeouts(dial, read, write, pool *time.Duration, retries, dialerRetries *int) {
	for _, d := range []*time.Duration{dial, read, write, pool} {
		if *d == 0 {
			*d = redisTimeout
		}
	}
	if *retries == 0 {
		// One retry: a connection that died with a Redis restart is
		// replaced at once instead of failing a request.
		*retries = redisMaxRetries
	}
	if *dialerRetries == 0 {
		*dialerRetries = 1
	}
}

// scrub removes the URL and the password from an error message.
func scrub(msg, raw, password string) string {
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, "(the URL)")
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "(the password)")
	}
	return msg
}

// NewRedis returns a Redis backend for cfg. It does not connect: a server
// that starts while Redis is down serves anonymous pages, and reports not
// ready, until Redis answers.
func NewRedis(cfg *RedisConfig, opts RedisOptions) *Redis {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	read, write, dial := cfg.timeouts()
	timeout := max(read, write, dial)
	if timeout <= 0 {
		timeout = redisTimeout
	}
	// WAIT must answer well within the read timeout of its connection.
	wait := redisMaxWait
	if read > 0 {
		wait = min(wait, read/2)
	}
	// go-redis has one logger for the whole process, which prints to
	// stderr; what it says (a failed dial, once per request while Redis is
	// down) the handlers already log with the request, so it goes to debug.
	redis.SetLogger(redisLogger{log})
	r := &Redis{c: cfg.client(), prefix: redisPrefix, timeout: timeout, wait: wait, max: opts.MaxPerSubject, now: time.Now, log: log, cluster: cfg.Cluster != nil}
	if r.max <= 0 {
		r.max = DefaultMaxPerSubject
	}
	// The deferred face, so that a caller waits no longer than its own
	// deadline when Redis stalls (the blocking face waits for the batch's
	// socket timeouts and retries); the queue is bounded so that a long
	// stall cannot pile up GETs that nobody waits for any more.
	apOpts := redis.DefaultAutoPipelineOptions()
	apOpts.MaxQueuedCommands = redisMaxQueuedReads
	if ap, err := r.c.AsyncAutoPipelineWithOptions(apOpts); err == nil {
		r.reads = ap // closed with the client
	} else {
		log.Warn("redis: session reads without pipelining", "err", err)
	}
	return r
}

// redisMaxQueuedReads bounds the session reads waiting for the pipeline:
// beyond it a request fails at once (503) instead of queueing.
const redisMaxQueuedReads = 4096

// get reads key, pipelined with the reads of concurrent requests.
func (r *Redis) get(ctx context.Context, key string) ([]byte, error) {
	// A read with no other in flight goes straight out: the pipeline's
	// hand-offs cost a lone request about 10 µs and save it nothing.
	alone := r.readsInFlight.Add(1) == 1
	defer r.readsInFlight.Add(-1)
	if r.reads == nil || alone {
		return r.c.Get(ctx, key).Bytes()
	}
	r.readsPipelined.Add(1)
	cmd := redis.NewStringCmd(ctx, "get", key)
	if err := r.reads.Submit(ctx, cmd).WaitContext(ctx); err != nil {
		return nil, err
	}
	return cmd.Bytes()
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// call bounds one call to Redis.
func (r *Redis) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// The keys, all under r.prefix (see docs/OPERATIONS.md).
func (r *Redis) subjectKey(sub string) string { return r.prefix + "sub:{" + slotTag(sub) + "}" + sub }
func (r *Redis) sidKey(sid string) string     { return r.prefix + "sid:{" + slotTag(sid) + "}" + sid }

// fenceKey is a key of tag's slot that no data ever lives in: a deletion
// script that found nothing to delete writes and deletes it, so that WAIT
// has a write of this slot's server to wait for.
func (r *Redis) fenceKey(tag string) string { return r.prefix + "f:{" + tag + "}" }

// liveShards is how many sorted sets hold the live sessions on a Redis
// Cluster: spread over the masters, so that no one of them takes every
// session's entry and every write.
const liveShards = 16

// liveKey is the sorted set of live sessions that a record of tag's
// subject belongs to. On one Redis (alone or behind Sentinel) there is one
// set, login:live, and the scripts that store and delete records keep it
// in the same step: a Redis that is not a Cluster has no slots to keep
// apart. On a Cluster a script can not reach a key of another slot, so
// there are liveShards sets, login:live:{live-0} to login:live:{live-f},
// chosen by the first hex digit of the subject's tag (every record of a
// subject in the same set), and the backend updates them in a command
// after each script (see liveAdd and liveRemove).
func (r *Redis) liveKey(tag string) string {
	if !r.cluster {
		return r.prefix + "live"
	}
	shard := "0"
	if tag != "" {
		shard = tag[:1]
	}
	return r.prefix + "live:{live-" + shard + "}"
}

// liveKeys are every set of live sessions.
func (r *Redis) liveKeys() []string {
	if !r.cluster {
		return []string{r.liveKey("")}
	}
	keys := make([]string, liveShards)
	for i := range keys {
		keys[i] = r.liveKey(strconv.FormatInt(int64(i), 16))
	}
	return keys
}

// liveMember is a record's member in a set of live sessions: the last 22
// characters of its key, which are the 128 bits of its hash (see
// storageKey) and as unique, at less than half the bytes of the key. A key
// that short is its own member. luaLive computes the same.
func liveMember(key string) string {
	if len(key) > 22 {
		return key[len(key)-22:]
	}
	return key
}

// liveTrimOnWrite is how many members that have expired each write of a
// record removes from its set; liveTrimOnScrape is how many Live removes
// from each set. Each session expires once and was written at least once,
// so two per write keep up with the expiries without any scrape, and each
// write stays O(log N).
const (
	liveTrimOnWrite  = 2
	liveTrimOnScrape = 1000
)

var _ Backend = (*Redis)(nil)

// Get implements Backend.
func (r *Redis) Get(ctx context.Context, key string) (Entry, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	v, err := r.get(ctx, r.prefix+key)
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
	if !r.now().Before(e.Expires) {
		// Redis forgets the key at its expiry by its own clock: this is
		// ours running ahead of it.
		return Entry{}, &ExpiredError{Subject: e.Subject}
	}
	return e, nil
}

// luaLib is what the scripts share. entry reads the subject and sid of an
// entry of either version (see entry.go). finish ends a deletion script:
// it reports how many records it deleted, how many replicas the server
// has and the keys of the deleted records (for the sets of live sessions
// of a Cluster); with replicas, a script that wrote nothing writes and deletes a
// fence key, so that the WAIT after it also covers an earlier deletion of
// the same records that was not yet acknowledged (a retry after a
// timeout finds nothing left to delete).
const luaLib = `
local function entry(v)
  if not v then return nil end
  local p = 9
  if string.byte(v, 1) == 255 then p = 18 end
  if #v < p + 1 then return nil end
  local n = string.byte(v, p) * 256 + string.byte(v, p + 1)
  local q = p + 2 + n
  if #v < q + 1 then return nil end
  local m = string.byte(v, q) * 256 + string.byte(v, q + 1)
  if #v < q + 1 + m then return nil end
  return string.sub(v, p + 2, q - 1), string.sub(v, q + 2, q + 1 + m)
end
local function finish(n, wrote, fence, keys)
  local info = redis.call('INFO', 'replication')
  local replicas = tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0
  if replicas > 0 and not wrote then
    redis.call('SET', fence, '1', 'PX', 1000)
    redis.call('DEL', fence)
  end
  local out = {n, replicas}
  for _, k in ipairs(keys or {}) do out[#out + 1] = k end
  return out
end
`

// luaLive is what the scripts that keep a set of live sessions share: a
// member is the last 22 characters of a record's key (see liveMember), its
// score the record's expiry in ms; live_add adds or moves a member, removes
// a few that have expired (see liveTrimOnWrite), and keeps the set until
// its last member expires.
const luaLive = `
local function member(k) return string.sub(k, -22) end
local function live_add(live, k, expires, now, ttl, trim)
  redis.call('ZADD', live, expires, member(k))
  local n = redis.call('ZCOUNT', live, '-inf', now)
  if n > 0 then redis.call('ZREMRANGEBYRANK', live, 0, math.min(n, trim) - 1) end
  if redis.call('PTTL', live) < ttl then redis.call('PEXPIRE', live, ttl) end
end
`

// putScript stores an entry and indexes it by subject, with the last
// activity as the score; a new record beyond the cap ends the subject's
// least recently active ones, and the subject's index forgets records that
// have expired. Given the set of live sessions (one Redis), it keeps it in
// the same step.
// KEYS: the record, the subject's index (one slot), [the set of live
// sessions].
// ARGV: entry, ttl in ms, "1" when the record must exist, last activity in
// ms, the cap, expiry in ms, now in ms, how many expired members to trim.
// Returns {stored (0 or 1), records ended by the cap, their keys...}.
var putScript = redis.NewScript(luaLive + `
local ttl = tonumber(ARGV[2])
local existed = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[3] == '1' and not existed then return {0, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
local out = {1, 0}
if not existed then
  local others = {}
  for _, k in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if k ~= KEYS[1] then
      if redis.call('EXISTS', k) == 1 then others[#others + 1] = k
      else redis.call('ZREM', KEYS[2], k) end
    end
  end
  for i = 1, #others + 1 - tonumber(ARGV[5]) do
    redis.call('DEL', others[i])
    redis.call('ZREM', KEYS[2], others[i])
    out[#out + 1] = others[i]
  end
  out[2] = #out - 2
end
if KEYS[3] then
  live_add(KEYS[3], KEYS[1], ARGV[6], ARGV[7], ttl, tonumber(ARGV[8]))
  for i = 3, #out do redis.call('ZREM', KEYS[3], member(out[i])) end
end
return out
`)

// sidIndexScript records that a subject has a session of a provider
// session id, until the latest expiry of those sessions.
// KEYS: the sid's index. ARGV: subject, expiry in ms, ttl in ms.
var sidIndexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`)

// deleteScript deletes a record and its entry in its subject's index,
// which shares its slot (a key of the earlier format has no tag: its
// subject's index is the earlier hash, on a Redis that is not a Cluster),
// and its member of the set of live sessions when given it.
// KEYS: the record, a fence of its slot, [the set of live sessions].
// ARGV: prefix.
var deleteScript = redis.NewScript(luaLib + luaLive + `
if KEYS[3] then redis.call('ZREM', KEYS[3], member(KEYS[1])) end
local v = redis.call('GET', KEYS[1])
if not v then return finish(0, false, KEYS[2]) end
redis.call('DEL', KEYS[1])
local sub = entry(v)
if sub then
  local tag = string.match(KEYS[1], '{(%x+)}')
  if tag then redis.call('ZREM', ARGV[1] .. 'sub:{' .. tag .. '}' .. sub, KEYS[1])
  else redis.call('HDEL', ARGV[1] .. 'u:' .. sub, KEYS[1]) end
end
return finish(1, true, KEYS[2])
`)

// deleteSubjectScript deletes every record of a subject and its index.
// KEYS: the subject's index, a fence of its slot, [the set of live
// sessions].
var deleteSubjectScript = redis.NewScript(luaLib + luaLive + `
local n, keys = 0, {}
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('DEL', k) == 1 then
    n = n + 1
    keys[#keys + 1] = k
  end
  if KEYS[3] then redis.call('ZREM', KEYS[3], member(k)) end
end
local wrote = redis.call('DEL', KEYS[1]) == 1
return finish(n, wrote, KEYS[2], keys)
`)

// deleteSIDScript deletes the records of one subject that have a provider
// session id, and forgets the subject's expired records on the way.
// KEYS: the subject's index, a fence of its slot, [the set of live
// sessions]. ARGV: sid.
var deleteSIDScript = redis.NewScript(luaLib + luaLive + `
local n, wrote, keys = 0, false, {}
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', k)
  if not v then
    redis.call('ZREM', KEYS[1], k)
    wrote = true
  else
    local _, sid = entry(v)
    if sid == ARGV[1] then
      redis.call('DEL', k)
      redis.call('ZREM', KEYS[1], k)
      if KEYS[3] then redis.call('ZREM', KEYS[3], member(k)) end
      n = n + 1
      keys[#keys + 1] = k
      wrote = true
    end
  end
end
return finish(n, wrote, KEYS[2], keys)
`)

// sidDoneScript removes from a sid's index the subjects whose records
// DeleteSID has deleted.
// KEYS: the sid's index, a fence of its slot. ARGV: the subjects.
var sidDoneScript = redis.NewScript(luaLib + `
local wrote = false
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then wrote = true end
end
return finish(0, wrote, KEYS[2])
`)

// listScript returns the subject's records, the most recently active
// first, as key, entry, key, entry..., and forgets those that have
// expired.
// KEYS: the subject's index.
var listScript = redis.NewScript(`
local out = {}
for _, k in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', k)
  if v then
    out[#out + 1] = k
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], k)
  end
end
return out
`)

// The indexes of the earlier key layout, u:SUB (a hash of the subject's
// record keys to their sid) and d:SID (the subject of a provider session),
// were written until records carried their subject's tag, only on a Redis
// that was not a Cluster. Their sessions are still read, so deletions by
// subject and sid consult them too. They expire with the sessions they
// name: once SESSION_ABSOLUTE_TIMEOUT has passed since every instance runs
// this version, none is left, and these two scripts can go.
//
// legacySubjectScript deletes the records of a subject's earlier index.
// KEYS: the index, [the set of live sessions].
var legacySubjectScript = redis.NewScript(luaLive + `
local n = 0
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  n = n + redis.call('DEL', k)
  if KEYS[2] then redis.call('ZREM', KEYS[2], member(k)) end
end
redis.call('DEL', KEYS[1])
return n
`)

// legacySIDScript deletes the records of an earlier sid index.
// KEYS: the sid index, [the set of live sessions]. ARGV: prefix, sid.
var legacySIDScript = redis.NewScript(luaLive + `
local sub = redis.call('GET', KEYS[1])
if not sub then return 0 end
local idx = ARGV[1] .. 'u:' .. sub
local h = redis.call('HGETALL', idx)
local n = 0
for i = 1, #h, 2 do
  if h[i + 1] == ARGV[2] then
    n = n + redis.call('DEL', h[i])
    redis.call('HDEL', idx, h[i])
    if KEYS[2] then redis.call('ZREM', KEYS[2], member(h[i])) end
  end
end
redis.call('DEL', KEYS[1])
return n
`)

// liveAddScript is live_add on its own, for a Cluster (see liveKey).
// KEYS: the set of live sessions. ARGV: the record's key, expiry in ms,
// now in ms, ttl in ms, how many expired members to trim.
var liveAddScript = redis.NewScript(luaLive + `
live_add(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
return 1
`)

// liveCountScript counts the live sessions of a set: the members whose
// expiry is after now, the ones that expired aside (O(log N) whatever their
// number); it removes at most ARGV[2] of those, so that one scrape after a
// long time without writes or scrapes does not stall Redis.
// KEYS: the set. ARGV: now in ms, how many expired members to trim.
var liveCountScript = redis.NewScript(`
local n = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, math.min(n, tonumber(ARGV[2])) - 1) end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
`)

// unlockScript deletes a lock only if it is still ours.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Put implements Backend.
func (r *Redis) Put(ctx context.Context, key string, val []byte, m Meta) error {
	return r.put(ctx, key, val, m, false)
}

// Update implements Backend.
func (r *Redis) Update(ctx context.Context, key string, val []byte, m Meta) error {
	return r.put(ctx, key, val, m, true)
}

func (r *Redis) put(ctx context.Context, key string, val []byte, m Meta, mustExist bool) error {
	if len(m.Subject) > 0xffff || len(m.SID) > 0xffff {
		return errors.New("subject or sid too long")
	}
	if tag := keyTag(key); tag != "" && tag != slotTag(m.Subject) {
		return errors.New("session key does not carry its subject's tag")
	}
	now := r.now()
	ttl := m.Expires.Sub(now).Milliseconds()
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
	seen := m.LastSeen
	if seen.IsZero() {
		seen = now
	}
	if m.Once != "" {
		// A key of its own slot, so a step of its own before the record:
		// a failure after it leaves the key used and no session, which is
		// what a replay would find anyway (the code is spent).
		first, err := r.Once(ctx, m.Once, m.OnceUntil)
		if err != nil {
			return err
		}
		if !first {
			return ErrUsed
		}
	}
	ctx, cancel := r.call(ctx)
	defer cancel()
	if m.SID != "" {
		// The sid's index names the subject before the record is stored:
		// an index entry whose record then failed to be stored costs
		// DeleteSID a look, while a record that the index did not name
		// would survive a back-channel logout.
		err := sidIndexScript.Run(ctx, r.c, []string{r.sidKey(m.SID)}, m.Subject, m.Expires.UnixMilli(), ttl).Err()
		if err != nil {
			return err
		}
	}
	must := "0"
	if mustExist {
		must = "1"
	}
	k := r.prefix + key
	keys := []string{k, r.subjectKey(m.Subject)}
	if !r.cluster {
		keys = append(keys, r.liveKey(""))
	}
	res, err := putScript.Run(ctx, r.c, keys,
		encodeEntry(m, val), ttl, must, seen.UnixMilli(), r.max,
		m.Expires.UnixMilli(), now.UnixMilli(), liveTrimOnWrite).Slice()
	if err != nil {
		return err
	}
	if len(res) < 2 {
		return fmt.Errorf("unexpected reply of %d values from the put script", len(res))
	}
	if stored, _ := res[0].(int64); stored == 0 {
		return ErrNotFound
	}
	ended := replyKeys(res[2:])
	if len(ended) > 0 {
		r.capped.Add(uint64(len(ended)))
		r.log.Debug("sessions beyond the cap ended", "count", len(ended))
	}
	if r.cluster {
		r.liveAdd(ctx, k, m.Expires, now, ttl)
		r.liveRemove(ctx, slotTag(m.Subject), ended)
	}
	return nil
}

// replyKeys returns the strings of a script's reply.
func replyKeys(vals []any) []string {
	keys := make([]string, 0, len(vals))
	for _, v := range vals {
		if k, ok := v.(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// liveAdd adds the record under k (a Redis key) to its set of live
// sessions, or moves its expiry, on a Cluster (see liveKey). It runs after
// the script that stored the record: a failure leaves the session out of
// the count until its next write, which is logged but does not fail the
// write, as the session is stored. A deletion on another instance that
// lands between the two steps leaves the member in the set until the
// session would have expired: the count is one too high until then.
func (r *Redis) liveAdd(ctx context.Context, k string, expires, now time.Time, ttl int64) {
	// The record is stored: a browser that goes away now must not keep it
	// out of the count.
	ctx, cancel := r.call(context.WithoutCancel(ctx))
	defer cancel()
	err := liveAddScript.Run(ctx, r.c, []string{r.liveKey(keyTag(k))}, k, expires.UnixMilli(), now.UnixMilli(), ttl, liveTrimOnWrite).Err()
	if err != nil {
		r.log.Warn("add a session to the count of live sessions; it is counted from its next write", "err", err)
	}
}

// liveRemove removes the records under keys (Redis keys, all of tag's
// subject) from their set of live sessions, on a Cluster, after the script
// that deleted them. A failure is logged: the sessions are gone, and are
// counted until they would have expired.
func (r *Redis) liveRemove(ctx context.Context, tag string, keys []string) {
	if len(keys) == 0 {
		return
	}
	members := make([]any, len(keys))
	for i, k := range keys {
		members[i] = liveMember(k)
	}
	ctx, cancel := r.call(context.WithoutCancel(ctx))
	defer cancel()
	if err := r.c.ZRem(ctx, r.liveKey(tag), members...).Err(); err != nil {
		r.log.Warn("remove ended sessions from the count of live sessions; they are counted until they would have expired", "count", len(keys), "err", err)
	}
}

// Live returns the number of live sessions, of every instance: the
// members of the sets of live sessions whose expiry is still ahead. It
// removes some of the members that have expired (see liveCountScript); it
// never reads a record. Sessions stored by an earlier version count from
// their next write (any activity).
func (r *Redis) Live(ctx context.Context) (int, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	now := r.now().UnixMilli()
	total := 0
	for _, k := range r.liveKeys() {
		n, err := liveCountScript.Run(ctx, r.c, []string{k}, now, liveTrimOnScrape).Int()
		if err != nil {
			return 0, fmt.Errorf("count live sessions: %w", err)
		}
		total += n
	}
	return total, nil
}

// removedCounts implements removalCounter: only the cap's, as Redis
// forgets expired records by itself, by TTL, and does not tell.
func (r *Redis) removedCounts() map[string]*atomic.Uint64 {
	return map[string]*atomic.Uint64{removedCap: &r.capped}
}

// errNotReplicated is a deletion that the master made but no replica
// acknowledged in time: a failover now could bring the records back, so
// the caller must not report it as done (the client or provider retries).
var errNotReplicated = errors.New("no replica acknowledged the deletion in time")

// durable runs a deletion script (one that ends with finish) on a
// connection of its own to the server that holds keys[0], and, when that
// server has replicas, waits on the same connection until one of them
// acknowledges: Redis replicates asynchronously, so a deletion only the
// master has seen is lost if it fails now, and a logout answered as done
// must not be undone by a failover. WAIT counts acknowledgements of the
// writes of its own connection, which is why this needs a connection of
// its own and the server behind a key: the one place where the backend
// tells the topologies apart.
func (r *Redis) durable(ctx context.Context, s *redis.Script, keys []string, args ...any) (int, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout+r.wait)
	defer cancel()
	var node *redis.Client
	switch c := r.c.(type) {
	case *redis.Client: // one Redis, or the master that Sentinel names
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, keys[0]); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, fmt.Errorf("session: unsupported Redis client %T", r.c)
	}
	conn := node.Conn()
	defer conn.Close()
	res, err := s.Run(ctx, conn, keys, args...).Slice()
	if err != nil {
		if c, ok := r.c.(*redis.ClusterClient); ok && isRedirect(err) {
			// The slot moved: this connection went around the client,
			// which would otherwise learn it only from its own commands.
			c.ReloadState(ctx)
		}
		return 0, nil, err
	}
	if len(res) < 2 {
		return 0, nil, fmt.Errorf("unexpected reply of %d values from a deletion script", len(res))
	}
	n, _ := res[0].(int64)
	replicas, _ := res[1].(int64)
	if replicas > 0 {
		acked, err := conn.Wait(ctx, 1, r.wait).Result()
		if err != nil {
			return 0, nil, fmt.Errorf("wait for a replica: %w", err)
		}
		if acked < 1 {
			return 0, nil, errNotReplicated
		}
	}
	return int(n), replyKeys(res[2:]), nil
}

func isRedirect(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ") || strings.HasPrefix(msg, "CLUSTERDOWN")
}

// Delete implements Backend.
func (r *Redis) Delete(ctx context.Context, key string) error {
	k := r.prefix + key
	fence := k // a key of the earlier format, without a tag, fences itself
	tag := keyTag(key)
	if tag != "" {
		fence = r.fenceKey(tag)
	}
	keys := []string{k, fence}
	if !r.cluster {
		keys = append(keys, r.liveKey(""))
	}
	if _, _, err := r.durable(ctx, deleteScript, keys, r.prefix); err != nil {
		return err
	}
	if r.cluster {
		r.liveRemove(ctx, tag, []string{k})
	}
	return nil
}

// withLive appends the set of live sessions to the keys of a script that
// deletes records, on a Redis that is not a Cluster (see liveKey).
func (r *Redis) withLive(keys []string) []string {
	if r.cluster {
		return keys
	}
	return append(keys, r.liveKey(""))
}

// DeleteSubject implements Backend.
func (r *Redis) DeleteSubject(ctx context.Context, sub string) (int, error) {
	cctx, cancel := r.call(ctx)
	legacy, err := legacySubjectScript.Run(cctx, r.c, r.withLive([]string{r.prefix + "u:" + sub})).Int()
	cancel()
	if err != nil {
		return 0, err
	}
	// Last, so that on one Redis its WAIT covers the deletions above too.
	tag := slotTag(sub)
	n, deleted, err := r.durable(ctx, deleteSubjectScript, r.withLive([]string{r.subjectKey(sub), r.fenceKey(tag)}))
	if err != nil {
		return 0, err
	}
	if r.cluster {
		r.liveRemove(ctx, tag, deleted)
	}
	return legacy + n, nil
}

// DeleteSID implements Backend. It takes steps: the sid's index names the
// subjects, each subject's records are deleted in that subject's slot, and
// only then are the subjects removed from the sid's index. A step that
// fails leaves the index naming the subjects not yet done, so the retry
// (the provider's, after the 503) finishes the work.
func (r *Redis) DeleteSID(ctx context.Context, sid string) (int, error) {
	cctx, cancel := r.call(ctx)
	n, err := legacySIDScript.Run(cctx, r.c, r.withLive([]string{r.prefix + "d:" + sid}), r.prefix, sid).Int()
	if err != nil {
		cancel()
		return 0, err
	}
	idx := r.sidKey(sid)
	subs, err := r.c.ZRange(cctx, idx, 0, -1).Result()
	cancel()
	if err != nil {
		return 0, err
	}
	done := make([]any, 0, len(subs))
	for _, sub := range subs {
		tag := slotTag(sub)
		m, deleted, err := r.durable(ctx, deleteSIDScript, r.withLive([]string{r.subjectKey(sub), r.fenceKey(tag)}), sid)
		if err != nil {
			return 0, err
		}
		if r.cluster {
			r.liveRemove(ctx, tag, deleted)
		}
		n += m
		done = append(done, sub)
	}
	if _, _, err := r.durable(ctx, sidDoneScript, []string{idx, r.fenceKey(slotTag(sid))}, done...); err != nil {
		return 0, err
	}
	return n, nil
}

// List implements Backend: one script in the subject's slot reads the
// index and the records.
func (r *Redis) List(ctx context.Context, sub string) ([]Item, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	res, err := listScript.Run(ctx, r.c, []string{r.subjectKey(sub)}).Slice()
	if err != nil {
		return nil, err
	}
	now := r.now()
	items := make([]Item, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		e, err := decodeEntry([]byte(v))
		if err != nil || !now.Before(e.Expires) {
			continue
		}
		items = append(items, Item{Key: strings.TrimPrefix(k, r.prefix), Entry: e})
	}
	return items, nil
}

// Once implements Backend.
func (r *Redis) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	ttl := max(expires.Sub(r.now()), time.Millisecond)
	return r.c.SetNX(ctx, r.prefix+"o:"+key, "1", ttl).Result()
}

// Used implements Backend.
func (r *Redis) Used(ctx context.Context, key string) (bool, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	n, err := r.c.Exists(ctx, r.prefix+"o:"+key).Result()
	return n == 1, err
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
