package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
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

// Step is where in a login a failure happened, for the metrics and the
// audit log; the page depends only on the Kind.
type Step int

const (
	// StepToken is the code exchange and the ID token's checks (the zero
	// value: most failures are there).
	StepToken Step = iota
	// StepUserinfo is the userinfo call and its checks.
	StepUserinfo
)

// Error is a login failure. Msg is safe to show the user; Err is for the log
// only and never holds tokens, codes or secrets.
type Error struct {
	Kind Kind
	Step Step
	Msg  string
	Err  error
}

// StepOf returns where err happened in a login (StepToken unless it says
// otherwise).
func StepOf(err error) Step {
	var e *Error
	if errors.As(err, &e) {
		return e.Step
	}
	return StepToken
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

func providerErrorMessage(code string) string {
	switch code {
	case "access_denied":
		return "Sign-in was cancelled or access was denied."
	case "login_required", "consent_required", "interaction_required":
		return "The sign-in service needs you to sign in again."
	default:
		return "The sign-in service could not sign you in."
	}
}

// exchangeError classifies a token endpoint failure: unreachable or 5xx is
// the provider's outage, anything else a bad exchange.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		// A server error, or being told to slow down, is the provider's
		// trouble: nothing about the code or refresh token was decided.
		if status >= 500 || status == http.StatusTooManyRequests || re.ErrorCode == "temporarily_unavailable" {
			return unavailable(fmt.Errorf("token endpoint answered %d %s", status, re.ErrorCode))
		}
		return invalid("The sign-in service refused to complete the sign-in.", fmt.Errorf("token endpoint answered %d %s", status, re.ErrorCode))
	}
	if isNetworkError(err) {
		return unavailable(fmt.Errorf("token endpoint: %w", scrubURLError(err)))
	}
	return invalid("The sign-in service sent an unusable answer.", fmt.Errorf("token response: %v", err))
}

func isNetworkError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

// scrubURLError drops the URL from a *url.Error (it could carry a query with
// secrets) and keeps the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
