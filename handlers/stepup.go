package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/loginapp/login/internal/auth"
)

// Step-up: sensitive actions (ending other sessions, editing the profile)
// need an authentication no older than REAUTH_MAX_AGE. When the session's
// is older, the user is sent to the provider with max_age (OpenID Connect
// Core 3.1.2.1), comes back to the page, and does the action there: the
// action itself is never carried out by the return, so a crafted link can
// not make a freshly authenticated user do something they did not click.

// Values of the step_up parameter of GET /login.
const (
	stepUpMaxAge = "1"     // send max_age
	stepUpForce  = "login" // send max_age and prompt=login: the provider ignored max_age
)

// recentlyAuthenticated reports whether u's authentication is recent
// enough for a sensitive action. A session whose provider never said when
// the user authenticated (no auth_time) is not.
func (s *Server) recentlyAuthenticated(u *user) bool {
	at := u.rec.AuthTime
	return !at.IsZero() && s.cfg.Now().Sub(at) <= s.cfg.ReauthMaxAge
}

// requireRecentAuth returns true when u may do a sensitive action now;
// otherwise it sends the browser to re-authenticate and come back to
// returnTo (htmx: 401 with HX-Redirect, so that htmx navigates) and
// returns false.
func (s *Server) requireRecentAuth(w http.ResponseWriter, r *http.Request, u *user, returnTo string) bool {
	if s.recentlyAuthenticated(u) {
		return true
	}
	s.metrics.stepUps.WithLabelValues("requested").Inc()
	s.audit(w, r, slog.LevelInfo, eventStepUp, slog.String("outcome", "requested"), slog.String("sub", u.rec.Subject))
	target := stepUpURL(returnTo, stepUpMaxAge)
	if isHTMX(r) {
		setHXRedirect(w, target)
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return false
}

func stepUpURL(returnTo, mode string) string {
	return "/login?step_up=" + mode + "&returnTo=" + url.QueryEscape(returnTo)
}

// stepUpAttempt makes the login attempt for GET /login?step_up=...: a
// re-authentication of the signed-in user, or nil when the browser has no
// session (then it is an ordinary login).
func (s *Server) stepUpAttempt(w http.ResponseWriter, r *http.Request, returnTo string) (*auth.Attempt, error) {
	mode := r.URL.Query().Get("step_up")
	if mode != stepUpMaxAge && mode != stepUpForce {
		return nil, nil
	}
	u, err := s.currentUser(w, r)
	if err != nil || u == nil {
		return nil, err
	}
	a := s.rp.NewStepUpAttempt(returnTo, u.rec.Subject, loginHint(u.rec.UserInfo), s.cfg.ReauthMaxAge, mode == stepUpForce)
	return &a, nil
}

// loginHint is the email of the userinfo, for the provider's form.
func loginHint(info []byte) string {
	return profileView(info).Email
}

// stepUpFailed handles a re-authentication that did not prove what it
// must: one that came back with an older authentication is tried once more
// with prompt=login (the provider may ignore max_age); any other failure is
// the error page, and the session stays as it was.
func (s *Server) stepUpFailed(w http.ResponseWriter, r *http.Request, a auth.Attempt, err error) bool {
	if a.StepUp == nil {
		return false
	}
	s.metrics.stepUps.WithLabelValues("refused").Inc()
	s.audit(w, r, slog.LevelWarn, eventStepUp, slog.String("outcome", "refused"), slog.String("sub", a.StepUp.Subject), slog.String("err", shorten(err.Error(), maxLoggedError)))
	if errors.Is(err, auth.ErrStaleAuthentication) && !a.StepUp.ForceLogin {
		http.Redirect(w, r, stepUpURL(a.ReturnTo, stepUpForce), http.StatusSeeOther)
		return true
	}
	return false
}
