package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"

	"github.com/loginapp/login/components"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/session"
)

// user is the logged-in user of a request.
type user struct {
	sess *sessions.Session
	rec  *session.Record
}

// currentUser returns the request's logged-in user, nil when anonymous, or
// an error wrapping session.ErrUnavailable when the store can not answer. It
// records activity for the idle timeout and refreshes expired tokens; a
// refresh that fails ends the session (the user logs in again), and so does
// a logout elsewhere that lands while this request runs. A session that the
// store found expired is reported as ended, once, and its cookie cleared.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) (*user, error) {
	sess, err := s.sessions.Get(r, s.sessions.Name())
	if err != nil {
		return nil, err
	}
	rec := session.RecordOf(sess)
	if rec == nil {
		if sub, ok := s.sessions.EndExpired(w, r, sess); ok {
			s.sessionEnded(w, r, endExpired, sub, 1)
		}
		return nil, nil
	}
	if s.needsRefresh(rec) {
		rec, err = s.refresh(w, r, sess)
		if err != nil || rec == nil {
			return nil, err
		}
	}
	if err := s.sessions.Touch(w, r, sess); err != nil {
		if errors.Is(err, session.ErrEnded) {
			return nil, nil
		}
		return nil, err
	}
	return &user{sess: sess, rec: rec}, nil
}

func (s *Server) needsRefresh(rec *session.Record) bool {
	return rec.RefreshToken != "" && !rec.TokenExpiry.IsZero() && !s.cfg.Now().Before(rec.TokenExpiry)
}

// refreshLockTTL bounds how long one refresh may hold the session's lock:
// longer than a refresh takes (the provider's client times out after 10
// seconds), short enough that a crashed instance does not lock the session
// out for long. Waiting requests give up after as long.
const refreshLockTTL = 15 * time.Second

// refresh renews the session's tokens, once per session even when several
// requests, on this instance or on others sharing the store, find them
// expired at the same time: the provider rotates refresh tokens, so a
// second refresh with the same token would fail and log the user out.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, sess *sessions.Session) (*session.Record, error) {
	ctx, cancel := context.WithTimeout(r.Context(), refreshLockTTL)
	defer cancel()
	unlock, err := s.sessions.Lock(ctx, sess, refreshLockTTL)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another request may have refreshed while we waited.
	fresh, err := s.sessions.Get(r, s.sessions.Name())
	if err != nil {
		return nil, err
	}
	rec := session.RecordOf(fresh)
	if rec == nil {
		return nil, nil
	}
	if !s.needsRefresh(rec) {
		*sess = *fresh
		return rec, nil
	}
	// A browser that goes away must not cancel a refresh half done: the
	// provider may already have rotated the token, and the new one would be
	// lost with the session.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(r.Context()), refreshLockTTL)
	defer rcancel()
	r = r.WithContext(rctx)
	out, err := s.rp.Refresh(rctx, rec.RefreshToken, rec.Subject)
	if auth.KindOf(err) == auth.KindUnavailable {
		// An outage is not a refusal: the session and its refresh token
		// stay as they are, this request answers 503, and a later one
		// refreshes once the provider is back.
		s.metrics.refreshes.WithLabelValues(refreshUnavailable).Inc()
		s.audit(w, r, slog.LevelWarn, eventRefreshFailed, slog.String("sub", rec.Subject), slog.String("err", shorten(err.Error(), maxLoggedError)))
		return nil, &refreshOutage{err: err}
	}
	if err != nil {
		s.metrics.refreshes.WithLabelValues(refreshRefused).Inc()
		if lerr := s.sessions.Logout(w, r, fresh); lerr != nil {
			return nil, lerr
		}
		s.sessionEnded(w, r, endRefreshRefused, rec.Subject, 1)
		return nil, nil
	}
	s.metrics.refreshes.WithLabelValues(refreshSuccess).Inc()
	next := *rec
	next.AccessToken, next.RefreshToken, next.TokenExpiry = out.AccessToken, out.RefreshToken, out.TokenExpiry
	if out.IDToken != "" {
		next.IDToken = out.IDToken
	}
	if err := s.sessions.Replace(w, r, fresh, &next); err != nil {
		if errors.Is(err, session.ErrEnded) {
			return nil, nil // logged out while refreshing: stays logged out
		}
		return nil, err
	}
	*sess = *fresh
	return &next, nil
}

// refreshOutage is a session whose tokens could not be renewed because the
// provider is unavailable: the session is kept, the request answers 503.
type refreshOutage struct{ err error }

func (e *refreshOutage) Error() string {
	return "token refresh: provider unavailable: " + e.err.Error()
}
func (e *refreshOutage) Unwrap() error { return e.err }

// index is the login card for visitors and the profile card for users. A
// session store outage shows the login card: anonymous pages keep working.
// A user whose tokens can not be renewed right now gets the 503 page, not a
// login card that would pretend they were signed out.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	u, err := s.currentUser(w, r)
	var outage *refreshOutage
	if errors.As(err, &outage) {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		s.log.Warn("session store unavailable on the index", "request_id", requestID(w), "err", err)
	}
	if u == nil {
		html, err := indexHTML()
		if s.takeSignedOutNotice(w, r) {
			html, err = signedOutIndexHTML()
		}
		s.writeHTML(w, r, html, err)
		return
	}
	s.renderUserPage(w, r, u, pageProfile)
}

// requireUser returns the user or answers for the anonymous: a page
// redirects to the login (and back), an htmx request gets 401 with
// HX-Redirect so that htmx navigates instead of swapping a login page into
// the card, and an API-like request gets a 401 page.
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request, redirect bool) *user {
	u, err := s.currentUser(w, r)
	if err != nil {
		s.fail(w, r, err)
		return nil
	}
	if u != nil {
		return u
	}
	loginURL := "/login?returnTo=" + url.QueryEscape(returnPath(r))
	switch {
	case isHTMX(r):
		setHXRedirect(w, loginURL)
		w.WriteHeader(http.StatusUnauthorized)
	case redirect:
		http.Redirect(w, r, loginURL, http.StatusSeeOther)
	default:
		s.fail(w, r, &statusError{status: http.StatusUnauthorized, view: components.ErrorView{
			Title: "Please log in", Message: "You need to be signed in to see this.",
			ActionURL: loginURL, Action: "Log In",
		}})
	}
	return nil
}

// returnPath is where to come back to after logging in: the page, not the
// fragment.
func returnPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/profile") {
		return "/profile"
	}
	return r.URL.Path
}

// profile is the full page with the profile card.
func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	u := s.requireUser(w, r, true)
	if u == nil {
		return
	}
	s.renderUserPage(w, r, u, pageProfile)
}

// userinfo is the details: for htmx the open details section, otherwise the
// whole page with the details open (the no-JavaScript path). It is served
// from the session; the provider's userinfo endpoint is called only at login.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	u := s.requireUser(w, r, false)
	if u == nil {
		return
	}
	if isHTMX(r) {
		s.renderUserPage(w, r, u, pageDetailsFragment)
	} else {
		s.renderUserPage(w, r, u, pageProfileWithDetails)
	}
}

// userPage is one of the pages that show only the user's own userinfo.
type userPage int

const (
	pageProfile userPage = iota
	pageProfileWithDetails
	pageDetailsFragment
)

// renderUserPage writes one of the user's pages. They depend on nothing but
// the stored userinfo, so each is rendered once per stored record and then
// served as bytes (see session.Record.Derived).
func (s *Server) renderUserPage(w http.ResponseWriter, r *http.Request, u *user, page userPage) {
	type rendered struct {
		html []byte
		err  error
	}
	out := u.rec.Derived(page, func(info []byte) any {
		c, err := s.userPageComponent(page, info)
		if err != nil {
			return rendered{err: err}
		}
		html, err := renderBytes(c)
		return rendered{html, err}
	}).(rendered)
	s.writeHTML(w, r, out.html, out.err)
}

func (s *Server) userPageComponent(page userPage, info []byte) (templ.Component, error) {
	p := s.profileCardView(info)
	if page == pageProfile {
		return components.ProfilePage(p, components.Details{}, components.Sessions{}), nil
	}
	pretty, err := prettyJSON(info)
	if err != nil {
		return nil, err
	}
	d := components.Details{Open: true, JSON: pretty}
	if page == pageDetailsFragment {
		return components.DetailsSection(d), nil
	}
	return components.ProfilePage(p, d, components.Sessions{}), nil
}

// indexHTML is the anonymous index, the same for everyone: rendered once.
var indexHTML = sync.OnceValues(func() ([]byte, error) { return renderBytes(components.IndexPage(false)) })

// signedOutIndexHTML is the index that says the visitor has just signed out.
var signedOutIndexHTML = sync.OnceValues(func() ([]byte, error) { return renderBytes(components.IndexPage(true)) })

func renderBytes(c templ.Component) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return buf.Bytes(), nil
}

var htmlContentType = []string{"text/html; charset=utf-8"}

// writeHTML writes a page rendered ahead, or the error page for err.
func (s *Server) writeHTML(w http.ResponseWriter, r *http.Request, html []byte, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header()["Content-Type"] = htmlContentType
	w.WriteHeader(http.StatusOK)
	w.Write(html)
}

// prettyJSON indents the userinfo with two spaces, keeping the provider's
// key order.
func prettyJSON(raw []byte) (string, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return "", errors.New("stored userinfo is not JSON")
	}
	return buf.String(), nil
}

// profileCardView is what the profile card shows, with the actions this
// server offers.
func (s *Server) profileCardView(info []byte) components.Profile {
	p := profileView(info)
	p.Editable = s.accounts != nil
	return p
}

// profileView picks what the card shows from the userinfo claims.
func profileView(raw []byte) components.Profile {
	var c struct {
		Name          string          `json:"name"`
		GivenName     string          `json:"given_name"`
		FamilyName    string          `json:"family_name"`
		Nickname      string          `json:"nickname"`
		PreferredUser string          `json:"preferred_username"`
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		Picture       string          `json:"picture"`
		Sub           string          `json:"sub"`
	}
	_ = json.Unmarshal(raw, &c) // checked at login; a bad claim type leaves a field empty
	p := components.Profile{Email: c.Email}
	p.Name = firstNonEmpty(c.Name, strings.TrimSpace(c.GivenName+" "+c.FamilyName), c.Nickname, c.PreferredUser, c.Email, c.Sub)
	switch strings.Trim(string(c.EmailVerified), `"`) {
	case "true":
		p.EmailVerified, p.EmailVerifiedKnown = true, true
	case "false":
		p.EmailVerifiedKnown = true
	}
	if u, err := url.Parse(c.Picture); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		p.Picture = c.Picture
	}
	p.Initials = initials(c.GivenName, c.FamilyName, p.Name)
	return p
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return "Signed in"
}

// initials are one or two capital letters for the avatar fallback.
func initials(given, family, name string) string {
	first := func(s string) string {
		for _, r := range strings.TrimSpace(s) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return strings.ToUpper(string(r))
			}
			break
		}
		return ""
	}
	if i := first(given) + first(family); utf8.RuneCountInString(i) == 2 {
		return i
	}
	if local, _, isEmail := strings.Cut(name, "@"); isEmail {
		name = local
	}
	words := strings.Fields(name)
	switch len(words) {
	case 0:
		return "?"
	case 1:
		if i := first(words[0]); i != "" {
			return i
		}
		return "?"
	default:
		i := first(words[0]) + first(words[len(words)-1])
		if i == "" {
			return "?"
		}
		return i
	}
}
