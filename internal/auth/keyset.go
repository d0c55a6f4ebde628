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
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// MinRefetchInterval bounds how often, by default, the provider's JWKS is
// fetched again because a token names a key we do not have. go-oidc's
// RemoteKeySet fetches on every unknown kid, so a flood of forged tokens
// would become a flood against the provider; this key set fetches at most
// once per interval and otherwise fails the token. The price: a token signed
// with a key the provider published less than an interval after our last
// fetch fails until the interval has passed.
const MinRefetchInterval = 10 * time.Second

// keySet is an oidc.KeySet that caches the provider's keys, skips keys it
// can not parse (so that one new key type at the provider breaks nothing),
// and caps refetches.
type keySet struct {
	client   *http.Client
	url      string
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	lastFetch time.Time
	fetches   int
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

	keys, fresh, err := k.cached(ctx, false)
	if err != nil {
		noteKeyFailure(ctx, err)
		return nil, err
	}
	if payload, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
	}
	if fresh {
		return nil, errors.New("failed to verify signature")
	}
	// Unknown key: perhaps the provider rotated. Fetch again, within limits.
	keys, _, err = k.cached(ctx, true)
	if err != nil {
		noteKeyFailure(ctx, err)
		return nil, err
	}
	if payload, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
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

// cached returns the keys, fetching them when there are none yet or, with
// refetch, when the last fetch is older than the refetch interval. fresh says
// whether this call fetched.
func (k *keySet) cached(ctx context.Context, refetch bool) ([]jose.JSONWebKey, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil && !refetch {
		return k.keys, false, nil
	}
	if k.keys != nil && k.now().Sub(k.lastFetch) < k.interval {
		return k.keys, false, nil
	}
	if k.keys == nil && !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < time.Second {
		return nil, false, errors.New("signing keys unavailable")
	}
	k.lastFetch = k.now()
	k.fetches++
	keys, err := k.fetch(ctx)
	if err != nil {
		return k.keys, false, err
	}
	k.keys = keys
	return keys, true, nil
}

// Fetches reports how many times the JWKS was fetched.
func (k *keySet) Fetches() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
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
