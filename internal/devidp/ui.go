package devidp

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	appassets "github.com/loginapp/login/assets"
)

// Paths served by the provider next to the op package's endpoints.
const (
	pathLogin     = "/login"
	pathLoggedOut = "/logged-out"
	pathStatic    = "/static/"
	pathAvatars   = "/avatars/"

	// The dev outbox, where the provider's emails land, and the pages their
	// links open.
	pathDevOutbox        = "/dev/outbox"
	pathDevVerifyEmail   = "/dev/verify-email"
	pathDevResetPassword = "/dev/reset-password"
)

// minPasswordRunes is the shortest new password the reset form takes.
const minPasswordRunes = 8

// loginErrorMessage is shown, with status 401, after a failed sign-in.
const loginErrorMessage = "Wrong username or password"

//go:embed templates/pages.html static
var assets embed.FS

// pages are the provider's HTML pages. They link the app's own stylesheet,
// which the provider serves under assets.Prefix from the assets package, so
// that they look like the app without a copy of its CSS.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"appCSS": func() string { return appassets.Path("css/app.css") },
}).ParseFS(assets, "templates/pages.html"))

// pageCSP is the Content-Security-Policy of the HTML pages. The pages have no
// scripts and only same-origin stylesheets and images.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// loginURL is the login page for the auth request id. The op package
// redirects the browser there from the authorization endpoint.
func loginURL(id string) string {
	return pathLogin + "?" + url.Values{"authRequestID": {id}}.Encode()
}

// ssoCookie names the browser's single sign-on session at the provider
// (only with Config.SSOSessionLifetime).
const ssoCookie = "devidp_sso"

// ui serves the login page and the provider's static assets.
type ui struct {
	store    *storage
	callback func(ctx context.Context, authRequestID string) string
	// authError sends the browser back to the client with an OAuth error
	// for the auth request.
	authError func(w http.ResponseWriter, r *http.Request, req *authRequest, err error)
	// ssoLifetime is Config.SSOSessionLifetime: zero means no single
	// sign-on sessions.
	ssoLifetime time.Duration
	log         *slog.Logger
}

type loginPage struct {
	Title         string
	AuthRequestID string
	Username      string
	Error         string
	// Reauth is true when the client asked for a fresh authentication
	// (max_age or prompt=login).
	Reauth bool
	Users  []demoAccount
}

// demoAccount is one line of the login page's list of demo accounts.
type demoAccount struct {
	Name, Username, Password string
	Social                   bool
	Connection               string
}

type messagePage struct {
	Title   string
	Message string
	// LinkURL and LinkText are an optional way on.
	LinkURL, LinkText string
}

// demoAccounts lists the users, as they are now, for the login page.
func (u *ui) demoAccounts() []demoAccount {
	users := u.store.dir.users()
	list := make([]demoAccount, 0, len(users))
	for _, user := range users {
		list = append(list, demoAccount{
			Name:       user.Name,
			Username:   user.Username,
			Password:   user.Password,
			Social:     user.social(),
			Connection: user.connection(),
		})
	}
	return list
}

type outboxPage struct {
	Title  string
	Emails []Email
}

type resetPage struct {
	Title    string
	Ticket   string
	Username string
	Error    string
}

// render executes the template name into w with the page headers and status.
func (u *ui) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		u.log.Error("devidp: render page", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (u *ui) renderExpired(w http.ResponseWriter) {
	u.render(w, http.StatusBadRequest, "message", messagePage{
		Title:   "Sign-in request expired",
		Message: "This sign-in request is unknown or has expired. Go back to the application and start signing in again.",
	})
}

// loginForm shows the login form for the auth request in the query. With
// single sign-on sessions on, a browser whose session is recent enough for
// the request's max_age (prompt=login means 0) is signed in at once, with
// the session's auth_time; a prompt=none request without one goes back to
// the client with login_required.
func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	req, ok := u.store.pendingAuthRequest(id)
	if !ok {
		u.renderExpired(w)
		return
	}
	page := loginPage{Title: "Sign in", AuthRequestID: id, Reauth: req.MaxAge != nil, Users: u.demoAccounts()}
	if user, ok := u.userForHint(req.LoginHint); ok {
		page.Username = user.Username
	}
	if u.ssoLifetime > 0 {
		sess, ok := u.currentSSO(r)
		if ok && req.allowsAuthTime(sess.AuthTime, time.Now()) {
			if err := u.store.completeLogin(id, sess.Subject, sess.SessionID, sess.AuthTime); err != nil {
				u.renderExpired(w)
				return
			}
			u.log.Info("devidp: signed in by the single sign-on session", "sub", sess.Subject)
			http.Redirect(w, r, u.callback(r.Context(), id), http.StatusSeeOther)
			return
		}
		if req.PromptNone {
			u.authError(w, r, req, oidc.ErrLoginRequired())
			return
		}
		if ok && page.Username == "" {
			if user, found := u.store.userBySubject(sess.Subject); found {
				page.Username = user.Username
			}
		}
	}
	u.render(w, http.StatusOK, "login", page)
}

// userForHint returns the user a login_hint names by username or email.
func (u *ui) userForHint(hint string) (User, bool) {
	if hint == "" {
		return User{}, false
	}
	if user, ok := u.store.userByUsername(hint); ok {
		return user, true
	}
	return u.store.userByEmail(hint)
}

// currentSSO returns the browser's live single sign-on session.
func (u *ui) currentSSO(r *http.Request) (ssoSession, bool) {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		return ssoSession{}, false
	}
	return u.store.ssoSession(c.Value)
}

// startSSO records a password sign-in of user in the browser's single
// sign-on session and returns the OP session id (sid) for the login. A
// browser already signed in as the same user keeps its sid, as a
// re-authentication does at Auth0; otherwise a new session starts.
func (u *ui) startSSO(w http.ResponseWriter, r *http.Request, user User, authTime time.Time) string {
	if u.ssoLifetime <= 0 {
		return randomID()
	}
	sid := randomID()
	if c, err := r.Cookie(ssoCookie); err == nil {
		if old, ok := u.store.ssoSession(c.Value); ok && old.Subject == user.Subject {
			sid = old.SessionID
		}
		u.store.endSSOSessions(c.Value, "")
	}
	// A new cookie value on every password sign-in, so a value seen before
	// it never names the new session.
	id := randomID()
	u.store.saveSSOSession(id, ssoSession{
		Subject:   user.Subject,
		SessionID: sid,
		AuthTime:  authTime,
		Expires:   authTime.Add(u.ssoLifetime),
	})
	http.SetCookie(w, &http.Cookie{
		Name:     ssoCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   int(u.ssoLifetime / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	return sid
}

// login checks the submitted credentials. On success it marks the auth
// request as done and sends the browser back to the op package's callback,
// which redirects it to the client with a code.
func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "message", messagePage{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	id := r.PostForm.Get("authRequestID")
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	req, ok := u.store.pendingAuthRequest(id)
	if !ok {
		u.renderExpired(w)
		return
	}
	user, ok := u.store.checkPassword(username, password)
	if !ok {
		// The username is not logged: people type passwords into it.
		u.log.Info("devidp: sign-in failed: wrong username or password")
		u.render(w, http.StatusUnauthorized, "login", loginPage{
			Title:         "Sign in",
			AuthRequestID: id,
			Username:      username,
			Error:         loginErrorMessage,
			Reauth:        req.MaxAge != nil,
			Users:         u.demoAccounts(),
		})
		return
	}
	// auth_time is now: when the user typed the password.
	authTime := time.Now()
	sid := u.startSSO(w, r, user, authTime)
	if err := u.store.completeLogin(id, user.Subject, sid, authTime); err != nil {
		u.renderExpired(w)
		return
	}
	u.store.dir.recordLogin(user.Subject, authTime)
	u.log.Info("devidp: signed in", "username", user.Username, "sub", user.Subject)
	http.Redirect(w, r, u.callback(r.Context(), id), http.StatusSeeOther)
}

// loggedOut is the default page after end_session when the client did not
// ask for a post_logout_redirect_uri.
func (u *ui) loggedOut(w http.ResponseWriter, _ *http.Request) {
	u.render(w, http.StatusOK, "message", messagePage{
		Title:   "Signed out",
		Message: "You have been signed out of the development identity provider. You can close this tab.",
	})
}

// outbox lists the emails the provider sent, newest first.
func (u *ui) outbox(w http.ResponseWriter, _ *http.Request) {
	u.render(w, http.StatusOK, "outbox", outboxPage{Title: "Outbox", Emails: u.store.dir.emails()})
}

func (u *ui) renderBadLink(w http.ResponseWriter) {
	u.render(w, http.StatusBadRequest, "message", messagePage{
		Title:    "Link not valid",
		Message:  "This link is unknown, was used already or has expired. Ask the application to send a new email.",
		LinkURL:  pathDevOutbox,
		LinkText: "Back to the outbox",
	})
}

// verifyEmail redeems a verification link: the address is verified, and
// the next ID token and userinfo say so.
func (u *ui) verifyEmail(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	sub, ok := u.store.dir.ticket(r.URL.Query().Get("ticket"), ticketVerifyEmail, now, true)
	if !ok {
		u.renderBadLink(w)
		return
	}
	user, _ := u.store.dir.update(sub, now, func(user *User) bool {
		changed := !user.EmailVerified
		user.EmailVerified = true
		return changed
	})
	u.log.Info("devidp: email verified", "sub", sub)
	u.render(w, http.StatusOK, "message", messagePage{
		Title:    "Email verified",
		Message:  "The address " + user.Email + " is verified. The application sees it at the next sign-in.",
		LinkURL:  pathDevOutbox,
		LinkText: "Back to the outbox",
	})
}

// resetForm shows the form a password-change link opens.
func (u *ui) resetForm(w http.ResponseWriter, r *http.Request) {
	secret := r.URL.Query().Get("ticket")
	sub, ok := u.store.dir.ticket(secret, ticketResetPassword, time.Now(), false)
	if !ok {
		u.renderBadLink(w)
		return
	}
	user, _ := u.store.userBySubject(sub)
	u.render(w, http.StatusOK, "reset", resetPage{Title: "Choose a new password", Ticket: secret, Username: user.Username})
}

// resetPassword sets the new password from the form; the link is used up.
func (u *ui) resetPassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "message", messagePage{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	secret, password := r.PostForm.Get("ticket"), r.PostForm.Get("password")
	now := time.Now()
	sub, ok := u.store.dir.ticket(secret, ticketResetPassword, now, false)
	if !ok {
		u.renderBadLink(w)
		return
	}
	user, _ := u.store.userBySubject(sub)
	if n := utf8.RuneCountInString(password); n < minPasswordRunes {
		u.render(w, http.StatusUnprocessableEntity, "reset", resetPage{
			Title:    "Choose a new password",
			Ticket:   secret,
			Username: user.Username,
			Error:    fmt.Sprintf("The password needs at least %d characters.", minPasswordRunes),
		})
		return
	}
	if _, ok := u.store.dir.ticket(secret, ticketResetPassword, now, true); !ok {
		u.renderBadLink(w)
		return
	}
	u.store.dir.update(sub, now, func(user *User) bool {
		user.Password = password
		return false
	})
	u.log.Info("devidp: password changed by a reset link", "sub", sub)
	u.render(w, http.StatusOK, "message", messagePage{
		Title:   "Password changed",
		Message: "The password of " + user.Username + " is changed. Sign in with the new one at the application.",
	})
}

// asset serves an embedded file from the static directory.
func (u *ui) asset(w http.ResponseWriter, r *http.Request) {
	name := path.Clean(strings.TrimPrefix(r.URL.Path, "/"))
	if strings.HasPrefix(name, "avatars/") {
		name = "static/" + name
	}
	if !strings.HasPrefix(name, "static/") {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(assets, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	switch path.Ext(name) {
	case ".css":
		h.Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		h.Set("Content-Type", "image/svg+xml")
		h.Set("Content-Security-Policy", "default-src 'none'")
	default:
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}
