package oidctest

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Auth0 Management API subset the app uses, and the Authentication
// API's change_password. Their paths are Auth0's own, fixed ones (a client
// cannot discover them), so they are the usual ones here too. The
// client-credentials grant is answered at MgmtTokenPath and at the
// discovered token endpoint, which are the same URL at Auth0.
const (
	MgmtTokenPath             = "/oauth/token"
	MgmtUsersPath             = "/api/v2/users/"
	MgmtVerificationEmailPath = "/api/v2/jobs/verification-email"
	ChangePasswordPath        = "/dbconnections/change_password"
	// DatabaseConnection is the connection change_password accepts.
	DatabaseConnection = "Username-Password-Authentication"
)

// MgmtScenario is how the Management API misbehaves, set with
// SetMgmtScenario for the requests from then on. The zero value is a
// well-behaved API.
type MgmtScenario struct {
	// Token answers the client-credentials grant in place of the provider,
	// after the request was recorded (a refusal, a rate limit, garbage):
	// see RefuseToken, RateLimited, ServerError.
	Token http.HandlerFunc
	// TokenDelay delays the token answer (a slow answer; it ends early when
	// the client gives up or the provider closes).
	TokenDelay time.Duration
	// API answers the users and jobs endpoints in place of the provider,
	// after the bearer token was checked and the request recorded.
	API http.HandlerFunc
	// ChangePassword answers change_password in place of the provider,
	// after the request was checked and recorded.
	ChangePassword http.HandlerFunc
	// Delay delays the users, jobs and change_password answers, as Slow
	// would, before the provider (or API/ChangePassword) answers.
	Delay time.Duration
	// User edits every user object the API answers with, e.g. AnswerFor.
	User func(user map[string]any)
}

// MgmtTokenRequest is a client-credentials grant as the provider received
// it. Form has no client_secret.
type MgmtTokenRequest struct {
	Form url.Values
	// AuthMethod is client_secret_basic, client_secret_post or none.
	AuthMethod   string
	ClientAuthOK bool
	Audience     string
	// Error is what the provider answered ("" on success, "scenario" when
	// the scenario answered).
	Error string
}

// MgmtRequest is a Management API or change_password request as the
// provider received it.
type MgmtRequest struct {
	Method string
	// Path is the path as sent, escaped: /api/v2/users/google-oauth2%7C1.
	Path string
	// UserID is the user id of a users path, unescaped.
	UserID      string
	Query       url.Values
	ContentType string
	// Body is the JSON body, nil when there was none or it was not JSON.
	Body map[string]any
	// Authorization is the request's Authorization header. change_password
	// should have none: it takes the client id, never a token.
	Authorization string
	// BearerOK is true when it was a live management token of this
	// provider.
	BearerOK bool
}

// mgmtToken is an issued management access token.
type mgmtToken struct {
	scopes  []string
	expires time.Time
}

// mgmtClient returns the management client's credentials.
func (p *Provider) mgmtClient() (id, secret string) {
	if p.cfg.MgmtClientID != "" {
		return p.cfg.MgmtClientID, p.cfg.MgmtClientSecret
	}
	return p.ClientID, p.ClientSecret
}

// MgmtAudience is the audience the client-credentials grant requires.
func (p *Provider) MgmtAudience() string {
	if p.cfg.MgmtAudience != "" {
		return p.cfg.MgmtAudience
	}
	return p.Issuer + "/api/v2/"
}

func (p *Provider) mgmtScopes() []string {
	if p.cfg.MgmtScopes != nil {
		return p.cfg.MgmtScopes
	}
	return []string{"read:users", "update:users"}
}

// SetMgmtScenario sets how the Management API behaves from now on.
func (p *Provider) SetMgmtScenario(s MgmtScenario) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mgmtScenario = s
}

// MgmtTokenRequests returns the client-credentials grants received so far.
func (p *Provider) MgmtTokenRequests() []MgmtTokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.mgmtTokenReqs)
}

// MgmtRequests returns the Management API and change_password requests
// received so far.
func (p *Provider) MgmtRequests() []MgmtRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.mgmtReqs)
}

// SetMgmtUser adds or replaces a user of the Management API, in Auth0's
// shape (see Auth0User); it needs a user_id.
func (p *Provider) SetMgmtUser(user map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, _ := user["user_id"].(string)
	p.mgmtUsers[id] = cloneJSON(user)
}

// MgmtUser returns the user as it is now (after PATCHes), nil when there
// is none.
func (p *Provider) MgmtUser(id string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.mgmtUsers[id]; ok {
		return cloneJSON(u)
	}
	return nil
}

// Auth0User turns a user's claims (as User and Alice make them) into the
// Management API's user object, with one identity of connection: a
// database user for DatabaseConnection (or ""), a social one otherwise.
func Auth0User(claims map[string]any, connection string) map[string]any {
	u := map[string]any{"user_metadata": map[string]any{}, "updated_at": "2026-01-01T00:00:00.000Z"}
	for k, v := range claims {
		switch k {
		case "sub":
			u["user_id"] = v
		case "name", "given_name", "family_name", "nickname", "picture", "email", "email_verified":
			u[k] = v
		}
	}
	if connection == "" {
		connection = DatabaseConnection
	}
	provider, social := "auth0", connection != DatabaseConnection
	if social {
		provider = connection
	}
	sub, _ := claims["sub"].(string)
	_, idPart, _ := strings.Cut(sub, "|")
	u["identities"] = []any{map[string]any{"provider": provider, "connection": connection, "user_id": idPart, "isSocial": social}}
	return u
}

// RefuseToken is a token endpoint that says no, as Auth0 does to a wrong
// secret (401 access_denied) or a client the API is not granted to (403
// access_denied).
func RefuseToken(status int, code, description string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, oauthError(code, description))
	}
}

// RateLimited answers 429 with Retry-After: retryAfter (seconds, or an HTTP
// date), as Auth0's rate limits do.
func RateLimited(retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusTooManyRequests, auth0Error(http.StatusTooManyRequests, "Global limit has been reached", "too_many_requests"))
	}
}

// RateLimitedUntil answers 429 with Auth0's X-RateLimit-* headers and no
// Retry-After: the limit resets at reset.
func RateLimitedUntil(reset time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Limit", "10")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", formatUnix(reset))
		writeJSON(w, http.StatusTooManyRequests, auth0Error(http.StatusTooManyRequests, "Global limit has been reached", "too_many_requests"))
	}
}

// ServerError answers status (5xx) with Auth0's error body.
func ServerError(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, auth0Error(status, "Something went wrong", ""))
	}
}

// Hang answers nothing until the client gives up or the provider closes.
func Hang(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// AnswerFor makes every user answer claim to be about id, as a provider
// mixing up its answers would.
func AnswerFor(id string) func(user map[string]any) {
	return func(user map[string]any) { user["user_id"] = id }
}

func formatUnix(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10)
}

// auth0Error is the Management API's error body.
func auth0Error(status int, message, code string) map[string]any {
	e := map[string]any{"statusCode": status, "error": http.StatusText(status), "message": message}
	if code != "" {
		e["errorCode"] = code
	}
	return e
}

// wait sleeps d, or less when the client gives up or the provider closes.
func (p *Provider) wait(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-p.gone:
	}
}

// clientCredentials answers the client-credentials grant: the management
// client's credentials (client_secret_basic or client_secret_post), the
// audience, scopes within the granted ones. r's form is parsed.
func (p *Provider) clientCredentials(w http.ResponseWriter, r *http.Request) {
	form := url.Values{}
	for k, v := range r.PostForm {
		if k != "client_secret" {
			form[k] = slices.Clone(v)
		}
	}
	rec := MgmtTokenRequest{Form: form, AuthMethod: "none", Audience: r.PostForm.Get("audience")}
	wantID, wantSecret := p.mgmtClient()
	var id, secret string
	if user, pass, ok := r.BasicAuth(); ok {
		rec.AuthMethod = "client_secret_basic"
		id, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
	} else if r.PostForm.Has("client_secret") {
		rec.AuthMethod = "client_secret_post"
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	rec.ClientAuthOK = id == wantID && subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret)) == 1
	p.mu.Lock()
	s := p.mgmtScenario
	p.mu.Unlock()
	record := func(outcome string) {
		rec.Error = outcome
		p.mu.Lock()
		p.mgmtTokenReqs = append(p.mgmtTokenReqs, rec)
		p.mu.Unlock()
	}
	r = r.WithContext(contextUntil(r, p.gone))
	p.wait(r, s.TokenDelay)
	if s.Token != nil {
		record("scenario")
		s.Token(w, r)
		return
	}
	fail := func(status int, code, desc string) {
		record(code)
		writeJSON(w, status, oauthError(code, desc))
	}
	if !rec.ClientAuthOK {
		fail(http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if rec.Audience != p.MgmtAudience() {
		fail(http.StatusForbidden, "access_denied", "Service not enabled within domain: "+rec.Audience)
		return
	}
	scopes := p.mgmtScopes()
	if asked := strings.Fields(r.PostForm.Get("scope")); len(asked) > 0 {
		for _, sc := range asked {
			if !slices.Contains(scopes, sc) {
				fail(http.StatusForbidden, "access_denied", "Client has not been granted scopes: "+sc)
				return
			}
		}
		scopes = asked
	}
	life := p.cfg.MgmtTokenLifetime
	if life <= 0 {
		life = 5 * time.Minute
	}
	token := randomString(32)
	p.mu.Lock()
	p.mgmtTokens[token] = mgmtToken{scopes: slices.Clone(scopes), expires: time.Now().Add(life)}
	p.mu.Unlock()
	record("")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   max(int64(life/time.Second), 1),
		"scope":        strings.Join(scopes, " "),
	})
}

// mgmtAPI serves GET and PATCH users and the verification-email job, for a
// live management token with the scope each needs.
func (p *Provider) mgmtAPI(w http.ResponseWriter, r *http.Request) {
	rec := MgmtRequest{
		Method:        r.Method,
		Path:          r.URL.EscapedPath(),
		UserID:        r.PathValue("id"),
		Query:         r.URL.Query(),
		ContentType:   r.Header.Get("Content-Type"),
		Authorization: r.Header.Get("Authorization"),
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	_ = json.Unmarshal(data, &rec.Body)
	token, isBearer := strings.CutPrefix(rec.Authorization, "Bearer ")
	p.mu.Lock()
	t, known := p.mgmtTokens[token]
	rec.BearerOK = isBearer && known && time.Now().Before(t.expires)
	p.mgmtReqs = append(p.mgmtReqs, rec)
	s := p.mgmtScenario
	p.mu.Unlock()
	r = r.WithContext(contextUntil(r, p.gone))
	if !rec.BearerOK {
		writeJSON(w, http.StatusUnauthorized, auth0Error(http.StatusUnauthorized, "Invalid token", ""))
		return
	}
	p.wait(r, s.Delay)
	if s.API != nil {
		s.API(w, r)
		return
	}
	need := "update:users"
	if r.Method == http.MethodGet {
		need = "read:users"
	}
	if !slices.Contains(t.scopes, need) {
		writeJSON(w, http.StatusForbidden, auth0Error(http.StatusForbidden, "Insufficient scope, expected any of: "+need, "insufficient_scope"))
		return
	}
	if rec.UserID == "" {
		p.verificationJob(w, rec)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.mgmtUsers[rec.UserID]
	if !ok {
		writeJSON(w, http.StatusNotFound, auth0Error(http.StatusNotFound, "The user does not exist.", "inexistent_user"))
		return
	}
	if r.Method == http.MethodPatch {
		if msg := patchUser(u, rec); msg != "" {
			writeJSON(w, http.StatusBadRequest, auth0Error(http.StatusBadRequest, "Payload validation error: "+msg, "invalid_body"))
			return
		}
	}
	answer := cloneJSON(u)
	if s.User != nil {
		s.User(answer)
	}
	writeJSON(w, http.StatusOK, answer)
}

// patchUser applies a PATCH to u as Auth0 does for the members the app
// may send, or says what is wrong with it.
func patchUser(u map[string]any, rec MgmtRequest) string {
	if ct, _, _ := mime.ParseMediaType(rec.ContentType); ct != "application/json" || rec.Body == nil {
		return "'the body must be a JSON object (application/json)'"
	}
	for k, v := range rec.Body {
		switch k {
		case "name", "nickname", "given_name", "family_name", "picture":
			if s, ok := v.(string); !ok || s == "" {
				return "'Expected a non-empty string' on property " + k
			}
		case "user_metadata":
			if _, ok := v.(map[string]any); !ok {
				return "'Expected type object' on property user_metadata"
			}
		default:
			return "'Additional properties not allowed: " + k + "'"
		}
	}
	for k, v := range rec.Body {
		if k != "user_metadata" {
			u[k] = v
			continue
		}
		meta, _ := u["user_metadata"].(map[string]any)
		meta = maps.Clone(meta)
		if meta == nil {
			meta = map[string]any{}
		}
		for mk, mv := range v.(map[string]any) {
			if mv == nil {
				delete(meta, mk)
			} else {
				meta[mk] = mv
			}
		}
		u["user_metadata"] = meta
	}
	u["updated_at"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	return ""
}

// verificationJob answers POST /api/v2/jobs/verification-email.
func (p *Provider) verificationJob(w http.ResponseWriter, rec MgmtRequest) {
	id, _ := rec.Body["user_id"].(string)
	p.mu.Lock()
	_, ok := p.mgmtUsers[id]
	p.mu.Unlock()
	switch {
	case id == "":
		writeJSON(w, http.StatusBadRequest, auth0Error(http.StatusBadRequest, "Payload validation error: 'Missing required property: user_id'", "invalid_body"))
	case !ok:
		writeJSON(w, http.StatusNotFound, auth0Error(http.StatusNotFound, "The user does not exist.", "inexistent_user"))
	default:
		writeJSON(w, http.StatusCreated, map[string]any{
			"type": "verification_email", "status": "pending", "id": "job_" + randomString(8),
			"created_at": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		})
	}
}

// changePassword answers the Authentication API's change_password: the
// app's client id, an email, and a database connection.
func (p *Provider) changePassword(w http.ResponseWriter, r *http.Request) {
	rec := MgmtRequest{
		Method:        r.Method,
		Path:          r.URL.EscapedPath(),
		Query:         r.URL.Query(),
		ContentType:   r.Header.Get("Content-Type"),
		Authorization: r.Header.Get("Authorization"),
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	_ = json.Unmarshal(data, &rec.Body)
	p.mu.Lock()
	p.mgmtReqs = append(p.mgmtReqs, rec)
	s := p.mgmtScenario
	p.mu.Unlock()
	r = r.WithContext(contextUntil(r, p.gone))
	p.wait(r, s.Delay)
	if s.ChangePassword != nil {
		s.ChangePassword(w, r)
		return
	}
	refuse := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"name": "BadRequestError", "code": code, "description": desc, "statusCode": 400})
	}
	str := func(k string) string { v, _ := rec.Body[k].(string); return v }
	switch ct, _, _ := mime.ParseMediaType(rec.ContentType); {
	case ct != "application/json" || rec.Body == nil:
		refuse("invalid_request", "the body must be a JSON object")
	case str("client_id") != p.ClientID:
		refuse("invalid_client", "client_id must be the application's")
	case str("email") == "":
		refuse("invalid_request", "Missing required parameter: email")
	case str("connection") != DatabaseConnection:
		refuse("invalid_connection", "The connection "+str("connection")+" is not a database connection")
	default:
		writeJSON(w, http.StatusOK, "We've just sent you an email to reset your password.")
	}
}

// cloneJSON deep-copies a decoded JSON object.
func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}

// mgmtTokenEndpoint serves MgmtTokenPath: only the client-credentials
// grant.
func (p *Provider) mgmtTokenEndpoint(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "body is not a form"))
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, oauthError("unsupported_grant_type", "only client_credentials here"))
		return
	}
	p.clientCredentials(w, r)
}
