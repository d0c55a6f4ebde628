package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

func earliest(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

// idClaims are the ID token claims we check beyond go-oidc.
type idClaims struct {
	Subject string
	Nonce   string
	SID     string
	Expiry  time.Time
	// AuthTime is the auth_time claim; zero when the token has none.
	AuthTime time.Time
}

// verifyIDToken checks everything OpenID Connect Core 3.1.3.7 asks of the
// client. go-oidc has already checked signature, alg, iss, aud-contains and
// exp when it returns.
//
// A refreshed ID token (Core 12.2) passes the same checks except that it
// need not carry a nonce (requireNonce false); the caller compares its sub.
func (rp *RP) verifyIDToken(ctx context.Context, m *metadata, raw, accessToken string, requireNonce bool) (*idClaims, error) {
	ctx, keys := watchKeyFailure(ctx)
	idt, err := m.verifier.Verify(ctx, raw)
	if err != nil {
		// Keys we could not fetch say nothing about the token: that is the
		// provider's outage (502), not a forgery.
		if kerr := keys.Err(); kerr != nil {
			return nil, unavailable(fmt.Errorf("fetch signing keys: %w", kerr))
		}
		return nil, invalidf("verify ID token: %v", err)
	}
	var c struct {
		Sub      *string          `json:"sub"`
		Iat      *json.Number     `json:"iat"`
		Azp      *string          `json:"azp"`
		Nonce    *string          `json:"nonce"`
		SID      string           `json:"sid"`
		Aud      *json.RawMessage `json:"aud"`
		AuthTime *json.Number     `json:"auth_time"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, invalidf("ID token claims: %v", err)
	}
	if c.Sub == nil || *c.Sub == "" {
		return nil, invalidf("ID token without sub")
	}
	if c.Iat == nil {
		return nil, invalidf("ID token without iat")
	}
	iat, err := c.Iat.Float64()
	if err != nil {
		return nil, invalidf("ID token iat is not a number")
	}
	if time.Unix(int64(iat), 0).After(rp.now().Add(ClockSkew)) {
		return nil, invalidf("ID token issued in the future")
	}
	// Every audience must be us: an extra audience is a party we do not
	// trust, and with several the azp must name us.
	for _, aud := range idt.Audience {
		if aud != rp.cfg.ClientID {
			return nil, invalidf("ID token has an untrusted extra audience")
		}
	}
	if c.Azp != nil && *c.Azp != rp.cfg.ClientID {
		return nil, invalidf("ID token azp is not this client")
	}
	if len(idt.Audience) > 1 && c.Azp == nil {
		return nil, invalidf("ID token with several audiences has no azp")
	}
	if c.Nonce == nil && requireNonce {
		return nil, invalidf("ID token without nonce")
	}
	if idt.AccessTokenHash != "" && accessToken != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return nil, invalidf("ID token at_hash does not match the access token")
		}
	}
	out := &idClaims{Subject: *c.Sub, SID: c.SID, Expiry: idt.Expiry}
	if c.AuthTime != nil {
		at, err := c.AuthTime.Float64()
		if err != nil || at <= 0 {
			return nil, invalidf("ID token auth_time is not a time")
		}
		out.AuthTime = time.Unix(int64(at), 0)
		if out.AuthTime.After(rp.now().Add(ClockSkew)) {
			return nil, invalidf("ID token auth_time is in the future")
		}
	}
	if c.Nonce != nil {
		out.Nonce = *c.Nonce
	}
	return out, nil
}
