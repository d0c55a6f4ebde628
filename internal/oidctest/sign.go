package oidctest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
)

// SignFunc turns an ID token's (or any JWT's) claims into a compact JWT.
type SignFunc func(p *Provider, payload []byte) (string, error)

// SignRS256 signs with the provider's signing key and names it in kid: what
// a provider should do.
func SignRS256(p *Provider, payload []byte) (string, error) {
	return signWith(p.SigningKey(), true, payload)
}

// SignNoKid signs with the provider's signing key but leaves kid out of the
// header.
func SignNoKid(p *Provider, payload []byte) (string, error) {
	return signWith(p.SigningKey(), false, payload)
}

// SignNoKidWithKey signs without kid with the i-th key of the JWKS.
func SignNoKidWithKey(i int) SignFunc {
	return func(p *Provider, payload []byte) (string, error) {
		return signWith(p.Keys()[i], false, payload)
	}
}

// SignWithKey signs with k (with its kid), whether or not the JWKS holds it.
func SignWithKey(k *Key, withKid bool) SignFunc {
	return func(p *Provider, payload []byte) (string, error) {
		return signWith(k, withKid, payload)
	}
}

// SignForeignKid signs with a key that is not in the JWKS but claims the
// signing key's kid: a forged RS256 signature.
func SignForeignKid(p *Provider, payload []byte) (string, error) {
	k := p.ForeignKey()
	k.ID = p.SigningKey().ID
	return signWith(k, true, payload)
}

// SignUnknownKid signs with a key that is not in the JWKS under a kid the
// provider never published, as a flood of forged tokens would.
func SignUnknownKid(p *Provider, payload []byte) (string, error) {
	return signWith(p.ForeignKey(), true, payload)
}

// SignCorrupted signs properly, then flips one bit of the signature.
func SignCorrupted(p *Provider, payload []byte) (string, error) {
	tok, err := SignRS256(p, payload)
	if err != nil {
		return "", err
	}
	b := []byte(tok)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b), nil
}

// SignNone returns an unsigned token with alg "none".
func SignNone(p *Provider, payload []byte) (string, error) {
	return compact(map[string]any{"alg": "none", "typ": "JWT"}, payload, nil), nil
}

// SignHS256 MACs the token with secret under HS256.
func SignHS256(secret []byte) SignFunc {
	return func(p *Provider, payload []byte) (string, error) {
		return hs256(map[string]any{"alg": "HS256", "typ": "JWT"}, payload, secret), nil
	}
}

// SignHS256WithClientSecret MACs with the client secret, which a provider
// may do only when the client registered HS256: this one did not.
func SignHS256WithClientSecret(p *Provider, payload []byte) (string, error) {
	return SignHS256([]byte(p.ClientSecret))(p, payload)
}

// SignHS256WithPublicKey is the algorithm confusion attack: HS256 keyed with
// the provider's public RSA key (PEM, as a library that takes "the key" would
// read it), under the real kid.
func SignHS256WithPublicKey(p *Provider, payload []byte) (string, error) {
	k := p.SigningKey()
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		return "", err
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return hs256(map[string]any{"alg": "HS256", "typ": "JWT", "kid": k.ID}, payload, secret), nil
}

// SignRaw ignores the claims and returns raw as the token.
func SignRaw(raw string) SignFunc {
	return func(*Provider, []byte) (string, error) { return raw, nil }
}

func signWith(k *Key, withKid bool, payload []byte) (string, error) {
	key := jose.SigningKey{Algorithm: jose.RS256, Key: k.Private}
	if withKid {
		key.Key = jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: string(jose.RS256)}
	}
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func hs256(header map[string]any, payload, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	unsigned := compact(header, payload, nil)
	mac.Write([]byte(unsigned[:len(unsigned)-1]))
	return unsigned + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// compact joins header, payload and signature; with a nil signature the
// result ends in ".".
func compact(header map[string]any, payload, sig []byte) string {
	h, _ := json.Marshal(header)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(payload) + "." + enc(sig)
}

// contextUntil is the request's context, also ended when gone closes.
func contextUntil(r *http.Request, gone <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx
}
