package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// BackchannelLogoutEvent is the events member a logout token must carry.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken is a verified back-channel logout token.
type LogoutToken struct {
	Subject string
	SID     string
	JTI     string
	// Expires is when the token may be forgotten for replay detection.
	Expires time.Time
}

// LogoutTokenMaxAge is how old (by iat) a logout token may be.
const LogoutTokenMaxAge = 10 * time.Minute

// VerifyLogoutToken validates a back-channel logout token as OpenID Connect
// Back-Channel Logout 1.0 section 2.6 asks: signature with the provider's
// keys, iss, aud, iat, exp when present, jti, the events member, sub and/or
// sid, and no nonce (so an ID token can never pass as a logout token).
// Replay of the jti is for the caller to check.
func (rp *RP) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	m, err := rp.metadataFor(ctx)
	if err != nil {
		return nil, err
	}
	v := oidc.NewVerifier(rp.cfg.Issuer, m.keys, &oidc.Config{
		ClientID:             rp.cfg.ClientID,
		SupportedSigningAlgs: m.algs,
		SkipExpiryCheck:      true, // exp is optional in a logout token; checked below
		Now:                  rp.now,
	})
	// Anyone can POST a logout token: its key misses draw on their own
	// refetch budget.
	ctx, keys := watchKeyFailure(withKeySource(ctx, sourceUnsolicited))
	t, err := v.Verify(ctx, raw)
	if err != nil {
		if kerr := keys.Err(); kerr != nil {
			return nil, unavailable(fmt.Errorf("logout token: fetch signing keys: %w", kerr))
		}
		return nil, fmt.Errorf("logout token: %w", err)
	}
	var c struct {
		Sub    string                     `json:"sub"`
		SID    string                     `json:"sid"`
		JTI    string                     `json:"jti"`
		Iat    *float64                   `json:"iat"`
		Exp    *float64                   `json:"exp"`
		Nonce  *json.RawMessage           `json:"nonce"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := t.Claims(&c); err != nil {
		return nil, fmt.Errorf("logout token claims: %w", err)
	}
	now := rp.now()
	for _, aud := range t.Audience {
		if aud != rp.cfg.ClientID {
			return nil, errors.New("logout token has an untrusted extra audience")
		}
	}
	if c.Iat == nil {
		return nil, errors.New("logout token without iat")
	}
	iat := time.Unix(int64(*c.Iat), 0)
	if iat.After(now.Add(ClockSkew)) {
		return nil, errors.New("logout token issued in the future")
	}
	if iat.Before(now.Add(-LogoutTokenMaxAge)) {
		return nil, errors.New("logout token too old")
	}
	expires := iat.Add(LogoutTokenMaxAge + ClockSkew)
	if c.Exp != nil {
		exp := time.Unix(int64(*c.Exp), 0)
		if !exp.After(now) {
			return nil, errors.New("logout token expired")
		}
		if exp.After(expires) {
			expires = exp
		}
	}
	if c.JTI == "" {
		return nil, errors.New("logout token without jti")
	}
	ev, ok := c.Events[BackchannelLogoutEvent]
	if !ok {
		return nil, errors.New("logout token without the back-channel logout event")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev, &obj); err != nil || obj == nil {
		return nil, errors.New("logout token event is not a JSON object")
	}
	if c.Sub == "" && c.SID == "" {
		return nil, errors.New("logout token has neither sub nor sid")
	}
	if c.Nonce != nil {
		return nil, errors.New("logout token must not contain a nonce")
	}
	return &LogoutToken{Subject: c.Sub, SID: c.SID, JTI: c.JTI, Expires: expires}, nil
}

// LogoutURL returns where to send the browser to end the provider's session:
// the end_session_endpoint with id_token_hint and post_logout_redirect_uri,
// Auth0's /v2/logout when there is none, else our own index.
func (rp *RP) LogoutURL(idTokenHint string) string {
	if m := rp.meta.Load(); m != nil && m.endSession != "" {
		u, err := url.Parse(m.endSession)
		if err == nil {
			q := u.Query()
			if idTokenHint != "" {
				q.Set("id_token_hint", idTokenHint)
			}
			q.Set("post_logout_redirect_uri", rp.cfg.PostLogoutURL)
			q.Set("client_id", rp.cfg.ClientID)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	if rp.cfg.Auth0Domain != "" {
		q := url.Values{"client_id": {rp.cfg.ClientID}, "returnTo": {rp.cfg.PostLogoutURL}}
		return "https://" + rp.cfg.Auth0Domain + "/v2/logout?" + q.Encode()
	}
	return "/"
}
