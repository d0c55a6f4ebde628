package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// Refreshed is the outcome of a refresh: the new tokens and expiry.
type Refreshed struct {
	IDToken      string
	AccessToken  string
	RefreshToken string
	TokenExpiry  time.Time
}

// ErrRefreshFailed means the refresh token no longer works: the user has to
// log in again.
var ErrRefreshFailed = errors.New("refresh failed")

// refreshPause is how long after a refresh failed on an outage the next
// refreshes fail at once instead of each waiting out the provider's
// timeout: while the provider is down, every page of every user whose
// tokens expired would otherwise hang for OIDC_HTTP_TIMEOUT.
const refreshPause = 3 * time.Second

// Refresh uses the refresh token to get new tokens. A new ID token must keep
// the same iss (checked by the verifier), sub and aud.
//
// Two kinds of failure differ for the caller: ErrRefreshFailed is the
// provider's definitive refusal (invalid_grant or another 4xx: the user must
// log in again), while an error of KindUnavailable is an outage (unreachable,
// timeout, 5xx, 429, keys not fetchable): the refresh token is still good
// and a later request should try again.
func (rp *RP) Refresh(ctx context.Context, refreshToken, sub string) (*Refreshed, error) {
	if until := rp.refreshPausedUntil.Load(); until != 0 && rp.now().UnixNano() < until {
		return nil, unavailable(errors.New("token endpoint failed moments ago; not asked again yet"))
	}
	out, err := rp.refresh(ctx, refreshToken, sub)
	if KindOf(err) == KindUnavailable {
		rp.refreshPausedUntil.Store(rp.now().Add(refreshPause).UnixNano())
	}
	return out, err
}

func (rp *RP) refresh(ctx context.Context, refreshToken, sub string) (*Refreshed, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	tok, err := m.oauth.TokenSource(withEndpoint(ctx, endpointToken), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		if e := exchangeError(err); KindOf(e) == KindUnavailable {
			return nil, e
		}
		return nil, fmt.Errorf("%w: %v", ErrRefreshFailed, scrubURLError(err))
	}
	out := &Refreshed{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenExpiry: tok.Expiry}
	if out.RefreshToken == "" {
		out.RefreshToken = refreshToken
	}
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		// Core 12.2: the same checks as at login (iss, aud, azp, exp, iat,
		// signature, at_hash), and the same sub.
		claims, err := rp.verifyIDToken(ctx, m, rawID, tok.AccessToken, false)
		if err != nil {
			if KindOf(err) == KindUnavailable {
				return nil, err
			}
			return nil, fmt.Errorf("%w: refreshed ID token: %v", ErrRefreshFailed, err)
		}
		if claims.Subject != sub {
			return nil, fmt.Errorf("%w: refreshed ID token has another sub", ErrRefreshFailed)
		}
		out.IDToken = rawID
		out.TokenExpiry = earliest(claims.Expiry, tok.Expiry)
	}
	if out.TokenExpiry.IsZero() {
		out.TokenExpiry = rp.now().Add(time.Hour)
	}
	return out, nil
}
