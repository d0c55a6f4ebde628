package devidp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/loginapp/login/internal/devidp"
	"github.com/loginapp/login/internal/management"
)

const samSub = "google-oauth2|104683254367890123456"

// mgmtClient is the app's Management API client for srv, with the app's
// own client as the management client (the provider's default).
func mgmtClient(t *testing.T, srv *devidp.Server) *management.Client {
	t.Helper()
	c, err := management.New(management.Config{BaseURL: srv.Issuer(), ClientID: clientID, ClientSecret: clientSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loginClaims signs username in through the form and returns the new ID
// token's claims and the userinfo.
func loginClaims(t *testing.T, srv *devidp.Server, username, password string) (idClaims, map[string]any) {
	t.Helper()
	d := getDiscovery(t, srv)
	verifier, challenge := pkce(t)
	code := signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, username, password)
	claims, tr := exchange(t, srv, d, code, verifier)
	status, info := getUserinfo(t, d, tr.AccessToken)
	if status != http.StatusOK {
		t.Fatalf("userinfo: status %d", status)
	}
	return claims, info
}

// grant asks srv's token endpoint for a management token.
func grant(t *testing.T, srv *devidp.Server, id, secret string, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	form = cloneValues(form)
	form.Set("grant_type", "client_credentials")
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, getDiscovery(t, srv).TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return doJSON(t, req)
}

// mgmtToken returns a management access token of the app's client.
func mgmtToken(t *testing.T, srv *devidp.Server) string {
	t.Helper()
	status, body := grant(t, srv, clientID, clientSecret, url.Values{"audience": {srv.ManagementAudience()}}, false)
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client-credentials grant: status %d, error %v", status, body["error"])
	}
	return tok
}

// callAPI makes a Management API request with token (none when empty).
func callAPI(t *testing.T, method, target, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func userURL(srv *devidp.Server, id string) string {
	return srv.Issuer() + "/api/v2/users/" + url.PathEscape(id)
}

// lastEmail returns the newest email in the outbox, to want.
func lastEmail(t *testing.T, srv *devidp.Server, to string) devidp.Email {
	t.Helper()
	box := srv.Outbox()
	if len(box) == 0 || box[0].To != to {
		t.Fatalf("outbox %+v, want a newest email to %s", box, to)
	}
	if !strings.HasPrefix(box[0].Link, srv.Issuer()+"/") {
		t.Fatalf("email link %q is not the provider's", box[0].Link)
	}
	return box[0]
}

func get(t *testing.T, target string) page {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

// TestManagementProfileShowsAtNextLogin: a profile change through the
// Management API (with the app's client) shows in the next login's ID token
// and userinfo; user_metadata is merged and stays out of the tokens.
func TestManagementProfileShowsAtNextLogin(t *testing.T) {
	srv := startOP(t, nil)
	c := mgmtClient(t, srv)
	before, _ := loginClaims(t, srv, "alice", "alice-password")

	u, err := c.User(t.Context(), "devidp|alice")
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if id := u.Primary(); id != (management.Identity{Provider: "auth0", Connection: devidp.DatabaseConnection}) || !u.CanChangePassword() {
		t.Errorf("alice's primary identity = %+v, want a database user", id)
	}
	if u.Name != "Alice Liddell" || u.Email != "alice@example.com" || !u.EmailVerified || u.UserMetadata != (management.Metadata{Locale: "en-GB", Timezone: "Europe/London"}) {
		t.Errorf("alice = %+v", u)
	}

	p := u.Profile()
	p.Name, p.Nickname, p.Picture, p.Locale, p.Timezone = "Alice P. Liddell", "ally", "https://pictures.example/alice.png", "fr-FR", ""
	time.Sleep(1100 * time.Millisecond) // so that updated_at moves
	updated, err := c.UpdateUser(t.Context(), u.ID, u.Changes(p))
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if updated.Profile() != p {
		t.Errorf("updated profile = %+v, want %+v", updated.Profile(), p)
	}
	if again, _ := c.User(t.Context(), u.ID); again.Profile() != p {
		t.Errorf("profile read back = %+v, want %+v", again.Profile(), p)
	}

	claims, info := loginClaims(t, srv, "alice", "alice-password")
	if claims.Name != p.Name || claims.Nickname != p.Nickname || claims.Picture != p.Picture {
		t.Errorf("ID token name, nickname, picture = %q, %q, %q; want %q, %q, %q", claims.Name, claims.Nickname, claims.Picture, p.Name, p.Nickname, p.Picture)
	}
	if info["name"] != p.Name || info["picture"] != p.Picture {
		t.Errorf("userinfo name, picture = %v, %v", info["name"], info["picture"])
	}
	if updatedAt, _ := info["updated_at"].(float64); int64(updatedAt) <= before.AuthTime-1 {
		t.Errorf("updated_at = %v, want it after the change", info["updated_at"])
	}
	if _, ok := info["user_metadata"]; ok {
		t.Error("userinfo carries user_metadata")
	}
	if got := userByName(t, srv, "alice"); got.Name != p.Name {
		t.Errorf("Users() alice.Name = %q, want the changed %q", got.Name, p.Name)
	}
}

// TestVerificationEmail: the job puts an email in the outbox whose link
// verifies the address once; the next login says email_verified true.
func TestVerificationEmail(t *testing.T) {
	srv := startOP(t, nil)
	c := mgmtClient(t, srv)
	if _, err := c.SendVerificationEmail(t.Context(), "devidp|maria"); err != nil {
		t.Fatalf("SendVerificationEmail: %v", err)
	}
	mail := lastEmail(t, srv, "maria@example.com")

	if claims, _ := loginClaims(t, srv, "maria", "maria-password"); claims.EmailVerified == nil || *claims.EmailVerified {
		t.Fatalf("email_verified before the link = %v, want false", claims.EmailVerified)
	}
	p := get(t, mail.Link)
	if p.resp.StatusCode != http.StatusOK || !strings.Contains(p.doc.Find("h1").Text(), "verified") {
		t.Fatalf("GET the verification link: status %d, h1 %q", p.resp.StatusCode, p.doc.Find("h1").Text())
	}
	if claims, info := loginClaims(t, srv, "maria", "maria-password"); claims.EmailVerified == nil || !*claims.EmailVerified || info["email_verified"] != true {
		t.Errorf("after the link: ID token email_verified %v, userinfo %v; want true", claims.EmailVerified, info["email_verified"])
	}
	if again := get(t, mail.Link); again.resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the link used twice: status %d, want 400", again.resp.StatusCode)
	}
	if u, _ := c.User(t.Context(), "devidp|maria"); !u.EmailVerified {
		t.Error("the Management API still says unverified")
	}
}

// TestChangePassword: change_password for a database user sends an email
// whose link opens a form that sets the new password; the old one stops
// working. A social connection is refused; an unknown address gets the
// same answer and no email.
func TestChangePassword(t *testing.T) {
	srv := startOP(t, nil)
	c := mgmtClient(t, srv)
	if err := c.ChangePassword(t.Context(), "bob@example.com", devidp.DatabaseConnection); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	mail := lastEmail(t, srv, "bob@example.com")

	form := get(t, mail.Link)
	if form.resp.StatusCode != http.StatusOK || form.doc.Find("form").Length() != 1 {
		t.Fatalf("GET the password link: status %d, %d forms", form.resp.StatusCode, form.doc.Find("form").Length())
	}
	if ac, _ := form.doc.Find("input[name=password]").Attr("autocomplete"); ac != "new-password" {
		t.Errorf("new password autocomplete = %q, want new-password", ac)
	}
	if v, _ := form.doc.Find("input[name=username]").Attr("value"); v != "bob" {
		t.Errorf("username field = %q, want bob (for password managers)", v)
	}
	ticket, _ := form.doc.Find("input[name=ticket]").Attr("value")
	post := func(password string) page {
		t.Helper()
		resp, err := http.PostForm(srv.Issuer()+"/dev/reset-password", url.Values{"ticket": {ticket}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		return readPage(t, resp)
	}
	if short := post("short"); short.resp.StatusCode != http.StatusUnprocessableEntity || short.doc.Find("[role=alert]").Length() != 1 {
		t.Errorf("a short password: status %d, want 422 with the message", short.resp.StatusCode)
	}
	if ok := post("bobs-new-password"); ok.resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the password: status %d", ok.resp.StatusCode)
	}
	if reused := post("another-password"); reused.resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the link used twice: status %d, want 400", reused.resp.StatusCode)
	}

	d := getDiscovery(t, srv)
	_, challenge := pkce(t)
	b := newBrowser(t)
	old := readPage(t, submitLogin(t, b, openLoginPage(t, b, d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}), "bob", "bob-password"))
	if old.resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password: status %d, want 401", old.resp.StatusCode)
	}
	if claims, _ := loginClaims(t, srv, "bob", "bobs-new-password"); claims.Subject != "devidp|bob" {
		t.Errorf("the new password signed in %q", claims.Subject)
	}

	// The social user's connection is refused as Auth0 refuses it.
	err := c.ChangePassword(t.Context(), "sam.sample@example.com", "google-oauth2")
	var e *management.Error
	if !errors.As(err, &e) || !errors.Is(err, management.ErrBadRequest) || e.API == nil || e.API.ErrorCode != "invalid_connection" {
		t.Errorf("change_password for google-oauth2: %v, want ErrBadRequest invalid_connection", err)
	}
	// The database connection with an address it does not know (here the
	// social user's): the same answer, no email.
	n := len(srv.Outbox())
	for _, email := range []string{"sam.sample@example.com", "nobody@example.com"} {
		if err := c.ChangePassword(t.Context(), email, devidp.DatabaseConnection); err != nil {
			t.Errorf("change_password for %s: %v, want the usual answer", email, err)
		}
	}
	if got := len(srv.Outbox()); got != n {
		t.Errorf("%d emails after change_password for unknown addresses, want %d", got, n)
	}
}

// TestSocialUser: sam is a google-oauth2 user; a PATCH of his root
// attributes holds until his next password sign-in, which resets them to
// the social provider's values, as Auth0 does; his email cannot change.
func TestSocialUser(t *testing.T) {
	srv := startOP(t, nil)
	c := mgmtClient(t, srv)
	sam := userByName(t, srv, "sam")
	if sam.Subject != samSub || sam.Connection != "google-oauth2" {
		t.Fatalf("sam = %+v, want the google-oauth2 demo user", sam)
	}
	u, err := c.User(t.Context(), samSub)
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if got := u.Primary(); got != (management.Identity{Provider: "google-oauth2", Connection: "google-oauth2", IsSocial: true}) || u.CanChangePassword() {
		t.Errorf("sam's primary identity = %+v, want social google-oauth2", got)
	}
	p := u.Profile()
	p.Name, p.Timezone = "Samuel", "America/New_York"
	if _, err := c.UpdateUser(t.Context(), samSub, u.Changes(p)); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if now, _ := c.User(t.Context(), samSub); now.Name != "Samuel" {
		t.Errorf("name before the next login = %q, want the PATCHed Samuel", now.Name)
	}
	claims, _ := loginClaims(t, srv, "sam", "sam-password")
	if claims.Name != "Sam Sample" || claims.Picture != sam.Picture {
		t.Errorf("ID token name, picture = %q, %q; want the social provider's %q, %q", claims.Name, claims.Picture, "Sam Sample", sam.Picture)
	}
	after, _ := c.User(t.Context(), samSub)
	if after.Name != "Sam Sample" || after.UserMetadata.Timezone != "America/New_York" {
		t.Errorf("after login: name %q, timezone %q; want the name reset and the metadata kept", after.Name, after.UserMetadata.Timezone)
	}

	status, body := callAPI(t, http.MethodPatch, userURL(srv, samSub), mgmtToken(t, srv), "application/json", `{"email":"sam@elsewhere.example"}`)
	if status != http.StatusBadRequest || body["errorCode"] != "operation_not_supported" {
		t.Errorf("PATCH sam's email: status %d, %v; want 400 operation_not_supported", status, body)
	}
}

func TestManagementGrant(t *testing.T) {
	srv := startOP(t, nil)
	aud := srv.ManagementAudience()
	if aud != srv.Issuer()+"/api/v2/" {
		t.Fatalf("ManagementAudience() = %q, want the issuer's /api/v2/", aud)
	}
	tests := []struct {
		name       string
		id, secret string
		form       url.Values
		basic      bool
		wantStatus int
		wantScope  string
	}{
		{"post", clientID, clientSecret, url.Values{"audience": {aud}}, false, 200, "read:users update:users"},
		{"basic", clientID, clientSecret, url.Values{"audience": {aud}}, true, 200, "read:users update:users"},
		{"asked scope", clientID, clientSecret, url.Values{"audience": {aud}, "scope": {"read:users"}}, false, 200, "read:users"},
		{"scope not granted", clientID, clientSecret, url.Values{"audience": {aud}, "scope": {"delete:users"}}, false, 403, ""},
		{"wrong secret", clientID, "nope", url.Values{"audience": {aud}}, false, 401, ""},
		{"unknown client", "nobody", clientSecret, url.Values{"audience": {aud}}, true, 401, ""},
		{"wrong audience", clientID, clientSecret, url.Values{"audience": {srv.Issuer() + "/api/v3/"}}, false, 403, ""},
		{"no audience", clientID, clientSecret, url.Values{}, false, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := grant(t, srv, tt.id, tt.secret, tt.form, tt.basic)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, body["error"], tt.wantStatus)
			}
			if status != 200 {
				if body["error"] != "access_denied" || body["access_token"] != nil {
					t.Errorf("body %v, want access_denied and no token", body)
				}
				return
			}
			if body["scope"] != tt.wantScope || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
				t.Errorf("scope %v, token_type %v, expires_in %v", body["scope"], body["token_type"], body["expires_in"])
			}
			jws, err := jose.ParseSigned(body["access_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatalf("access token is not a JWS: %v", err)
			}
			if typ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
				t.Errorf("typ = %v, want at+jwt", typ)
			}
		})
	}

	// A separate management client: it may, the app's client may not.
	sep := startOP(t, func(c *devidp.Config) { c.ManagementClientID, c.ManagementClientSecret = "mgmt", "mgmt-secret" })
	if status, _ := grant(t, sep, "mgmt", "mgmt-secret", url.Values{"audience": {sep.ManagementAudience()}}, false); status != 200 {
		t.Errorf("the management client: status %d, want 200", status)
	}
	if status, _ := grant(t, sep, clientID, clientSecret, url.Values{"audience": {sep.ManagementAudience()}}, false); status != 401 {
		t.Errorf("the app's client with a separate management client: status %d, want 401", status)
	}
	// The authorization code grant still works at the same endpoint.
	if claims, _ := loginClaims(t, sep, "bob", "bob-password"); claims.Subject != "devidp|bob" {
		t.Errorf("code flow after the grant: sub %q", claims.Subject)
	}
}

// TestManagementBearerChecks: only a live management token of this
// provider, for its audience and with the scope, is accepted.
func TestManagementBearerChecks(t *testing.T) {
	srv := startOP(t, func(c *devidp.Config) { c.AccessTokenLifetime = time.Second })
	other := startOP(t, nil)
	readOnly := startOP(t, func(c *devidp.Config) { c.ManagementScopes = []string{"read:users"} })
	d := getDiscovery(t, srv)
	verifier, challenge := pkce(t)
	_, login := exchange(t, srv, d, signIn(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"}, "alice", "alice-password"), verifier)
	expired := mgmtToken(t, srv)
	time.Sleep(1100 * time.Millisecond)

	tests := []struct {
		name       string
		srv        *devidp.Server
		method     string
		token      string
		wantStatus int
		wantCode   string
	}{
		{"valid", srv, http.MethodGet, mgmtToken(t, srv), 200, ""},
		{"none", srv, http.MethodGet, "", 401, ""},
		{"garbage", srv, http.MethodGet, "not-a-token", 401, ""},
		{"expired", srv, http.MethodGet, expired, 401, ""},
		{"another provider's", srv, http.MethodGet, mgmtToken(t, other), 401, ""},
		{"an ID token", srv, http.MethodGet, login.IDToken, 401, ""},
		{"a login's access token", srv, http.MethodGet, login.AccessToken, 401, ""},
		{"read-only token, GET", readOnly, http.MethodGet, mgmtToken(t, readOnly), 200, ""},
		{"read-only token, PATCH", readOnly, http.MethodPatch, mgmtToken(t, readOnly), 403, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == http.MethodPatch {
				body = `{"nickname":"x"}`
			}
			status, resp := callAPI(t, tt.method, userURL(tt.srv, "devidp|alice"), tt.token, "application/json", body)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, resp["message"], tt.wantStatus)
			}
			if tt.wantCode != "" && resp["errorCode"] != tt.wantCode {
				t.Errorf("errorCode %v, want %s", resp["errorCode"], tt.wantCode)
			}
			if status == 200 && resp["user_id"] != "devidp|alice" {
				t.Errorf("user_id %v", resp["user_id"])
			}
			if status >= 400 && resp["statusCode"] != float64(status) {
				t.Errorf("error body %v, want Auth0's shape with statusCode", resp)
			}
		})
	}

	// The app's client maps the insufficient scope to ErrForbidden.
	c, _ := management.New(management.Config{BaseURL: readOnly.Issuer(), ClientID: clientID, ClientSecret: clientSecret})
	if _, err := c.UpdateUser(t.Context(), "devidp|alice", management.UserUpdate{Name: new("x")}); !errors.Is(err, management.ErrForbidden) {
		t.Errorf("UpdateUser with read:users only: %v, want ErrForbidden", err)
	}
}

func TestManagementPatchValidation(t *testing.T) {
	srv := startOP(t, nil)
	token := mgmtToken(t, srv)
	big := `{"user_metadata":{"x":"` + strings.Repeat("a", 17<<10) + `"}}`
	tests := []struct {
		name        string
		id          string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
	}{
		{"unknown member", "devidp|alice", "application/json", `{"favourite":"tea"}`, 400, "invalid_body"},
		{"empty name", "devidp|alice", "application/json", `{"name":""}`, 400, "invalid_body"},
		{"name not a string", "devidp|alice", "application/json", `{"name":42}`, 400, "invalid_body"},
		{"javascript picture", "devidp|alice", "application/json", `{"picture":"javascript:alert(1)"}`, 400, "invalid_body"},
		{"metadata not an object", "devidp|alice", "application/json", `{"user_metadata":"x"}`, 400, "invalid_body"},
		{"metadata over 16 KB", "devidp|alice", "application/json", big, 400, "invalid_body"},
		{"not JSON", "devidp|alice", "application/json", `name=x`, 400, "invalid_body"},
		{"form", "devidp|alice", "application/x-www-form-urlencoded", `name=x`, 400, "invalid_body"},
		{"email of a database user", "devidp|alice", "application/json", `{"email":"a@b.example"}`, 400, "operation_not_supported"},
		{"unknown user", "devidp|nobody", "application/json", `{"name":"x"}`, 404, "inexistent_user"},
		{"escaped social id", samSub, "application/json", `{"nickname":"sammy"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := callAPI(t, http.MethodPatch, userURL(srv, tt.id), token, tt.contentType, tt.body)
			if status != tt.wantStatus || (tt.wantCode != "" && body["errorCode"] != tt.wantCode) {
				t.Errorf("status %d, errorCode %v (%v); want %d %s", status, body["errorCode"], body["message"], tt.wantStatus, tt.wantCode)
			}
		})
	}
	if u := userByName(t, srv, "alice"); u.Name != "Alice Liddell" || u.Picture != srv.Issuer()+"/avatars/alice.svg" {
		t.Errorf("refused PATCHes changed alice: %+v", u)
	}
	for _, p := range []string{"/api/v2/users/devidp%7Calice/roles", "/api/v2/clients"} {
		if status, _ := callAPI(t, http.MethodGet, srv.Issuer()+p, token, "", ""); status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, status)
		}
	}
	status, body := callAPI(t, http.MethodGet, userURL(srv, "devidp|alice")+"?fields=user_id,name&include_fields=true", token, "", "")
	if status != 200 || len(body) != 2 || body["name"] != "Alice Liddell" {
		t.Errorf("fields=user_id,name: status %d, %v", status, body)
	}
}

// TestOutboxPage: the login page links to the outbox; it lists the emails
// with working links, in the app's look, without scripts or inline styles.
func TestOutboxPage(t *testing.T) {
	srv := startOP(t, nil)
	d := getDiscovery(t, srv)
	_, challenge := pkce(t)
	login := openLoginPage(t, newBrowser(t), d, authRequest{state: "s", nonce: "n", challenge: challenge, method: "S256"})
	if login.doc.Find(`a[href="/dev/outbox"]`).Length() == 0 {
		t.Error("the login page does not link to the outbox")
	}
	if got := login.doc.Find(".dev-list li").Text(); !strings.Contains(got, "sam-password") || !strings.Contains(got, "google-oauth2") {
		t.Errorf("demo accounts %q, want sam as a google-oauth2 user", got)
	}

	empty := get(t, srv.Issuer()+"/dev/outbox")
	if empty.resp.StatusCode != 200 || empty.doc.Find(`[data-testid="outbox-empty"]`).Length() != 1 {
		t.Errorf("empty outbox: status %d", empty.resp.StatusCode)
	}
	if _, err := mgmtClient(t, srv).SendVerificationEmail(t.Context(), "devidp|bob"); err != nil {
		t.Fatal(err)
	}
	box := get(t, srv.Issuer()+"/dev/outbox")
	mails := box.doc.Find(`[data-testid="email"]`)
	if mails.Length() != 1 || !strings.Contains(mails.Text(), "bob@example.com") {
		t.Fatalf("outbox lists %d emails: %q", mails.Length(), mails.Text())
	}
	if href, _ := box.doc.Find(`[data-testid="email-link"]`).Attr("href"); href != srv.Outbox()[0].Link {
		t.Errorf("link %q, want %q", href, srv.Outbox()[0].Link)
	}
	for name, pg := range map[string]page{"outbox": box, "reset form": resetFormPage(t, srv)} {
		if pg.doc.Find("script, style, [style]").Length() != 0 {
			t.Errorf("%s has scripts or inline styles", name)
		}
		if csp := pg.resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s CSP = %q", name, csp)
		}
		if pg.doc.Find("main#main > section.card").Length() != 1 {
			t.Errorf("%s lacks the app's card", name)
		}
		pg.doc.Find("input:not([type=hidden])").Each(func(_ int, in *goquery.Selection) {
			id, _ := in.Attr("id")
			if id == "" || pg.doc.Find("label[for="+id+"]").Length() != 1 {
				t.Errorf("%s: input %v has no label", name, in.AttrOr("name", "?"))
			}
		})
	}
}

// resetFormPage asks for a password email for alice and opens its link.
func resetFormPage(t *testing.T, srv *devidp.Server) page {
	t.Helper()
	if err := mgmtClient(t, srv).ChangePassword(t.Context(), "alice@example.com", devidp.DatabaseConnection); err != nil {
		t.Fatal(err)
	}
	return get(t, lastEmail(t, srv, "alice@example.com").Link)
}

// TestResetPasswordRefusesCrossOrigin: the form's POST is refused from
// another site, so a page elsewhere cannot set the password with a stolen
// link.
func TestResetPasswordRefusesCrossOrigin(t *testing.T) {
	srv := startOP(t, nil)
	form := resetFormPage(t, srv)
	ticket, _ := form.doc.Find("input[name=ticket]").Attr("value")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.Issuer()+"/dev/reset-password",
		bytes.NewBufferString(url.Values{"ticket": {ticket}, "password": {"evil-password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403", resp.StatusCode)
	}
	if u := userByName(t, srv, "alice"); u.Password != "alice-password" {
		t.Error("the cross-site POST changed the password")
	}
}
