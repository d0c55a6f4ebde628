package management

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The kinds of failure. Every error a Client returns is an *Error whose
// Kind is one of these, so errors.Is(err, ErrRateLimited) and the like tell
// the handlers which message to show.
var (
	// ErrRateLimited: the provider answered 429. Error.RetryAfter says how
	// long to wait when the provider said so. The client never retries.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the provider could not be reached, did not answer in
	// time, or answered 5xx.
	ErrUnavailable = errors.New("unavailable")
	// ErrTokenRefused: the provider refused the client-credentials grant
	// (wrong credentials, the API not granted to the client, a wrong
	// audience) or refused the access token it issued.
	ErrTokenRefused = errors.New("access token refused")
	// ErrForbidden: the token lacks a scope the call needs (403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest: the provider refused the request itself (400 and other
	// 4xx), for example a field the user's connection does not allow to
	// change. Error.API keeps what the provider said.
	ErrBadRequest = errors.New("request refused")
	// ErrNotFound: no such user (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidResponse: the provider answered something the client cannot
	// use: not JSON, too large, or about another user than asked.
	ErrInvalidResponse = errors.New("invalid response")
)

// Error is a failed call. Its message never contains a token or secret.
type Error struct {
	// Op is the call: "get user", "update user", "send verification email",
	// "change password", or "get token" for the client-credentials grant.
	Op string
	// Kind is one of the Err* values of this package.
	Kind error
	// StatusCode is the provider's HTTP status, 0 without an answer.
	StatusCode int
	// RetryAfter is, for ErrRateLimited, how long the provider asked to wait
	// (Retry-After or X-RateLimit-Reset), 0 when it did not say.
	RetryAfter time.Duration
	// API is the provider's error body, nil when it sent none.
	API *APIError
	// Err is the underlying cause (a network error, a timeout), or nil.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("management: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (%d)", e.StatusCode)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.API != nil {
		if s := e.API.String(); s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// APIError is what the provider said about a failure. The Management API
// answers {statusCode, error, message, errorCode}; the Authentication API
// answers {error, error_description} or {name, code, description}, which
// are read into the same fields.
type APIError struct {
	StatusCode int `json:"statusCode"`
	// Error is the short error name ("Bad Request", "access_denied").
	Error string `json:"error"`
	// Message is the human-readable explanation.
	Message string `json:"message"`
	// ErrorCode is Auth0's machine-readable code ("insufficient_scope",
	// "invalid_body", "operation_not_supported"), empty when absent.
	ErrorCode string `json:"errorCode"`
}

// String is the error in one line.
func (a *APIError) String() string {
	parts := make([]string, 0, 3)
	for _, s := range []string{a.ErrorCode, a.Error, a.Message} {
		if s != "" && !containsFold(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// maxMessageRunes bounds the provider's text kept in an error.
const maxMessageRunes = 300

// parseAPIError reads an error body in any of the provider's shapes. It
// returns nil when body holds none of them.
func parseAPIError(status int, body []byte) *APIError {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if v, ok := raw[k]; ok && json.Unmarshal(v, &s) == nil && s != "" {
				return clean(s)
			}
		}
		return ""
	}
	a := &APIError{
		StatusCode: status,
		Error:      str("error", "name"),
		Message:    str("message", "error_description", "description"),
		ErrorCode:  str("errorCode", "code"),
	}
	if a.Error == "" && a.Message == "" && a.ErrorCode == "" {
		return nil
	}
	return a
}

// clean keeps the provider's text printable and short.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxMessageRunes {
		s = string(r[:maxMessageRunes]) + "…"
	}
	return strings.TrimSpace(s)
}

// maxRetryAfter caps the wait a provider can ask for, so that a broken
// header never tells a user to come back next year.
const maxRetryAfter = time.Hour

// retryAfter reads how long to wait from a 429 answer: Retry-After in
// seconds or as an HTTP date (RFC 9110 10.2.3), else Auth0's
// X-RateLimit-Reset in unix seconds. Zero means the answer did not say.
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			d = time.Duration(min(max(secs, 0), int64(maxRetryAfter/time.Second))) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	} else if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if unix, err := strconv.ParseInt(v, 10, 64); err == nil {
			d = time.Unix(min(max(unix, 0), now.Add(maxRetryAfter).Unix()), 0).Sub(now)
		}
	}
	if d <= 0 {
		return 0
	}
	// Whole seconds, rounded up: "retry after 0.3s" helps nobody.
	return min((d + time.Second - 1).Truncate(time.Second), maxRetryAfter)
}
