// Package management is a small typed client for the part of Auth0's
// Management API (and one Authentication API call) that lets users edit
// their profile at the provider: read and update a user, send the
// verification email, and send the password-change email. The dev provider
// (internal/devidp) serves the same subset.
//
// The client authenticates with an access token from the
// client-credentials grant, cached and shared by every request until
// shortly before it expires. Every call has a time limit. Every failure is
// an *Error whose Kind (ErrRateLimited, ErrUnavailable, ErrTokenRefused,
// ErrForbidden, ErrBadRequest, ErrNotFound, ErrInvalidResponse) says what
// to tell the user; a rate limit is never retried, its wait is returned.
// Tokens and secrets never appear in errors or logs.
package management

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Defaults for the zero values of Config.
const (
	defaultTimeout = 10 * time.Second
	// maxResponseBytes bounds an answer; an Auth0 user with the largest
	// metadata Auth0 allows is far smaller.
	maxResponseBytes = 1 << 20
)

// userFields are the members GET asks for (fields=...), so that the
// answer carries nothing the app does not use.
const userFields = "user_id,email,email_verified,name,given_name,family_name,nickname,picture,user_metadata,identities,updated_at"

// Config configures a Client.
type Config struct {
	// BaseURL is the tenant's URL, e.g. "https://TENANT.us.auth0.com"
	// (https://AUTH0_DOMAIN), or the dev provider's issuer. Required.
	BaseURL string
	// ClientID and ClientSecret are the machine-to-machine client that
	// the Management API is granted to. Required.
	ClientID, ClientSecret string
	// AppClientID is the app's own client id, which ChangePassword sends so
	// that the email names the app. Empty means ClientID.
	AppClientID string
	// Audience is the Management API's identifier, sent as the grant's
	// audience parameter. Empty means BaseURL + "/api/v2/"; with a custom
	// domain it is still https://CANONICAL-TENANT-DOMAIN/api/v2/.
	Audience string
	// TokenURL is the token endpoint. Empty means BaseURL + "/oauth/token".
	TokenURL string
	// AuthStyle is how the client authenticates at the token endpoint. The
	// zero value means client_secret_post (oauth2.AuthStyleInParams),
	// Auth0's default for new applications; oauth2.AuthStyleInHeader is
	// client_secret_basic. (Auto-detection is not offered: it doubles the
	// requests of a refused grant.)
	AuthStyle oauth2.AuthStyle
	// Timeout bounds every call, the token fetch included. Zero means 10s.
	Timeout time.Duration
	// HTTPClient makes the requests. Nil means a client that follows no
	// redirects, so a bearer token never travels on.
	HTTPClient *http.Client
	// Logger gets a debug line per call (operation, status, duration). Nil
	// means no logs.
	Logger *slog.Logger
}

// Client calls the Management API. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	appClientID string
	timeout     time.Duration
	http        *http.Client
	log         *slog.Logger
	tokens      *tokenCache
	now         func() time.Time
}

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("management: BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("management: ClientID and ClientSecret are required")
	}
	c := &Client{
		base:        base,
		appClientID: cfg.AppClientID,
		timeout:     cfg.Timeout,
		http:        cfg.HTTPClient,
		log:         cfg.Logger,
		now:         time.Now,
	}
	if c.appClientID == "" {
		c.appClientID = cfg.ClientID
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.http == nil {
		c.http = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	audience := cfg.Audience
	if audience == "" {
		audience = base.String() + "/api/v2/"
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = base.String() + "/oauth/token"
	}
	style := cfg.AuthStyle
	if style == oauth2.AuthStyleAutoDetect {
		style = oauth2.AuthStyleInParams
	}
	c.tokens = &tokenCache{
		conf: clientcredentials.Config{
			ClientID:       cfg.ClientID,
			ClientSecret:   cfg.ClientSecret,
			TokenURL:       tokenURL,
			EndpointParams: url.Values{"audience": {audience}},
			AuthStyle:      style,
		},
		now: c.now,
	}
	c.tokens.fetch = func(ctx context.Context) (*oauth2.Token, error) {
		return c.tokens.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	}
	return c, nil
}

// User returns the user id (the ID token's sub, e.g. "auth0|123" or
// "google-oauth2|456"). It needs the read:users scope.
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	const op = "get user"
	if id == "" {
		return nil, &Error{Op: op, Kind: ErrBadRequest, Err: errors.New("no user id")}
	}
	var u User
	q := url.Values{"fields": {userFields}, "include_fields": {"true"}}
	if err := c.api(ctx, op, http.MethodGet, userPath(id), q, nil, &u); err != nil {
		return nil, err
	}
	if u.ID != id {
		return nil, &Error{Op: op, Kind: ErrInvalidResponse, Err: errors.New("the answer is about another user")}
	}
	return &u, nil
}

// UpdateUser changes the user's root attributes and user_metadata as up
// says (Auth0 merges user_metadata) and returns the updated user. It needs
// the update:users scope. An empty update is refused without a request.
func (c *Client) UpdateUser(ctx context.Context, id string, up UserUpdate) (*User, error) {
	const op = "update user"
	if id == "" || up.IsZero() {
		return nil, &Error{Op: op, Kind: ErrBadRequest, Err: errors.New("no user id or nothing to change")}
	}
	var u User
	if err := c.api(ctx, op, http.MethodPatch, userPath(id), nil, up, &u); err != nil {
		return nil, err
	}
	if u.ID != id {
		return nil, &Error{Op: op, Kind: ErrInvalidResponse, Err: errors.New("the answer is about another user")}
	}
	return &u, nil
}

// SendVerificationEmail asks the provider to send the user the email
// address verification email. It needs the update:users scope.
func (c *Client) SendVerificationEmail(ctx context.Context, id string) (*Job, error) {
	const op = "send verification email"
	if id == "" {
		return nil, &Error{Op: op, Kind: ErrBadRequest, Err: errors.New("no user id")}
	}
	var j Job
	if err := c.api(ctx, op, http.MethodPost, "/api/v2/jobs/verification-email", nil, map[string]string{"user_id": id}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// ChangePassword asks the provider to send the password-change email to
// email for the database connection (User.Primary().Connection; see
// User.CanChangePassword). It is the Authentication API's
// /dbconnections/change_password, called with the app's client id and no
// token. Auth0 answers the same whether or not the email has an account.
func (c *Client) ChangePassword(ctx context.Context, email, connection string) error {
	const op = "change password"
	if email == "" || connection == "" {
		return &Error{Op: op, Kind: ErrBadRequest, Err: errors.New("email and connection are required")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body := map[string]string{"client_id": c.appClientID, "email": email, "connection": connection}
	return c.send(ctx, op, http.MethodPost, "/dbconnections/change_password", nil, body, "", nil)
}

// userPath is the user's URL path; Auth0 ids contain "|", and an id is one
// path segment whatever it contains.
func userPath(id string) string {
	return "/api/v2/users/" + url.PathEscape(id)
}

// api calls the Management API with the access token. An answer of 401
// means the cached token went bad (revoked, or a provider restarted with
// new keys): it is dropped and the call made once more with a new one.
func (c *Client) api(ctx context.Context, op, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		token, err := c.tokens.get(ctx, c.timeout)
		if err != nil {
			return err
		}
		err = c.send(ctx, op, method, path, q, in, token, out)
		var e *Error
		if attempt == 0 && errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized {
			c.tokens.drop(token)
			continue
		}
		return err
	}
}

// send makes one request and reads the answer into out (nil: the body is
// not read as JSON).
func (c *Client) send(ctx context.Context, op, method, path string, q url.Values, in any, token string, out any) error {
	// path is already escaped (userPath); Path must hold it unescaped.
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return &Error{Op: op, Kind: ErrBadRequest, Err: fmt.Errorf("build request: %w", err)}
	}
	u := *c.base
	u.Path = c.base.Path + unescaped
	u.RawPath = c.base.EscapedPath() + path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Kind: ErrBadRequest, Err: fmt.Errorf("encode request: %w", err)}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return &Error{Op: op, Kind: ErrBadRequest, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "management: call failed", "op", op, "duration", time.Since(start), "error", err)
		return &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	c.log.DebugContext(ctx, "management: call", "op", op, "status", resp.StatusCode, "duration", time.Since(start))
	if err != nil {
		return &Error{Op: op, Kind: ErrUnavailable, StatusCode: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(op, resp, data)
	}
	if len(data) > maxResponseBytes {
		return &Error{Op: op, Kind: ErrInvalidResponse, StatusCode: resp.StatusCode, Err: fmt.Errorf("answer larger than %d bytes", maxResponseBytes)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Op: op, Kind: ErrInvalidResponse, StatusCode: resp.StatusCode, Err: errors.New("answer is not the expected JSON")}
	}
	return nil
}

// statusError classifies an answer that is not 2xx.
func (c *Client) statusError(op string, resp *http.Response, data []byte) error {
	e := &Error{Op: op, StatusCode: resp.StatusCode}
	if len(data) <= maxResponseBytes {
		e.API = parseAPIError(resp.StatusCode, data)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
		e.RetryAfter = retryAfter(resp.Header, c.now())
	case s >= 500:
		e.Kind = ErrUnavailable
	case s == http.StatusUnauthorized:
		e.Kind = ErrTokenRefused
	case s == http.StatusForbidden:
		e.Kind = ErrForbidden
	case s == http.StatusNotFound:
		e.Kind = ErrNotFound
	case s >= 400:
		e.Kind = ErrBadRequest
	default:
		// 1xx and 3xx: redirects are not followed.
		e.Kind = ErrInvalidResponse
	}
	return e
}
