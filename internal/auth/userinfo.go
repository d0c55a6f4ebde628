package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// userInfo fetches the userinfo once, with the access token in the
// Authorization header, reads at most maxBody bytes of it, and refuses it
// unless it is application/json (or untyped), a JSON object no larger than
// maxBody, and its sub is the ID token's.
func (rp *RP) userInfo(ctx context.Context, m *metadata, accessToken, sub string) (json.RawMessage, error) {
	endpoint := m.provider.UserInfoEndpoint()
	if endpoint == "" {
		return nil, invalidf("provider has no userinfo endpoint")
	}
	req, err := http.NewRequestWithContext(withEndpoint(ctx, endpointUserinfo), http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, invalidf("userinfo request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, unavailable(fmt.Errorf("userinfo: %w", scrubURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, unavailable(fmt.Errorf("read userinfo: %w", err))
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, unavailable(fmt.Errorf("userinfo answered %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, invalidf("userinfo answered %s", resp.Status)
	case len(body) > maxBody:
		return nil, invalidf("userinfo response larger than %d bytes", maxBody)
	}
	// Core 5.3.2: plain JSON claims are application/json; a signed or
	// encrypted answer (application/jwt) or an HTML page is not claims. A
	// header that is present must parse; a missing one is tolerated (see
	// docs/SECURITY.md).
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, invalidf("userinfo content type %q is not application/json", mt)
		}
	}
	// A JSON object, nothing else: not an array, a string, a number or null.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, invalidf("userinfo is not a JSON object")
	}
	var got string
	if raw, ok := obj["sub"]; !ok || json.Unmarshal(raw, &got) != nil || subtle.ConstantTimeCompare([]byte(got), []byte(sub)) != 1 {
		return nil, invalidf("userinfo sub does not match the ID token sub")
	}
	return json.RawMessage(body), nil
}
