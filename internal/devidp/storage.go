package devidp

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Lifetimes of the provider's short-lived state.
const (
	authRequestLifetime  = 30 * time.Minute
	authCodeLifetime     = 10 * time.Minute
	refreshTokenLifetime = 24 * time.Hour
)

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// storage implements op.Storage in memory. It is adapted from the storage of
// the zitadel/oidc example server, trimmed to a single confidential client,
// the authorization code and refresh token grants, and password login.
type storage struct {
	client              *client
	dir                 *directory
	signingKey          signingKey
	accessTokenLifetime time.Duration

	// endSession is called after an end_session request terminated the
	// session of sub/sid. It may be nil.
	endSession func(ctx context.Context, sub, sid string)

	// ssoLifetime is how long a single sign-on session lasts; zero means
	// the provider keeps none and every authorization shows the form.
	ssoLifetime time.Duration

	mu            sync.Mutex
	authRequests  map[string]*authRequest
	codes         map[string]string // code -> auth request ID
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
	ssoSessions   map[string]*ssoSession // by the cookie's value
}

// ssoSession is a browser's single sign-on session at the provider: who
// signed in, when they typed their password, and the OP session id (sid)
// that every ID token of the session carries.
type ssoSession struct {
	Subject   string
	SessionID string
	AuthTime  time.Time
	Expires   time.Time
}

func newStorage(c *client, dir *directory, key signingKey, accessTokenLifetime time.Duration) *storage {
	return &storage{
		client:              c,
		dir:                 dir,
		signingKey:          key,
		accessTokenLifetime: accessTokenLifetime,
		authRequests:        make(map[string]*authRequest),
		codes:               make(map[string]string),
		accessTokens:        make(map[string]*accessToken),
		refreshTokens:       make(map[string]*refreshToken),
		ssoSessions:         make(map[string]*ssoSession),
	}
}

// signingKey is the provider's RSA key. It implements op.SigningKey.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the public half of signingKey. It implements op.Key.
type publicKey struct {
	signingKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return &k.key.PublicKey }

// userByUsername returns the user with the given username.
func (s *storage) userByUsername(username string) (User, bool) { return s.dir.byUsername(username) }

// userBySubject returns the user with the given subject.
func (s *storage) userBySubject(sub string) (User, bool) { return s.dir.bySubject(sub) }

// userByEmail returns the user with the given email address.
func (s *storage) userByEmail(email string) (User, bool) { return s.dir.byEmail(email) }

// checkPassword reports whether username and password belong to a user.
func (s *storage) checkPassword(username, password string) (User, bool) {
	return s.dir.checkPassword(username, password)
}

// pendingAuthRequest returns a copy of the auth request id if it is
// waiting for the user to sign in.
func (s *storage) pendingAuthRequest(id string) (*authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok || time.Since(req.CreatedAt) >= authRequestLifetime || !req.CodeIssuedAt.IsZero() {
		return nil, false
	}
	return req.clone(), true
}

// completeLogin marks the auth request id as authenticated for the user
// sub at authTime, in the OP session sid.
func (s *storage) completeLogin(id, sub, sid string, authTime time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok || time.Since(req.CreatedAt) >= authRequestLifetime || !req.CodeIssuedAt.IsZero() {
		return errors.New("auth request not found or expired")
	}
	req.UserID = sub
	req.SessionID = sid
	req.AuthTime = authTime
	req.done = true
	return nil
}

// ssoSession returns the live single sign-on session with the cookie value
// id.
func (s *storage) ssoSession(id string) (ssoSession, bool) {
	if id == "" {
		return ssoSession{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.ssoSessions[id]
	if !ok || time.Now().After(sess.Expires) {
		return ssoSession{}, false
	}
	return *sess, true
}

// saveSSOSession stores sess under the cookie value id, replacing what was
// there.
func (s *storage) saveSSOSession(id string, sess ssoSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ssoSessions[id] = &sess
}

// endSSOSessions deletes the single sign-on session with the cookie value
// id and every one with the OP session id sid (either may be empty).
func (s *storage) endSSOSessions(id, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ssoSessions, id)
	if sid == "" {
		return
	}
	for k, sess := range s.ssoSessions {
		if sess.SessionID == sid {
			delete(s.ssoSessions, k)
		}
	}
}

// purgeLocked drops expired state. s.mu must be held.
func (s *storage) purgeLocked(now time.Time) {
	for id, req := range s.authRequests {
		if now.Sub(req.CreatedAt) >= authRequestLifetime+authCodeLifetime {
			delete(s.authRequests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.authRequests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.accessTokens {
		if now.After(t.Expiration) {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if now.After(t.Expiration) {
			delete(s.refreshTokens, id)
		}
	}
	for id, sess := range s.ssoSessions {
		if now.After(sess.Expires) {
			delete(s.ssoSessions, id)
		}
	}
}

// CreateAuthRequest implements op.Storage. It is called after the
// authorization request was parsed and validated.
func (s *storage) CreateAuthRequest(_ context.Context, authReq *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	promptNone := slices.Contains(authReq.Prompt, oidc.PromptNone)
	if promptNone && s.ssoLifetime <= 0 {
		// Without single sign-on sessions nobody can be signed in silently.
		return nil, oidc.ErrLoginRequired()
	}
	var challenge *oidc.CodeChallenge
	if authReq.CodeChallenge != "" {
		if authReq.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
			return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
		}
		challenge = &oidc.CodeChallenge{
			Challenge: authReq.CodeChallenge,
			Method:    oidc.CodeChallengeMethodS256,
		}
	}
	req := &authRequest{
		ID:            uuid.NewString(),
		CreatedAt:     time.Now(),
		ClientID:      authReq.ClientID,
		RedirectURI:   authReq.RedirectURI,
		State:         authReq.State,
		Nonce:         authReq.Nonce,
		Scopes:        slices.Clone([]string(authReq.Scopes)),
		ResponseType:  authReq.ResponseType,
		ResponseMode:  authReq.ResponseMode,
		CodeChallenge: challenge,
		PromptNone:    promptNone,
		LoginHint:     authReq.LoginHint,
	}
	if authReq.MaxAge != nil {
		// Already 0 when prompt=login (op.ValidateAuthReqPrompt).
		m := *authReq.MaxAge
		req.MaxAge = &m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeLocked(req.CreatedAt)
	s.authRequests[req.ID] = req
	return req.clone(), nil
}

// AuthRequestByID implements op.Storage.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok || time.Since(req.CreatedAt) >= authRequestLifetime {
		return nil, errors.New("auth request not found or expired")
	}
	return req.clone(), nil
}

// AuthRequestByCode implements op.Storage.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errors.New("code invalid or already used")
	}
	req, ok := s.authRequests[id]
	if !ok || !req.done || time.Since(req.CodeIssuedAt) >= authCodeLifetime {
		return nil, errors.New("code invalid or expired")
	}
	return req.clone(), nil
}

// SaveAuthCode implements op.Storage.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return errors.New("auth request not found")
	}
	req.CodeIssuedAt = time.Now()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest implements op.Storage. It is called once tokens were
// issued for the request, which makes its code single-use.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// CreateAccessToken implements op.Storage.
func (s *storage) CreateAccessToken(_ context.Context, request op.TokenRequest) (string, time.Time, error) {
	clientID, sid, _, _ := requestInfo(request)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessTokenLocked(clientID, sid, "", request.GetSubject(), request.GetAudience(), request.GetScopes())
	return t.ID, t.Expiration, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. It issues a new
// refresh token for a code exchange (currentRefreshToken == "") and rotates
// the refresh token on a refresh grant.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, request op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	clientID, sid, authTime, amr := requestInfo(request)
	s.mu.Lock()
	defer s.mu.Unlock()

	newRefreshID := randomID()
	if currentRefreshToken != "" {
		old, ok := s.refreshTokens[currentRefreshToken]
		if !ok || time.Now().After(old.Expiration) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("invalid refresh_token")
		}
		delete(s.refreshTokens, currentRefreshToken)
		delete(s.accessTokens, old.AccessTokenID)
	}
	at := s.newAccessTokenLocked(clientID, sid, newRefreshID, request.GetSubject(), request.GetAudience(), request.GetScopes())
	rt := &refreshToken{
		ID:            newRefreshID,
		ClientID:      clientID,
		Subject:       request.GetSubject(),
		SessionID:     sid,
		AuthTime:      authTime,
		AMR:           amr,
		Audience:      slices.Clone(request.GetAudience()),
		Scopes:        slices.Clone(request.GetScopes()),
		Expiration:    time.Now().Add(refreshTokenLifetime),
		AccessTokenID: at.ID,
	}
	s.refreshTokens[rt.ID] = rt
	return at.ID, rt.ID, at.Expiration, nil
}

func (s *storage) newAccessTokenLocked(clientID, sid, refreshID, sub string, aud, scopes []string) *accessToken {
	t := &accessToken{
		ID:             uuid.NewString(),
		ClientID:       clientID,
		Subject:        sub,
		SessionID:      sid,
		RefreshTokenID: refreshID,
		Audience:       slices.Clone(aud),
		Scopes:         slices.Clone(scopes),
		Expiration:     time.Now().Add(s.accessTokenLifetime),
	}
	s.accessTokens[t.ID] = t
	return t
}

// requestInfo extracts what the storage keeps about a token request.
func requestInfo(req op.TokenRequest) (clientID, sid string, authTime time.Time, amr []string) {
	switch r := req.(type) {
	case *authRequest:
		return r.ClientID, r.SessionID, r.AuthTime, r.GetAMR()
	case *refreshTokenRequest:
		return r.ClientID, r.SessionID, r.AuthTime, slices.Clone(r.AMR)
	}
	return "", "", time.Time{}, nil
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok || time.Now().After(rt.Expiration) {
		return nil, errors.New("invalid refresh_token")
	}
	c := *rt
	c.AMR = slices.Clone(rt.AMR)
	c.Audience = slices.Clone(rt.Audience)
	c.Scopes = slices.Clone(rt.Scopes)
	return &refreshTokenRequest{c}, nil
}

// TerminateSession implements op.Storage. TerminateSessionFromRequest is
// used instead; this is kept for completeness.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.revokeSession(userID, clientID, "")
	return nil
}

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest.
// It revokes the tokens of the session named by the id_token_hint and, when
// configured, notifies the relying party by back-channel logout.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	var sid string
	if req.IDTokenHintClaims != nil {
		sid = req.IDTokenHintClaims.SessionID
		if sid == "" {
			if v, ok := req.IDTokenHintClaims.Claims["sid"].(string); ok {
				sid = v
			}
		}
	}
	if sid != "" {
		s.endSSOSessions("", sid)
	}
	if req.UserID != "" {
		s.revokeSession(req.UserID, req.ClientID, sid)
		if s.endSession != nil {
			s.endSession(ctx, req.UserID, sid)
		}
	}
	return req.RedirectURI, nil
}

// revokeSession deletes the tokens of session sid, or of every session of
// sub at clientID when sid is empty.
func (s *storage) revokeSession(sub, clientID, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	match := func(tSub, tClient, tSID string) bool {
		if sid != "" {
			return tSID == sid
		}
		return tSub == sub && (clientID == "" || tClient == clientID)
	}
	for id, t := range s.accessTokens {
		if match(t.Subject, t.ClientID, t.SessionID) {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if match(t.Subject, t.ClientID, t.SessionID) {
			delete(s.refreshTokens, id)
		}
	}
}

// GetRefreshTokenInfo implements op.Storage.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.Subject, rt.ID, nil
}

// RevokeToken implements op.Storage.
func (s *storage) RevokeToken(_ context.Context, tokenOrTokenID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.accessTokens[tokenOrTokenID]; ok {
		if at.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
		}
		delete(s.accessTokens, at.ID)
		return nil
	}
	rt, ok := s.refreshTokens[tokenOrTokenID]
	if !ok {
		// Unknown tokens count as revoked (RFC 7009, section 2.2).
		return nil
	}
	if rt.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
	}
	delete(s.refreshTokens, rt.ID)
	delete(s.accessTokens, rt.AccessTokenID)
	return nil
}

// SigningKey implements op.Storage.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return &s.signingKey, nil
}

// SignatureAlgorithms implements op.Storage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{&publicKey{s.signingKey}}, nil
}

// GetClientByClientID implements op.Storage.
func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, errors.New("client not found")
	}
	return s.client, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.client.id)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(clientSecret), []byte(s.client.secret)) == 1
	if !idOK || !secretOK {
		return errors.New("invalid client credentials")
	}
	return nil
}

// SetUserinfoFromScopes implements op.Storage. It is deprecated in favour of
// SetUserinfoFromRequest and intentionally empty.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest. It is
// called for every ID token and adds the user's claims and the sid.
func (s *storage) SetUserinfoFromRequest(_ context.Context, userinfo *oidc.UserInfo, request op.IDTokenRequest, scopes []string) error {
	if err := s.setUserinfo(userinfo, request.GetSubject(), scopes); err != nil {
		return err
	}
	var sid string
	switch r := request.(type) {
	case *authRequest:
		sid = r.SessionID
	case *refreshTokenRequest:
		sid = r.SessionID
	}
	if sid != "" {
		userinfo.AppendClaims("sid", sid)
	}
	return nil
}

// SetUserinfoFromToken implements op.Storage. It is called by the userinfo
// endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, userinfo *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	var scopes []string
	if ok {
		scopes = slices.Clone(t.Scopes)
		ok = t.Subject == subject && time.Now().Before(t.Expiration)
	}
	s.mu.Unlock()
	if !ok {
		return errors.New("access token invalid or expired")
	}
	return s.setUserinfo(userinfo, subject, scopes)
}

// SetIntrospectionFromToken implements op.Storage.
func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	var tc accessToken
	if ok {
		tc = *t
	}
	s.mu.Unlock()
	if !ok || tc.Subject != subject || time.Now().After(tc.Expiration) {
		return errors.New("access token invalid or expired")
	}
	if !slices.Contains(tc.Audience, clientID) {
		return errors.New("token is not valid for this client")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, tc.Scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = tc.Scopes
	resp.ClientID = tc.ClientID
	resp.Expiration = oidc.FromTime(tc.Expiration)
	return nil
}

// setUserinfo fills userinfo with the claims of user sub allowed by scopes.
func (s *storage) setUserinfo(userinfo *oidc.UserInfo, sub string, scopes []string) error {
	u, ok := s.userBySubject(sub)
	if !ok {
		return fmt.Errorf("user not found")
	}
	// The subject is always set: the op package copies it into ID tokens.
	userinfo.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			userinfo.Name = u.Name
			userinfo.GivenName = u.GivenName
			userinfo.FamilyName = u.FamilyName
			userinfo.Nickname = u.Nickname
			userinfo.PreferredUsername = u.Username
			userinfo.Picture = u.Picture
			if tag, err := language.Parse(u.Locale); err == nil && u.Locale != "" {
				userinfo.Locale = oidc.NewLocale(tag)
			}
			userinfo.UpdatedAt = oidc.FromTime(s.dir.updatedAt(u.Subject))
		case oidc.ScopeEmail:
			userinfo.Email = u.Email
			userinfo.EmailVerified = oidc.Bool(u.EmailVerified)
			// email_verified is omitempty in oidc.UserInfoEmail; add it
			// as a claim so that false is sent as well.
			userinfo.AppendClaims("email_verified", u.EmailVerified)
		}
	}
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage. The provider has no
// private claims.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.Storage. The JWT profile grant is not
// supported.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("jwt profile is not supported")
}

// ValidateJWTProfileScopes implements op.Storage. The JWT profile grant is
// not supported.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile is not supported")
}

// Health implements op.Storage.
func (s *storage) Health(context.Context) error { return nil }
