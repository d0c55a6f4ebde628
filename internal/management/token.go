package management

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Token caching. Auth0 counts and rate-limits machine-to-machine tokens
// per month, so one token serves every request and goroutine until shortly
// before it expires, and when it must be fetched, one fetch serves everyone
// waiting for it.
const (
	// maxExpiryMargin is how long before its expiry a token is replaced;
	// short-lived tokens are replaced after three quarters of their life.
	maxExpiryMargin = time.Minute
	// noExpiryLifetime is how long a token whose answer gave no expires_in
	// is used.
	noExpiryLifetime = 5 * time.Minute
)

// tokenCache holds the access token and the fetch in flight.
type tokenCache struct {
	conf  clientcredentials.Config
	fetch func(ctx context.Context) (*oauth2.Token, error) // conf.Token, or a test's
	now   func() time.Time

	mu     sync.Mutex
	token  string
	renew  time.Time // when to stop using token
	flight *tokenFlight
}

// tokenFlight is one fetch of a token, shared by everyone who waits for it.
type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// get returns a valid access token, fetching one if needed. A fetch runs
// with its own time limit, detached from ctx, so that a caller who gives up
// does not fail the others who wait for the same fetch; the caller waits at
// most until ctx ends.
func (c *tokenCache) get(ctx context.Context, timeout time.Duration) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.renew) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	f := c.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		c.flight = f
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		go func() {
			defer cancel()
			c.run(fetchCtx, f)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", &Error{Op: "get token", Kind: ErrUnavailable, Err: ctx.Err()}
	}
}

// run fetches a token for flight f and caches it.
func (c *tokenCache) run(ctx context.Context, f *tokenFlight) {
	start := c.now()
	tok, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flight = nil
	defer close(f.done)
	if err != nil {
		// A failure is not cached: the next call tries again, once.
		f.err = tokenError(err, c.now())
		return
	}
	if tok.AccessToken == "" {
		f.err = &Error{Op: "get token", Kind: ErrInvalidResponse, Err: errors.New("no access_token in the answer")}
		return
	}
	life := noExpiryLifetime
	if !tok.Expiry.IsZero() {
		life = tok.Expiry.Sub(start)
	}
	c.token = tok.AccessToken
	c.renew = start.Add(life - min(maxExpiryMargin, life/4))
	f.token = tok.AccessToken
}

// drop forgets token if it is still the cached one, after the API refused
// it: it was revoked, or the provider restarted with new keys.
func (c *tokenCache) drop(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// tokenError classifies a failed client-credentials grant. The oauth2
// package's own messages are not kept: they can quote the whole answer.
func tokenError(err error, now time.Time) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Op: "get token", Kind: ErrTokenRefused}
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		e.API = parseAPIError(e.StatusCode, re.Body)
		switch {
		case e.StatusCode == 429:
			e.Kind = ErrRateLimited
			e.RetryAfter = retryAfter(re.Response.Header, now)
		case e.StatusCode >= 500:
			e.Kind = ErrUnavailable
		case e.StatusCode < 400:
			e.Kind = ErrInvalidResponse
		}
		return e
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cause := err
		if urlErr != nil {
			cause = urlErr
		}
		return &Error{Op: "get token", Kind: ErrUnavailable, Err: cause}
	}
	// A 2xx answer the oauth2 package could not read.
	return &Error{Op: "get token", Kind: ErrInvalidResponse, Err: errors.New("unreadable token response")}
}
