package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// MinRefetchInterval is, by default, the interval over which refetches of
// the provider's JWKS caused by unknown key ids are budgeted. go-oidc's
// RemoteKeySet fetches on every unknown kid, so a flood of forged tokens
// would become a flood against the provider; this key set allows a burst of
// refetchBurst and then one per interval, per source of tokens (see
// keySource), and otherwise fails the token without a fetch.
const MinRefetchInterval = 10 * time.Second

// refetchBurst is how many refetches a source may make at once before the
// interval paces it: a rotation right after a fetch (even a second later)
// is still seen at once.
const refetchBurst = 2

// keySource says where a token to verify came from. A token from the
// provider's token endpoint, fetched by us over TLS, can not be forged by a
// third party; a logout token is POSTed by anyone. Each source has its own
// refetch budget, so that a storm of forged logout tokens can never keep a
// login after a real key rotation from seeing the new key.
type keySource int

const (
	sourceTokenEndpoint keySource = iota
	sourceUnsolicited
	numSources
)

type keySourceKey struct{}

// withKeySource marks ctx with the source of the token to verify.
func withKeySource(ctx context.Context, s keySource) context.Context {
	return context.WithValue(ctx, keySourceKey{}, s)
}

func sourceOf(ctx context.Context) keySource {
	if s, ok := ctx.Value(keySourceKey{}).(keySource); ok {
		return s
	}
	return sourceTokenEndpoint
}

// keySet is an oidc.KeySet that caches the provider's keys, skips keys it
// can not parse (so that one new key type at the provider breaks nothing),
// and budgets refetches. Verifications read the keys without a lock, so
// none waits behind a slow fetch unless it needs that fetch; concurrent
// misses share one fetch.
type keySet struct {
	client   *http.Client
	url      string
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	keys atomic.Pointer[[]jose.JSONWebKey]

	mu        sync.Mutex // guards what follows; never held during a fetch
	inflight  *keyFetch
	lastFetch time.Time
	budgets   [numSources]refetchBudget
	fetches   int
}

// keyFetch is one fetch of the JWKS that several verifications may wait for.
type keyFetch struct {
	done chan struct{}
	keys []jose.JSONWebKey
	err  error
}

// refetchBudget is a token bucket: refetchBurst tokens, one more each
// interval.
type refetchBudget struct {
	tokens float64
	at     time.Time
}

func (b *refetchBudget) take(now time.Time, interval time.Duration) bool {
	if b.at.IsZero() {
		b.tokens, b.at = refetchBurst, now
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(refetchBurst, b.tokens+float64(elapsed)/float64(interval))
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func newKeySet(client *http.Client, jwksURL string, log *slog.Logger, now func() time.Time, interval time.Duration) *keySet {
	if interval <= 0 {
		interval = MinRefetchInterval
	}
	if now == nil {
		now = time.Now
	}
	return &keySet{client: client, url: jwksURL, log: log, now: now, interval: interval}
}

// VerifySignature implements oidc.KeySet. A token with a kid uses only that
// key; a token without one is tried against every key that could have signed
// it (the provider may have several; any one that verifies proves the
// signature came from the provider).
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
		jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
	})
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwt must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID

	keys := k.keys.Load()
	if keys == nil {
		if err := k.firstFetch(ctx); err != nil {
			noteKeyFailure(ctx, err)
			return nil, err
		}
		keys = k.keys.Load()
	}
	if payload, ok := verifyWith(jws, *keys, kid); ok {
		return payload, nil
	}
	// Unknown key: perhaps the provider rotated. Keys another request
	// fetched meanwhile first; then a fetch of our own, within budget.
	if cur := k.keys.Load(); cur != keys {
		if payload, ok := verifyWith(jws, *cur, kid); ok {
			return payload, nil
		}
	}
	fetched, err := k.refetch(ctx, sourceOf(ctx))
	if err != nil {
		noteKeyFailure(ctx, err)
		return nil, err
	}
	if fetched != nil {
		if payload, ok := verifyWith(jws, fetched, kid); ok {
			return payload, nil
		}
	}
	return nil, errors.New("failed to verify signature")
}

func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) ([]byte, bool) {
	for i := range keys {
		key := &keys[i]
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != jws.Signatures[0].Header.Algorithm {
			continue
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// firstFetch loads the keys when there are none yet: at most one attempt a
// second while the provider does not answer.
func (k *keySet) firstFetch(ctx context.Context) error {
	k.mu.Lock()
	if k.inflight == nil && !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < time.Second {
		k.mu.Unlock()
		return errors.New("signing keys unavailable")
	}
	f := k.startLocked()
	k.mu.Unlock()
	_, err := k.wait(ctx, f)
	return err
}

// refetch fetches the keys again for a token with an unknown key: it joins
// a fetch already under way, or starts one if source has budget left. It
// returns nil keys and no error when the budget is spent.
func (k *keySet) refetch(ctx context.Context, source keySource) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		if !k.budgets[source].take(k.now(), k.interval) {
			k.mu.Unlock()
			return nil, nil
		}
		f = k.startLocked()
	}
	k.mu.Unlock()
	return k.wait(ctx, f)
}

// startLocked starts a fetch in the background; k.mu is held. The fetch
// does not belong to the request that started it: one that goes away must
// not fail the others waiting for it. The HTTP client's timeout bounds it.
func (k *keySet) startLocked() *keyFetch {
	f := &keyFetch{done: make(chan struct{})}
	k.inflight = f
	k.lastFetch = k.now()
	k.fetches++
	go func() {
		keys, err := k.fetch(context.Background())
		k.mu.Lock()
		k.inflight = nil
		k.mu.Unlock()
		if err == nil {
			k.keys.Store(&keys)
		}
		f.keys, f.err = keys, err
		close(f.done)
	}()
	return f
}

func (k *keySet) wait(ctx context.Context, f *keyFetch) ([]jose.JSONWebKey, error) {
	select {
	case <-f.done:
		return f.keys, f.err
	case <-ctx.Done():
		return nil, &netErr{fmt.Errorf("waiting for the signing keys: %w", ctx.Err())}
	}
}

// Fetches reports how many times the JWKS was fetched.
func (k *keySet) Fetches() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(withEndpoint(ctx, endpointJWKS), http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, &netErr{scrubURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &netErr{err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri answered %s", resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks is not JSON: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			k.log.Debug("skipping a JWKS key that can not be parsed", "err", err)
			continue
		}
		if !key.Valid() || !key.IsPublic() {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks holds no usable key")
	}
	return keys, nil
}

// keyFailure carries a failure to obtain the provider's keys past go-oidc,
// whose Verify flattens the KeySet's error into a string ("failed to verify
// signature: %v"). Without it a provider that can not serve its keys would
// look like a forged token (400) instead of an outage (502).
type keyFailure struct {
	mu  sync.Mutex
	err error
}

type keyFailureKey struct{}

// watchKeyFailure returns a context in which the key set records why it
// could not get keys; Err reports it after the verification.
func watchKeyFailure(ctx context.Context) (context.Context, *keyFailure) {
	f := &keyFailure{}
	return context.WithValue(ctx, keyFailureKey{}, f), f
}

func noteKeyFailure(ctx context.Context, err error) {
	if f, ok := ctx.Value(keyFailureKey{}).(*keyFailure); ok {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
	}
}

// Err is the key fetch failure seen during the verification, or nil.
func (f *keyFailure) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// netErr marks a key fetch that failed on the network, so the caller reports
// the provider as unreachable rather than the token as bad.
type netErr struct{ err error }

func (e *netErr) Error() string   { return "fetch jwks: " + e.err.Error() }
func (e *netErr) Unwrap() error   { return e.err }
func (e *netErr) Timeout() bool   { return true }
func (e *netErr) Temporary() bool { return true }

var _ oidc.KeySet = (*keySet)(nil)
