package auth

import (
	"errors"
	"fmt"
)

// Kind classifies a login failure; the handlers map each kind to a status and
// a page.
type Kind int

const (
	// KindInvalid is a bad or forged callback: missing or wrong state,
	// malformed parameters, a token or userinfo that fails a check. 400.
	KindInvalid Kind = iota + 1
	// KindDenied is the provider saying no (error=access_denied and the
	// like). 403.
	KindDenied
	// KindUnavailable is a provider that can not be reached or answers with
	// a server error. 502 during a callback, 503 before a login starts.
	KindUnavailable
)

// Error is a login failure. Msg is safe to show the user; Err is for the log
// only and never holds tokens, codes or secrets.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func invalid(msg string, err error) error { return &Error{Kind: KindInvalid, Msg: msg, Err: err} }

func invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Msg: "The sign-in response did not pass our security checks.", Err: fmt.Errorf(format, args...)}
}

func unavailable(err error) error {
	return &Error{Kind: KindUnavailable, Msg: "The sign-in service can not be reached right now.", Err: err}
}

// KindOf returns the kind of err, or 0 when it is not a login failure.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// ErrNotReady is returned while the provider's metadata has not been loaded.
var ErrNotReady = &Error{Kind: KindUnavailable, Msg: "The sign-in service can not be reached right now."}
