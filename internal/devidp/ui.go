package devidp

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Paths served by the provider next to the op package's endpoints.
const (
	pathLogin     = "/login"
	pathLoggedOut = "/logged-out"
	pathStatic    = "/static/"
	pathAvatars   = "/avatars/"
)

// loginErrorMessage is shown, with status 401, after a failed sign-in.
const loginErrorMessage = "Wrong username or password"

//go:embed templates/pages.html static
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "templates/pages.html"))

// pageCSP is the Content-Security-Policy of the HTML pages. The pages have no
// scripts and only the same-origin stylesheet.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// loginURL is the login page for the auth request id. The op package
// redirects the browser there from the authorization endpoint.
func loginURL(id string) string {
	return pathLogin + "?" + url.Values{"authRequestID": {id}}.Encode()
}

// ui serves the login page and the provider's static assets.
type ui struct {
	store    *storage
	users    []User
	callback func(ctx context.Context, authRequestID string) string
	log      *slog.Logger
}

type loginPage struct {
	Title         string
	AuthRequestID string
	Username      string
	Error         string
	Users         []User
}

type messagePage struct {
	Title   string
	Message string
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

// loginForm shows the login form for the auth request in the query.
func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if !u.store.pendingAuthRequest(id) {
		u.renderExpired(w)
		return
	}
	u.render(w, http.StatusOK, "login", loginPage{Title: "Sign in", AuthRequestID: id, Users: u.users})
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
	if !u.store.pendingAuthRequest(id) {
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
			Users:         u.users,
		})
		return
	}
	if err := u.store.completeLogin(id, user); err != nil {
		u.renderExpired(w)
		return
	}
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
