package devidp

import (
	"log/slog"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequest is the provider's record of one /authorize request. It
// implements op.AuthRequest. The storage only ever hands out copies, so the op
// package can read one without holding the storage lock.
type authRequest struct {
	ID            string
	CreatedAt     time.Time
	ClientID      string
	RedirectURI   string
	State         string
	Nonce         string
	Scopes        []string
	ResponseType  oidc.ResponseType
	ResponseMode  oidc.ResponseMode
	CodeChallenge *oidc.CodeChallenge
	// MaxAge is the request's max_age in seconds, nil when absent. The op
	// package sets it to 0 for prompt=login (Core 3.1.2.1).
	MaxAge *uint
	// PromptNone is true for prompt=none: sign in silently or fail.
	PromptNone bool
	// LoginHint is the request's login_hint, used only to fill in the
	// username field.
	LoginHint string

	// Set when the user has signed in on the login page.
	UserID    string
	SessionID string
	AuthTime  time.Time
	done      bool

	// Set when an authorization code was issued for this request.
	CodeIssuedAt time.Time
}

var _ op.AuthRequest = (*authRequest)(nil)

// clone returns a deep enough copy of a for handing out of the storage.
func (a *authRequest) clone() *authRequest {
	c := *a
	c.Scopes = slices.Clone(a.Scopes)
	if a.CodeChallenge != nil {
		cc := *a.CodeChallenge
		c.CodeChallenge = &cc
	}
	if a.MaxAge != nil {
		m := *a.MaxAge
		c.MaxAge = &m
	}
	return &c
}

// allowsAuthTime reports whether an authentication at authTime is recent
// enough for the request at now: a request with max_age=N needs one at most
// N seconds old (max_age=0, as prompt=login sets it, needs a new one).
func (a *authRequest) allowsAuthTime(authTime, now time.Time) bool {
	if a.MaxAge == nil {
		return true
	}
	return now.Sub(authTime) <= time.Duration(*a.MaxAge)*time.Second && *a.MaxAge > 0
}

// LogValue keeps nonces, state and code challenges out of logs.
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("client_id", a.ClientID),
		slog.String("redirect_uri", a.RedirectURI),
		slog.Any("scopes", a.Scopes),
		slog.String("response_type", string(a.ResponseType)),
	)
}

func (a *authRequest) GetID() string       { return a.ID }
func (a *authRequest) GetACR() string      { return "" }
func (a *authRequest) GetClientID() string { return a.ClientID }
func (a *authRequest) GetNonce() string    { return a.Nonce }
func (a *authRequest) GetState() string    { return a.State }
func (a *authRequest) GetSubject() string  { return a.UserID }
func (a *authRequest) Done() bool          { return a.done }

func (a *authRequest) GetAMR() []string {
	if a.done {
		return []string{"pwd"}
	}
	return nil
}

func (a *authRequest) GetAudience() []string                 { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.AuthTime }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.CodeChallenge }
func (a *authRequest) GetRedirectURI() string                { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                   { return a.Scopes }

// accessToken is an issued (opaque) access token.
type accessToken struct {
	ID             string
	ClientID       string
	Subject        string
	SessionID      string
	RefreshTokenID string
	Audience       []string
	Scopes         []string
	Expiration     time.Time
}

// refreshToken is an issued refresh token. The token value is its ID.
type refreshToken struct {
	ID            string
	ClientID      string
	Subject       string
	SessionID     string
	AuthTime      time.Time
	AMR           []string
	Audience      []string
	Scopes        []string
	Expiration    time.Time
	AccessTokenID string
}

// refreshTokenRequest implements op.RefreshTokenRequest on a copy of a stored
// refresh token, so narrowing its scopes does not change the stored token.
type refreshTokenRequest struct {
	refreshToken
}

var _ op.RefreshTokenRequest = (*refreshTokenRequest)(nil)

func (r *refreshTokenRequest) GetAMR() []string                 { return r.AMR }
func (r *refreshTokenRequest) GetAudience() []string            { return r.Audience }
func (r *refreshTokenRequest) GetAuthTime() time.Time           { return r.AuthTime }
func (r *refreshTokenRequest) GetClientID() string              { return r.ClientID }
func (r *refreshTokenRequest) GetScopes() []string              { return r.Scopes }
func (r *refreshTokenRequest) GetSubject() string               { return r.Subject }
func (r *refreshTokenRequest) SetCurrentScopes(scopes []string) { r.Scopes = scopes }

// client is the single registered relying party. It implements op.Client.
type client struct {
	id                     string
	secret                 string
	redirectURIs           []string
	postLogoutRedirectURIs []string
	idTokenLifetime        time.Duration
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.id }
func (c *client) RedirectURIs() []string           { return slices.Clone(c.redirectURIs) }
func (c *client) PostLogoutRedirectURIs() []string { return slices.Clone(c.postLogoutRedirectURIs) }
func (c *client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}

// AuthMethod is client_secret_basic; client_secret_post is accepted too
// because the provider is configured with AuthMethodPost.
func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c *client) LoginURL(id string) string            { return loginURL(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTokenLifetime }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
