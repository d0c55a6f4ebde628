package devidp

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// The Management API subset the provider serves, as Auth0 does: the
// client-credentials grant at the token endpoint for a management client,
// GET and PATCH /api/v2/users/{id}, POST /api/v2/jobs/verification-email,
// and the Authentication API's POST /dbconnections/change_password. Answers
// and errors have Auth0's shapes, so that the app's client
// (internal/management) works against both.
const (
	pathUsers             = "/api/v2/users/"
	pathVerificationEmail = "/api/v2/jobs/verification-email"
	pathChangePassword    = "/dbconnections/change_password"

	scopeReadUsers   = "read:users"
	scopeUpdateUsers = "update:users"

	// managementTokenType marks the provider's management access tokens
	// (RFC 9068), so that no other JWT it signs passes for one.
	managementTokenType = "at+jwt"
	// maxMetadataBytes is Auth0's limit on user_metadata.
	maxMetadataBytes = 16 << 10
	// maxAttributeRunes bounds name, nickname and the like.
	maxAttributeRunes = 300
	maxAPIBodyBytes   = 64 << 10
)

// defaultManagementScopes are granted to the management client when
// Config.ManagementScopes is nil.
var defaultManagementScopes = []string{scopeReadUsers, scopeUpdateUsers}

// mgmt serves the Management API subset.
type mgmt struct {
	issuer       string
	audience     string
	clientID     string
	clientSecret string
	appClientID  string
	scopes       []string
	lifetime     time.Duration
	key          signingKey
	dir          *directory
	log          *slog.Logger
}

// apiError is an error answer in Auth0's Management API shape.
type apiError struct {
	status    int
	message   string
	errorCode string
}

func (e *apiError) write(w http.ResponseWriter) {
	body := map[string]any{"statusCode": e.status, "error": http.StatusText(e.status), "message": e.message}
	if e.errorCode != "" {
		body["errorCode"] = e.errorCode
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clientCredentials answers the client-credentials grant as Auth0 does: a
// JWT access token for the management audience with the scopes granted to
// the client (or the requested subset), signed with the provider's key.
// r's form is parsed.
func (m *mgmt) clientCredentials(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both are form-encoded inside the Basic header.
		id, secret = formDecoded(user), formDecoded(pass)
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(m.clientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(m.clientSecret)) == 1
	if !idOK || !secretOK {
		m.log.Info("devidp: client-credentials grant refused: wrong client credentials")
		refuse(http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if aud := r.PostForm.Get("audience"); aud != m.audience {
		m.log.Info("devidp: client-credentials grant refused: unknown audience", "audience", aud)
		refuse(http.StatusForbidden, "access_denied", "Service not enabled within domain: "+aud)
		return
	}
	scopes := m.scopes
	if asked := strings.Fields(r.PostForm.Get("scope")); len(asked) > 0 {
		var missing []string
		for _, s := range asked {
			if !slices.Contains(m.scopes, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			refuse(http.StatusForbidden, "access_denied", "Client has not been granted scopes: "+strings.Join(missing, ", "))
			return
		}
		scopes = asked
	}
	now := time.Now()
	claims := map[string]any{
		"iss":   m.issuer,
		"sub":   m.clientID + "@clients",
		"aud":   m.audience,
		"azp":   m.clientID,
		"iat":   now.Unix(),
		"exp":   now.Add(m.lifetime).Unix(),
		"jti":   uuid.NewString(),
		"scope": strings.Join(scopes, " "),
		"gty":   "client-credentials",
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       &jose.JSONWebKey{Key: m.key.key, KeyID: m.key.id},
	}, (&jose.SignerOptions{}).WithType(managementTokenType))
	if err != nil {
		refuse(http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		refuse(http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	m.log.Info("devidp: management access token issued", "client_id", m.clientID, "scope", claims["scope"])
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int64(m.lifetime / time.Second),
		"scope":        claims["scope"],
	})
}

// formDecoded undoes the form encoding of a Basic credential, keeping the
// raw value when it is not form-encoded.
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// authorize checks the request's bearer token: signed by the provider, a
// management token, for the audience, not expired, with scope.
func (m *mgmt) authorize(r *http.Request, scope string) *apiError {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return &apiError{status: http.StatusUnauthorized, message: "Missing authentication"}
	}
	invalid := &apiError{status: http.StatusUnauthorized, message: "Invalid token"}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return invalid
	}
	if h := tok.Headers[0]; h.KeyID != m.key.id || h.ExtraHeaders[jose.HeaderType] != managementTokenType {
		return invalid
	}
	var std jwt.Claims
	var extra struct {
		Scope string `json:"scope"`
	}
	if err := tok.Claims(&m.key.key.PublicKey, &std, &extra); err != nil {
		return invalid
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: m.issuer, AnyAudience: jwt.Audience{m.audience}, Time: time.Now()}, 0)
	if errors.Is(err, jwt.ErrExpired) {
		return &apiError{status: http.StatusUnauthorized, message: "Expired token"}
	}
	if err != nil || std.Expiry == nil {
		return invalid
	}
	if !slices.Contains(strings.Fields(extra.Scope), scope) {
		return &apiError{status: http.StatusForbidden, message: "Insufficient scope, expected any of: " + scope, errorCode: "insufficient_scope"}
	}
	return nil
}

// users serves GET and PATCH /api/v2/users/{id}.
func (m *mgmt) users(w http.ResponseWriter, r *http.Request) {
	// The id is one path segment, escaped: Auth0 ids contain "|".
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), pathUsers)
	id, err := url.PathUnescape(escaped)
	if err != nil || id == "" || strings.Contains(escaped, "/") {
		(&apiError{status: http.StatusNotFound, message: "Not Found"}).write(w)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if e := m.authorize(r, scopeReadUsers); e != nil {
			e.write(w)
			return
		}
		m.writeUser(w, r, id)
	case http.MethodPatch:
		if e := m.authorize(r, scopeUpdateUsers); e != nil {
			e.write(w)
			return
		}
		if e := m.patchUser(r, id); e != nil {
			e.write(w)
			return
		}
		m.writeUser(w, r, id)
	default:
		w.Header().Set("Allow", "GET, PATCH")
		(&apiError{status: http.StatusMethodNotAllowed, message: "Method Not Allowed"}).write(w)
	}
}

// writeUser answers with the user in Auth0's shape, keeping only the
// members named by fields when include_fields is not false.
func (m *mgmt) writeUser(w http.ResponseWriter, r *http.Request, id string) {
	u, ok := m.dir.auth0JSON(id)
	if !ok {
		(&apiError{status: http.StatusNotFound, message: "The user does not exist.", errorCode: "inexistent_user"}).write(w)
		return
	}
	if fields := r.URL.Query().Get("fields"); fields != "" {
		want := strings.Split(fields, ",")
		include := r.URL.Query().Get("include_fields") != "false"
		for k := range u {
			if slices.Contains(want, k) != include {
				delete(u, k)
			}
		}
	}
	writeJSON(w, http.StatusOK, u)
}

// patchUser applies a PATCH body as Auth0 does for the members the app
// sends (name, nickname, picture, given_name, family_name, user_metadata).
// Members a database or social connection does not let the dev provider
// change are refused like Auth0 refuses them.
func (m *mgmt) patchUser(r *http.Request, id string) *apiError {
	invalid := func(msg string) *apiError {
		return &apiError{status: http.StatusBadRequest, message: "Payload validation error: " + msg, errorCode: "invalid_body"}
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return invalid("'Content-Type must be application/json'.")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBodyBytes+1))
	if err != nil || len(data) > maxAPIBodyBytes {
		return invalid("'Request body too large'.")
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(data, &patch); err != nil || patch == nil {
		return invalid("'Invalid JSON'.")
	}
	cur, ok := m.dir.bySubject(id)
	if !ok {
		return &apiError{status: http.StatusNotFound, message: "The user does not exist.", errorCode: "inexistent_user"}
	}
	strs := map[string]string{}
	var meta map[string]any
	for k, v := range patch {
		switch k {
		case "name", "nickname", "given_name", "family_name", "picture":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return invalid(fmt.Sprintf("'Expected type string' on property %s.", k))
			}
			if n := utf8.RuneCountInString(s); n == 0 || n > maxAttributeRunes {
				return invalid(fmt.Sprintf("'String length must be between 1 and %d characters (%d)' on property %s.", maxAttributeRunes, n, k))
			}
			if k == "picture" {
				if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					return invalid(fmt.Sprintf("'Object didn't pass validation for format url: %s' on property picture.", s))
				}
			}
			strs[k] = s
		case "user_metadata":
			if err := json.Unmarshal(v, &meta); err != nil || meta == nil {
				return invalid("'Expected type object' on property user_metadata.")
			}
		case "email", "email_verified", "phone_number", "phone_verified", "password", "username", "connection", "verify_email", "blocked", "app_metadata":
			if cur.social() {
				return &apiError{status: http.StatusBadRequest, errorCode: "operation_not_supported",
					message: fmt.Sprintf("The %s connection does not allow changing %s.", cur.Connection, k)}
			}
			return &apiError{status: http.StatusBadRequest, errorCode: "operation_not_supported",
				message: fmt.Sprintf("The development provider does not support changing %s.", k)}
		default:
			return invalid(fmt.Sprintf("'Additional properties not allowed: %s'.", k))
		}
	}
	if meta != nil && metadataSize(mergeMetadata(cur.UserMetadata, meta)) > maxMetadataBytes {
		return invalid("'user_metadata is larger than 16 KB'.")
	}
	m.dir.update(id, time.Now(), func(u *User) bool {
		before := cloneUser(*u)
		for k, v := range strs {
			switch k {
			case "name":
				u.Name = v
			case "nickname":
				u.Nickname = v
			case "given_name":
				u.GivenName = v
			case "family_name":
				u.FamilyName = v
			case "picture":
				u.Picture = v
			}
		}
		if meta != nil {
			u.UserMetadata = mergeMetadata(u.UserMetadata, meta)
		}
		return !reflect.DeepEqual(before, *u)
	})
	m.log.Info("devidp: user updated by the Management API", "sub", id)
	return nil
}

// verificationEmail serves POST /api/v2/jobs/verification-email: the
// email lands in the outbox, with a link that marks the address verified.
func (m *mgmt) verificationEmail(w http.ResponseWriter, r *http.Request) {
	if e := m.authorize(r, scopeUpdateUsers); e != nil {
		e.write(w)
		return
	}
	var body struct {
		UserID string `json:"user_id"`
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" ||
		json.NewDecoder(io.LimitReader(r.Body, maxAPIBodyBytes)).Decode(&body) != nil || body.UserID == "" {
		(&apiError{status: http.StatusBadRequest, message: "Payload validation error: 'Missing required property: user_id'.", errorCode: "invalid_body"}).write(w)
		return
	}
	u, ok := m.dir.bySubject(body.UserID)
	if !ok {
		(&apiError{status: http.StatusNotFound, message: "The user does not exist.", errorCode: "inexistent_user"}).write(w)
		return
	}
	now := time.Now()
	m.dir.send(ticketVerifyEmail, u.Subject, u.Email, "Verify your email",
		"Hello "+u.Name+", please verify your email address by opening the link below.",
		m.issuer, pathDevVerifyEmail, now)
	m.log.Info("devidp: verification email put in the outbox", "sub", u.Subject)
	writeJSON(w, http.StatusCreated, map[string]any{
		"type":       "verification_email",
		"status":     "completed",
		"created_at": auth0Time(now),
		"id":         "job_" + randomID()[:16],
	})
}

// changePassword serves POST /dbconnections/change_password as Auth0's
// Authentication API does: for a database connection it sends the email
// (to the outbox) when the address has an account, and answers the same
// when it has none; other connections are refused.
func (m *mgmt) changePassword(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"name": "BadRequestError", "code": code, "description": desc, "statusCode": http.StatusBadRequest})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBodyBytes)
	var body struct {
		ClientID   string `json:"client_id"`
		Email      string `json:"email"`
		Connection string `json:"connection"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			refuse("invalid_request", "Invalid JSON")
			return
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			refuse("invalid_request", "Invalid form")
			return
		}
		body.ClientID, body.Email, body.Connection = r.PostForm.Get("client_id"), r.PostForm.Get("email"), r.PostForm.Get("connection")
	default:
		refuse("invalid_request", "Content-Type must be application/json")
		return
	}
	switch {
	case body.ClientID != "" && body.ClientID != m.appClientID:
		refuse("invalid_client", "Unknown client: "+body.ClientID)
		return
	case body.Email == "":
		refuse("invalid_request", "Missing required parameter: email")
		return
	case body.Connection == "":
		refuse("invalid_request", "Missing required parameter: connection")
		return
	case body.Connection != DatabaseConnection:
		refuse("invalid_connection", "The connection "+body.Connection+" is not a database connection: its users change their password at their identity provider.")
		return
	}
	if u, ok := m.dir.byEmail(body.Email); ok && !u.social() {
		m.dir.send(ticketResetPassword, u.Subject, u.Email, "Reset your password",
			"Hello "+u.Name+", someone asked to change your password. Open the link below to choose a new one, or ignore this email.",
			m.issuer, pathDevResetPassword, time.Now())
		m.log.Info("devidp: password change email put in the outbox", "sub", u.Subject)
	}
	// The same answer either way, so that it tells nobody whether the
	// address has an account.
	writeJSON(w, http.StatusOK, "We've just sent you an email to reset your password.")
}

// notFound answers unknown Management API paths.
func (m *mgmt) notFound(w http.ResponseWriter, _ *http.Request) {
	(&apiError{status: http.StatusNotFound, message: "Not Found"}).write(w)
}
