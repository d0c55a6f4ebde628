package management_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/loginapp/login/internal/management"
)

const (
	m2mClientID = "m2m-client"
	// The secret and the tokens carry a marker that no error or log line
	// may contain.
	m2mSecret   = "m2m-secret-NEVER-SHOWN"
	tokenMarker = "TOKEN-NEVER-SHOWN"
	appClientID = "app-client"
	socialID    = "google-oauth2|104683254367890123456"
)

// tenant is a fake Auth0 tenant on a real HTTP server: the token endpoint,
// the users and jobs endpoints and change_password. It records every
// request; hooks replace its answers.
type tenant struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// expiresIn is the tokens' expires_in; 0 means 3600.
	expiresIn int
	// tokenDelay delays each token answer.
	tokenDelay time.Duration
	// token answers the token request instead of the tenant.
	token http.HandlerFunc
	// api answers every other request instead of the tenant, after it was
	// recorded.
	api      http.HandlerFunc
	issued   []string
	tokenReq []recorded
	apiReq   []recorded
	users    map[string]map[string]any
}

// recorded is one request as the tenant received it.
type recorded struct {
	method, path, query, auth string
	form                      url.Values
	body                      []byte
}

func newTenant(t *testing.T) *tenant {
	t.Helper()
	tn := &tenant{t: t, users: map[string]map[string]any{
		socialID: {
			"user_id": socialID, "email": "sam@example.com", "email_verified": true,
			"name": "Sam Sample", "nickname": "sam", "picture": "https://example.com/sam.png",
			"user_metadata": map[string]any{"locale": "en-GB", "theme": "dark"},
			"identities": []any{map[string]any{
				"provider": "google-oauth2", "connection": "google-oauth2", "user_id": "104683254367890123456", "isSocial": true,
			}},
			"updated_at": "2026-01-02T03:04:05.000Z",
		},
		"auth0|alice": {
			"user_id": "auth0|alice", "email": "alice@example.com", "email_verified": false, "name": "Alice",
			"identities": []any{map[string]any{"provider": "auth0", "connection": "Username-Password-Authentication", "user_id": "alice", "isSocial": false}},
		},
	}}
	tn.srv = httptest.NewServer(http.HandlerFunc(tn.serve))
	t.Cleanup(tn.srv.Close)
	return tn
}

func (tn *tenant) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, auth: r.Header.Get("Authorization"), body: body}
	if r.URL.Path == "/oauth/token" {
		rec.form, _ = url.ParseQuery(string(body))
		tn.mu.Lock()
		tn.tokenReq = append(tn.tokenReq, rec)
		hook, delay, life := tn.token, tn.tokenDelay, tn.expiresIn
		tn.mu.Unlock()
		time.Sleep(delay)
		if hook != nil {
			hook(w, r)
			return
		}
		if life == 0 {
			life = 3600
		}
		tn.mu.Lock()
		tok := fmt.Sprintf("at-%d-%s", len(tn.issued)+1, tokenMarker)
		tn.issued = append(tn.issued, tok)
		tn.mu.Unlock()
		writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": life, "scope": "read:users update:users"})
		return
	}
	tn.mu.Lock()
	tn.apiReq = append(tn.apiReq, rec)
	hook := tn.api
	tn.mu.Unlock()
	if hook != nil {
		hook(w, r)
		return
	}
	if r.URL.Path == "/dbconnections/change_password" {
		w.Write([]byte(`"We've just sent you an email to reset your password."`))
		return
	}
	tn.mu.Lock()
	ok := false
	for _, tok := range tn.issued {
		ok = ok || rec.auth == "Bearer "+tok
	}
	tn.mu.Unlock()
	if !ok {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"})
		return
	}
	switch id, isUser := strings.CutPrefix(r.URL.Path, "/api/v2/users/"); {
	case isUser && (r.Method == http.MethodGet || r.Method == http.MethodPatch):
		tn.mu.Lock()
		defer tn.mu.Unlock()
		u, found := tn.users[id]
		if !found {
			writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "inexistent_user"})
			return
		}
		if r.Method == http.MethodPatch {
			var patch map[string]any
			if err := json.Unmarshal(body, &patch); err != nil {
				writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "Invalid JSON"})
				return
			}
			for k, v := range patch {
				if k != "user_metadata" {
					u[k] = v
					continue
				}
				meta, _ := u["user_metadata"].(map[string]any)
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
		}
		writeJSON(w, 200, u)
	case r.URL.Path == "/api/v2/jobs/verification-email" && r.Method == http.MethodPost:
		writeJSON(w, 201, map[string]any{"type": "verification_email", "status": "pending", "created_at": "2026-01-02T03:04:05.000Z", "id": "job_1"})
	default:
		writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found"})
	}
}

func (tn *tenant) set(f func(tn *tenant)) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	f(tn)
}

func (tn *tenant) counts() (token, api int) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return len(tn.tokenReq), len(tn.apiReq)
}

func (tn *tenant) lastAPI() recorded {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if len(tn.apiReq) == 0 {
		tn.t.Fatal("no API request")
	}
	return tn.apiReq[len(tn.apiReq)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// newClient returns a client of tn, with cfg's non-zero fields.
func newClient(t *testing.T, tn *tenant, mutate func(*management.Config)) *management.Client {
	t.Helper()
	cfg := management.Config{BaseURL: tn.srv.URL, ClientID: m2mClientID, ClientSecret: m2mSecret, AppClientID: appClientID, Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := management.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// noSecrets fails when s shows the client secret or a token.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, m2mSecret) || strings.Contains(s, tokenMarker) {
		t.Errorf("%s shows a secret or token: %s", what, s)
	}
}

func TestUser(t *testing.T) {
	tn := newTenant(t)
	c := newClient(t, tn, nil)
	u, err := c.User(t.Context(), socialID)
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	got := tn.lastAPI()
	if want := "/api/v2/users/google-oauth2%7C104683254367890123456"; got.path != want {
		t.Errorf("path = %q, want %q (the id path-escaped)", got.path, want)
	}
	if !strings.HasPrefix(got.auth, "Bearer at-1-") {
		t.Errorf("Authorization = %q, want the bearer token", got.auth)
	}
	if q, _ := url.ParseQuery(got.query); !strings.Contains(q.Get("fields"), "user_metadata") || q.Get("include_fields") != "true" {
		t.Errorf("query = %q, want fields with include_fields=true", got.query)
	}
	want := management.User{
		ID: socialID, Email: "sam@example.com", EmailVerified: true, Name: "Sam Sample", Nickname: "sam",
		Picture: "https://example.com/sam.png", UserMetadata: management.Metadata{Locale: "en-GB"},
		Identities: []management.Identity{{Provider: "google-oauth2", Connection: "google-oauth2", IsSocial: true}},
		UpdatedAt:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if fmt.Sprint(*u) != fmt.Sprint(want) {
		t.Errorf("User = %+v\nwant   %+v", *u, want)
	}
	if u.CanChangePassword() {
		t.Error("a social user CanChangePassword")
	}
	alice, err := c.User(t.Context(), "auth0|alice")
	if err != nil {
		t.Fatal(err)
	}
	if !alice.CanChangePassword() || alice.Primary().Connection != "Username-Password-Authentication" {
		t.Errorf("database user: CanChangePassword %v, connection %q", alice.CanChangePassword(), alice.Primary().Connection)
	}
}

func TestUpdateUserSendsOnlyChanges(t *testing.T) {
	tn := newTenant(t)
	c := newClient(t, tn, nil)
	cur, err := c.User(t.Context(), socialID)
	if err != nil {
		t.Fatal(err)
	}
	p := cur.Profile()
	p.Nickname = "sammy"
	p.Timezone = "Europe/Paris"
	p.Locale = ""
	up := cur.Changes(p)
	got, err := c.UpdateUser(t.Context(), socialID, up)
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	req := tn.lastAPI()
	if req.method != http.MethodPatch {
		t.Errorf("method %s, want PATCH", req.method)
	}
	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := `{"nickname":"sammy","user_metadata":{"locale":null,"timezone":"Europe/Paris"}}`
	if b, _ := json.Marshal(body); string(b) != wantBody {
		t.Errorf("PATCH body = %s, want %s", b, wantBody)
	}
	if got.Nickname != "sammy" || got.Name != "Sam Sample" || got.UserMetadata != (management.Metadata{Timezone: "Europe/Paris"}) {
		t.Errorf("updated user = %+v", got)
	}
	if _, err := c.UpdateUser(t.Context(), socialID, management.UserUpdate{}); !errors.Is(err, management.ErrBadRequest) {
		t.Errorf("empty update: %v, want ErrBadRequest without a request", err)
	}
}

func TestChanges(t *testing.T) {
	u := management.User{Name: "A", Nickname: "a", Picture: "https://p", UserMetadata: management.Metadata{Locale: "en", Timezone: "UTC"}}
	tests := []struct {
		name string
		p    management.Profile
		want string
	}{
		{"nothing", u.Profile(), `{}`},
		{"name", management.Profile{Name: "B", Nickname: "a", Picture: "https://p", Locale: "en", Timezone: "UTC"}, `{"name":"B"}`},
		{"metadata only", management.Profile{Name: "A", Nickname: "a", Picture: "https://p", Locale: "fr", Timezone: "UTC"}, `{"user_metadata":{"locale":"fr"}}`},
		{"clear timezone", management.Profile{Name: "A", Nickname: "a", Picture: "https://p", Locale: "en"}, `{"user_metadata":{"timezone":null}}`},
		{"all", management.Profile{Name: "B", Nickname: "b", Picture: "https://q", Locale: "fr", Timezone: "CET"}, `{"name":"B","nickname":"b","picture":"https://q","user_metadata":{"locale":"fr","timezone":"CET"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := u.Changes(tt.p)
			b, err := json.Marshal(up)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Changes = %s, want %s", b, tt.want)
			}
			if up.IsZero() != (tt.want == `{}`) {
				t.Errorf("IsZero = %v for %s", up.IsZero(), b)
			}
		})
	}
}

func TestMetadataOfOtherTypesIsIgnored(t *testing.T) {
	var u management.User
	if err := json.Unmarshal([]byte(`{"user_id":"x","user_metadata":{"locale":42,"timezone":"UTC","x":{"y":1}}}`), &u); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if u.UserMetadata != (management.Metadata{Timezone: "UTC"}) {
		t.Errorf("metadata = %+v, want only the timezone", u.UserMetadata)
	}
}

func TestSendVerificationEmail(t *testing.T) {
	tn := newTenant(t)
	c := newClient(t, tn, nil)
	job, err := c.SendVerificationEmail(t.Context(), "auth0|alice")
	if err != nil {
		t.Fatalf("SendVerificationEmail: %v", err)
	}
	req := tn.lastAPI()
	if req.method != http.MethodPost || req.path != "/api/v2/jobs/verification-email" || string(req.body) != `{"user_id":"auth0|alice"}` {
		t.Errorf("request %s %s %s", req.method, req.path, req.body)
	}
	if job.ID != "job_1" || job.Type != "verification_email" || job.Status != "pending" {
		t.Errorf("job = %+v", job)
	}
}

func TestChangePassword(t *testing.T) {
	tn := newTenant(t)
	c := newClient(t, tn, nil)
	if err := c.ChangePassword(t.Context(), "alice@example.com", "Username-Password-Authentication"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	req := tn.lastAPI()
	if req.auth != "" {
		t.Errorf("change_password sent Authorization %q, want none (the Authentication API takes the client id)", req.auth)
	}
	want := `{"client_id":"app-client","connection":"Username-Password-Authentication","email":"alice@example.com"}`
	if req.method != http.MethodPost || req.path != "/dbconnections/change_password" || string(req.body) != want {
		t.Errorf("request %s %s %s, want POST /dbconnections/change_password %s", req.method, req.path, req.body, want)
	}
	if tok, _ := tn.counts(); tok != 0 {
		t.Errorf("%d token requests for change_password, want 0", tok)
	}

	tn.set(func(tn *tenant) {
		tn.api = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]any{"name": "BadRequestError", "code": "invalid_connection", "description": "The connection google-oauth2 is not a database connection", "statusCode": 400})
		}
	})
	err := c.ChangePassword(t.Context(), "sam@example.com", "google-oauth2")
	var e *management.Error
	if !errors.As(err, &e) || !errors.Is(err, management.ErrBadRequest) || e.API == nil || e.API.ErrorCode != "invalid_connection" || !strings.Contains(e.API.Message, "not a database connection") {
		t.Errorf("refused change_password: %v, want ErrBadRequest with the provider's code and description", err)
	}
}

// TestErrors: every hostile answer of the API maps to its kind, keeps what
// the provider said, is never retried (but a 401 once, with a new token),
// and never shows the secret or a token.
func TestErrors(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name         string
		api          http.HandlerFunc
		id           string
		wantKind     error
		wantStatus   int
		wantRetry    time.Duration // checked to within a second
		wantAPI      *management.APIError
		wantRequests int
		wantTokens   int
	}{
		{
			name:     "429 Retry-After seconds",
			api:      status(429, map[string]string{"Retry-After": "7"}, `{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}`),
			wantKind: management.ErrRateLimited, wantStatus: 429, wantRetry: 7 * time.Second,
			wantAPI:      &management.APIError{StatusCode: 429, Error: "Too Many Requests", Message: "Global limit has been reached", ErrorCode: "too_many_requests"},
			wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "429 Retry-After date",
			api:      status(429, map[string]string{"Retry-After": now.Add(30 * time.Second).UTC().Format(http.TimeFormat)}, ``),
			wantKind: management.ErrRateLimited, wantStatus: 429, wantRetry: 30 * time.Second, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "429 X-RateLimit-Reset",
			api:      status(429, map[string]string{"X-RateLimit-Reset": fmt.Sprint(now.Add(20 * time.Second).Unix()), "X-RateLimit-Remaining": "0"}, ``),
			wantKind: management.ErrRateLimited, wantStatus: 429, wantRetry: 20 * time.Second, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "429 without a wait",
			api:      status(429, nil, ``),
			wantKind: management.ErrRateLimited, wantStatus: 429, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "429 asking for a year",
			api:      status(429, map[string]string{"Retry-After": "31536000"}, ``),
			wantKind: management.ErrRateLimited, wantStatus: 429, wantRetry: time.Hour, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "500",
			api:      status(500, nil, `{"statusCode":500,"error":"Internal Server Error","message":"oops"}`),
			wantKind: management.ErrUnavailable, wantStatus: 500, wantRequests: 1, wantTokens: 1,
			wantAPI: &management.APIError{StatusCode: 500, Error: "Internal Server Error", Message: "oops"},
		},
		{
			name:     "503 HTML",
			api:      status(503, nil, `<html>down</html>`),
			wantKind: management.ErrUnavailable, wantStatus: 503, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "403 insufficient scope",
			api:      status(403, nil, `{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users","errorCode":"insufficient_scope"}`),
			wantKind: management.ErrForbidden, wantStatus: 403, wantRequests: 1, wantTokens: 1,
			wantAPI: &management.APIError{StatusCode: 403, Error: "Forbidden", Message: "Insufficient scope, expected any of: read:users", ErrorCode: "insufficient_scope"},
		},
		{
			name:     "400 a field the connection does not allow",
			api:      status(400, nil, `{"statusCode":400,"error":"Bad Request","message":"The specified new email already exists","errorCode":"operation_not_supported"}`),
			wantKind: management.ErrBadRequest, wantStatus: 400, wantRequests: 1, wantTokens: 1,
			wantAPI: &management.APIError{StatusCode: 400, Error: "Bad Request", Message: "The specified new email already exists", ErrorCode: "operation_not_supported"},
		},
		{
			name:     "404",
			id:       "auth0|nobody",
			wantKind: management.ErrNotFound, wantStatus: 404, wantRequests: 1, wantTokens: 1,
			wantAPI: &management.APIError{StatusCode: 404, Error: "Not Found", Message: "The user does not exist.", ErrorCode: "inexistent_user"},
		},
		{
			name:     "401 twice: one new token, one retry, then refused",
			api:      status(401, nil, `{"statusCode":401,"error":"Unauthorized","message":"Invalid token"}`),
			wantKind: management.ErrTokenRefused, wantStatus: 401, wantRequests: 2, wantTokens: 2,
			wantAPI: &management.APIError{StatusCode: 401, Error: "Unauthorized", Message: "Invalid token"},
		},
		{
			name:     "another user's answer",
			api:      status(200, nil, `{"user_id":"auth0|mallory","name":"Mallory"}`),
			wantKind: management.ErrInvalidResponse, wantRequests: 1, wantTokens: 1,
		},
		{
			name:     "not JSON",
			api:      status(200, nil, `<html>hello</html>`),
			wantKind: management.ErrInvalidResponse, wantStatus: 200, wantRequests: 1, wantTokens: 1,
		},
		{
			name: "oversized",
			api: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"user_id":"` + socialID + `","name":"`))
				w.Write(bytes.Repeat([]byte("a"), 2<<20))
				w.Write([]byte(`"}`))
			},
			wantKind: management.ErrInvalidResponse, wantStatus: 200, wantRequests: 1, wantTokens: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTenant(t)
			tn.set(func(tn *tenant) { tn.api = tt.api })
			c := newClient(t, tn, nil)
			id := tt.id
			if id == "" {
				id = socialID
			}
			u, err := c.User(t.Context(), id)
			if err == nil {
				t.Fatalf("User = %+v, want an error", u)
			}
			var e *management.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantKind) {
				t.Fatalf("error %v, want kind %v", err, tt.wantKind)
			}
			if e.StatusCode != tt.wantStatus {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, tt.wantStatus)
			}
			if d := e.RetryAfter - tt.wantRetry; d < -time.Second || d > time.Second {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if fmt.Sprint(e.API) != fmt.Sprint(tt.wantAPI) {
				t.Errorf("API = %+v, want %+v", e.API, tt.wantAPI)
			}
			if tok, api := tn.counts(); api != tt.wantRequests || tok != tt.wantTokens {
				t.Errorf("%d API and %d token requests, want %d and %d", api, tok, tt.wantRequests, tt.wantTokens)
			}
			noSecrets(t, "error", err.Error())
		})
	}
}

func status(code int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

// TestSlowAnswerTimesOut: an answer slower than Config.Timeout is
// ErrUnavailable, in about the timeout, both from the API and from the
// token endpoint.
func TestSlowAnswerTimesOut(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	for _, where := range []string{"api", "token"} {
		t.Run(where, func(t *testing.T) {
			tn := newTenant(t)
			tn.set(func(tn *tenant) {
				if where == "api" {
					tn.api = hang
				} else {
					tn.token = hang
				}
			})
			c := newClient(t, tn, func(c *management.Config) { c.Timeout = 300 * time.Millisecond })
			start := time.Now()
			_, err := c.User(t.Context(), socialID)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v, want about the 300ms timeout", took)
			}
			if !errors.Is(err, management.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want ErrUnavailable from a deadline", err)
			}
			noSecrets(t, "error", fmt.Sprint(err))
		})
	}
}

func TestUnreachable(t *testing.T) {
	tn := newTenant(t)
	c := newClient(t, tn, nil)
	tn.srv.Close()
	if _, err := c.User(t.Context(), socialID); !errors.Is(err, management.ErrUnavailable) {
		t.Errorf("closed server: %v, want ErrUnavailable", err)
	}
	if err := c.ChangePassword(t.Context(), "a@example.com", "Username-Password-Authentication"); !errors.Is(err, management.ErrUnavailable) {
		t.Errorf("closed server, change_password: %v, want ErrUnavailable", err)
	}
}

// TestTokenRefused: a token endpoint that says no is ErrTokenRefused (or
// rate limited, or unavailable) with what it said, no API request is made,
// and the next call asks again, once.
func TestTokenRefused(t *testing.T) {
	tests := []struct {
		name      string
		token     http.HandlerFunc
		wantKind  error
		wantCode  string
		wantRetry time.Duration
	}{
		{"wrong secret", status(401, nil, `{"error":"access_denied","error_description":"Unauthorized"}`), management.ErrTokenRefused, "access_denied", 0},
		{"API not granted", status(403, nil, `{"error":"access_denied","error_description":"Client is not authorized to access \"https://t/api/v2/\". You need to create a \"client-grant\" associated to this API."}`), management.ErrTokenRefused, "access_denied", 0},
		{"wrong audience", status(403, nil, `{"error":"access_denied","error_description":"Service not enabled within domain: https://t/api/v3/"}`), management.ErrTokenRefused, "access_denied", 0},
		{"rate limited", status(429, map[string]string{"Retry-After": "9"}, `{"error":"too_many_requests","error_description":"Too Many Requests"}`), management.ErrRateLimited, "too_many_requests", 9 * time.Second},
		{"down", status(502, nil, `bad gateway`), management.ErrUnavailable, "", 0},
		{"200 without a token", status(200, nil, `{"token_type":"Bearer"}`), management.ErrInvalidResponse, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTenant(t)
			tn.set(func(tn *tenant) {
				tn.token = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					tt.token(w, r)
				}
			})
			c := newClient(t, tn, nil)
			_, err := c.User(t.Context(), socialID)
			var e *management.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantKind) || e.Op != "get token" {
				t.Fatalf("error %v, want %v from get token", err, tt.wantKind)
			}
			if tt.wantCode != "" && (e.API == nil || e.API.Error != tt.wantCode) {
				t.Errorf("API = %+v, want error %q", e.API, tt.wantCode)
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if tok, api := tn.counts(); tok != 1 || api != 0 {
				t.Errorf("%d token and %d API requests, want 1 and 0", tok, api)
			}
			noSecrets(t, "error", err.Error())
			_, _ = c.User(t.Context(), socialID)
			if tok, _ := tn.counts(); tok != 2 {
				t.Errorf("after a second call %d token requests, want 2: a failure is not cached", tok)
			}
		})
	}
}

func TestTokenRequest(t *testing.T) {
	tests := []struct {
		name         string
		mutate       func(*management.Config)
		wantAudience string
		wantBasic    bool
	}{
		{"defaults", nil, "/api/v2/", false},
		{"custom audience, basic", func(c *management.Config) {
			c.Audience = "https://canonical.example.auth0.com/api/v2/"
			c.AuthStyle = oauth2.AuthStyleInHeader
		}, "https://canonical.example.auth0.com/api/v2/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTenant(t)
			c := newClient(t, tn, tt.mutate)
			if _, err := c.User(t.Context(), socialID); err != nil {
				t.Fatal(err)
			}
			tn.mu.Lock()
			req := tn.tokenReq[0]
			tn.mu.Unlock()
			want := tt.wantAudience
			if strings.HasPrefix(want, "/") {
				want = tn.srv.URL + want
			}
			if got := req.form.Get("audience"); got != want {
				t.Errorf("audience = %q, want %q", got, want)
			}
			if got := req.form.Get("grant_type"); got != "client_credentials" {
				t.Errorf("grant_type = %q", got)
			}
			if tt.wantBasic {
				if !strings.HasPrefix(req.auth, "Basic ") || req.form.Has("client_secret") {
					t.Errorf("want client_secret_basic: Authorization %q, form has secret %v", req.auth, req.form.Has("client_secret"))
				}
			} else if req.form.Get("client_id") != m2mClientID || req.form.Get("client_secret") != m2mSecret || req.auth != "" {
				t.Errorf("want client_secret_post: client_id %q, Authorization %q", req.form.Get("client_id"), req.auth)
			}
		})
	}
}

// TestTokenSharedUnderConcurrency: many goroutines that need a token at
// once cause one fetch, and all use its token; one that gives up while
// waiting does not fail the others.
func TestTokenSharedUnderConcurrency(t *testing.T) {
	tn := newTenant(t)
	tn.set(func(tn *tenant) { tn.tokenDelay = 200 * time.Millisecond })
	c := newClient(t, tn, nil)

	impatient, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var impatientErr error
	// The impatient caller starts the fetch: the others must not depend on
	// its patience.
	wg.Go(func() { _, impatientErr = c.User(impatient, socialID) })
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if tok, _ := tn.counts(); tok == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no token request")
		}
	}
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.User(t.Context(), socialID) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if !errors.Is(impatientErr, management.ErrUnavailable) {
		t.Errorf("the caller that gave up: %v, want ErrUnavailable", impatientErr)
	}
	tok, api := tn.counts()
	if tok != 1 || api != 20 {
		t.Errorf("%d token and %d API requests, want 1 and 20", tok, api)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for _, r := range tn.apiReq {
		if r.auth != "Bearer "+tn.issued[0] {
			t.Errorf("a request used another token than the one fetched")
		}
	}
}

// TestTokenRefetchedBeforeExpiry: a token is reused while it is fresh and
// replaced shortly before it expires.
func TestTokenRefetchedBeforeExpiry(t *testing.T) {
	tn := newTenant(t)
	tn.set(func(tn *tenant) { tn.expiresIn = 1 })
	c := newClient(t, tn, nil)
	call := func() {
		t.Helper()
		if _, err := c.User(t.Context(), socialID); err != nil {
			t.Fatal(err)
		}
	}
	call()
	call()
	if tok, _ := tn.counts(); tok != 1 {
		t.Fatalf("%d token requests for two calls within the token's life, want 1", tok)
	}
	// A one-second token is replaced a quarter of its life before expiry.
	time.Sleep(800 * time.Millisecond)
	call()
	if tok, _ := tn.counts(); tok != 2 {
		t.Errorf("%d token requests after the token went stale, want 2", tok)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if last := tn.apiReq[len(tn.apiReq)-1].auth; last != "Bearer "+tn.issued[1] {
		t.Error("the last call did not use the new token")
	}
}

// TestLogsShowNoSecrets runs calls that succeed and fail with debug logs
// on and looks for the secret and tokens in them.
func TestLogsShowNoSecrets(t *testing.T) {
	tn := newTenant(t)
	var logs bytes.Buffer
	c := newClient(t, tn, func(c *management.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, _ = c.User(t.Context(), socialID)
	_, _ = c.User(t.Context(), "auth0|nobody")
	_, _ = c.SendVerificationEmail(t.Context(), socialID)
	tn.set(func(tn *tenant) { tn.api = status(401, nil, ``) })
	_, _ = c.User(t.Context(), socialID)
	if logs.Len() == 0 {
		t.Fatal("no debug logs at all")
	}
	noSecrets(t, "logs", logs.String())
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  management.Config
	}{
		{"no base URL", management.Config{ClientID: "c", ClientSecret: "s"}},
		{"relative base URL", management.Config{BaseURL: "tenant.auth0.com", ClientID: "c", ClientSecret: "s"}},
		{"no client id", management.Config{BaseURL: "https://t.auth0.com", ClientSecret: "s"}},
		{"no secret", management.Config{BaseURL: "https://t.auth0.com", ClientID: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := management.New(tt.cfg); err == nil {
				t.Error("New succeeded, want an error")
			} else {
				noSecrets(t, "error", err.Error())
			}
		})
	}
}
