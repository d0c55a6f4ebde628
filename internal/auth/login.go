package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Attempt is one login attempt: the secrets that bind the provider's answer
// to the browser that started it. It lives in a short-lived encrypted cookie.
type Attempt struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r,omitempty"`
	Created  time.Time `json:"t"`
	// StepUp is set when the attempt re-authenticates a signed-in user for
	// a sensitive action.
	StepUp *StepUp `json:"u,omitempty"`
}

// StepUp is what a re-authentication must prove: that the same user
// authenticated within MaxAge (OpenID Connect Core 3.1.2.1 max_age).
type StepUp struct {
	// Subject is the signed-in user's sub; the answer must be theirs.
	Subject string `json:"s"`
	// MaxAge is in whole seconds, as max_age is sent.
	MaxAge int64 `json:"m"`
	// ForceLogin also sends prompt=login, for a provider that answered a
	// max_age with an older authentication.
	ForceLogin bool `json:"f,omitempty"`
	// LoginHint, sent as login_hint, lets the provider offer the right
	// account; it is not kept in the attempt cookie.
	LoginHint string `json:"-"`
}

// NewAttempt returns an attempt with fresh random state, nonce and PKCE
// verifier.
func (rp *RP) NewAttempt(returnTo string) Attempt {
	return Attempt{
		State:    random32(),
		Nonce:    random32(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Created:  rp.now(),
	}
}

// NewStepUpAttempt returns an attempt that re-authenticates sub: the
// provider is asked for an authentication no older than maxAge, and the
// answer must be sub's.
func (rp *RP) NewStepUpAttempt(returnTo, sub, loginHint string, maxAge time.Duration, forceLogin bool) Attempt {
	a := rp.NewAttempt(returnTo)
	a.StepUp = &StepUp{Subject: sub, MaxAge: max(int64(maxAge/time.Second), 0), ForceLogin: forceLogin, LoginHint: loginHint}
	return a
}

// AuthCodeURL returns the provider's authorization URL for the attempt.
func (rp *RP) AuthCodeURL(ctx context.Context, a Attempt) (string, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)}
	if su := a.StepUp; su != nil {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(su.MaxAge, 10)))
		if su.ForceLogin {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
		}
		if su.LoginHint != "" {
			// The provider may fill its form with the right account.
			opts = append(opts, oauth2.SetAuthURLParam("login_hint", su.LoginHint))
		}
	}
	return m.oauth.AuthCodeURL(a.State, opts...), nil
}

// ErrStaleAuthentication means a re-authentication came back with an
// auth_time older than the max_age asked for: the provider reused an older
// sign-in (perhaps it ignores max_age). Asking again with prompt=login is
// the remedy.
var ErrStaleAuthentication = errors.New("the provider's authentication is older than max_age")

// ErrOtherUser means a re-authentication came back for another user than
// the one signed in: the session must not change hands.
var ErrOtherUser = errors.New("re-authentication by another user")

// checkStepUp applies Core 3.1.3.7 step 13 to a re-authentication: with
// max_age sent, auth_time is required and no older than asked; and the
// user must be the one being stepped up.
func (rp *RP) checkStepUp(su *StepUp, c *idClaims) error {
	if c.AuthTime.IsZero() {
		return &Error{Kind: KindInvalid, Msg: "The sign-in service did not say when you signed in, so we could not confirm it was you.", Err: errors.New("max_age was sent but the ID token has no auth_time")}
	}
	if subtle.ConstantTimeCompare([]byte(c.Subject), []byte(su.Subject)) != 1 {
		return &Error{Kind: KindDenied, Msg: "You confirmed with a different account than the one signed in here, so nothing was changed.", Err: ErrOtherUser}
	}
	if age := rp.now().Sub(c.AuthTime); age > time.Duration(su.MaxAge)*time.Second+ClockSkew {
		return &Error{Kind: KindInvalid, Msg: "The sign-in service did not ask you to sign in again.", Err: fmt.Errorf("%w: auth_time %v ago, max_age %ds", ErrStaleAuthentication, age.Round(time.Second), su.MaxAge)}
	}
	return nil
}

// Callback is the authorization response as the browser brought it back.
type Callback struct {
	Code, State, Iss            string
	Error, ErrorDescription     string
	hasIss, hasCode, hasErrorID bool
}

// ParseCallback reads the authorization response from the query. Any
// parameter that appears more than once makes the response invalid: a
// duplicated state or code is an attack or a bug, never a login.
func ParseCallback(q url.Values) (Callback, error) {
	var c Callback
	for _, k := range []string{"code", "state", "iss", "error", "error_description"} {
		if len(q[k]) > 1 {
			return c, invalid("The sign-in response was malformed.", fmt.Errorf("parameter %s repeated", k))
		}
	}
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok {
			return "", false
		}
		return v[0], true
	}
	c.Code, c.hasCode = get("code")
	c.State, _ = get("state")
	c.Iss, c.hasIss = get("iss")
	c.Error, c.hasErrorID = get("error")
	c.ErrorDescription, _ = get("error_description")
	for _, v := range []string{c.Code, c.State, c.Iss, c.Error, c.ErrorDescription} {
		if len(v) > 4096 || !validParam(v) {
			return c, invalid("The sign-in response was malformed.", errors.New("oversized or invalid parameter"))
		}
	}
	return c, nil
}

// validParam reports whether v is printable ASCII: the only characters state,
// code, iss and error values (RFC 6749 appendix A) may hold, with space and
// the rest of the visible range allowed for error_description.
func validParam(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// Login is a verified login: who the user is and the tokens to keep.
type Login struct {
	Subject      string
	SID          string
	UserInfo     json.RawMessage
	IDToken      string
	AccessToken  string
	RefreshToken string
	TokenExpiry  time.Time
	// AuthTime is when the user authenticated at the provider (auth_time),
	// zero when the provider did not say.
	AuthTime time.Time
}

// Finish completes the login: it checks the callback against the attempt,
// exchanges the code (with the PKCE verifier), verifies the ID token
// completely, then fetches userinfo once and checks its sub.
func (rp *RP) Finish(ctx context.Context, a Attempt, c Callback) (*Login, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return nil, err
	}
	// RFC 9207: a provider that says it sends iss must send the right one;
	// an iss that is present is checked whatever the provider advertises.
	if m.issParam && !c.hasIss {
		return nil, invalidf("authorization response without iss, which the provider advertises")
	}
	if c.hasIss && c.Iss != rp.cfg.Issuer {
		return nil, invalidf("authorization response iss does not match the issuer (mix-up?)")
	}
	if c.hasErrorID {
		return nil, &Error{Kind: KindDenied, Msg: providerErrorMessage(c.Error), Err: fmt.Errorf("provider returned error %q", c.Error)}
	}
	if !c.hasCode || c.Code == "" {
		return nil, invalid("The sign-in response was malformed.", errors.New("callback without code"))
	}

	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	tok, err := m.oauth.Exchange(withEndpoint(ctx, endpointToken), c.Code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return nil, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, invalidf("token response without id_token")
	}
	claims, err := rp.verifyIDToken(ctx, m, rawID, tok.AccessToken, true)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(a.Nonce)) != 1 {
		return nil, invalidf("ID token nonce does not match this login attempt")
	}
	if a.StepUp != nil {
		if err := rp.checkStepUp(a.StepUp, claims); err != nil {
			return nil, err
		}
	}
	info, err := rp.userInfo(ctx, m, tok.AccessToken, claims.Subject)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Step = StepUserinfo
		}
		return nil, err
	}
	return &Login{
		Subject:      claims.Subject,
		SID:          claims.SID,
		UserInfo:     info,
		IDToken:      rawID,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenExpiry:  earliest(claims.Expiry, tok.Expiry),
		AuthTime:     claims.AuthTime,
	}, nil
}
