package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/mileusna/useragent"

	"github.com/loginapp/login/components"
)

// The "Your sessions" panel: every live session of the user, on every
// instance, with a sign-out for each other one. The list is read from the
// shared session backend when the panel is opened, never for the profile
// page itself, so a user with many sessions costs /profile nothing.

// sessionsPath is the panel's page, where a step-up comes back to.
const sessionsPath = "/profile/sessions"

// profileSessions is GET /profile/sessions: for htmx the open panel,
// otherwise the whole page with the panel open (the no-JavaScript path).
func (s *Server) profileSessions(w http.ResponseWriter, r *http.Request) {
	u := s.requireUser(w, r, true)
	if u == nil {
		return
	}
	v, err := s.sessionsView(r, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch n := r.URL.Query().Get("ended"); {
	case n == "1":
		v.Message = "Signed out of 1 session."
	case n != "":
		if k, err := strconv.Atoi(n); err == nil && k > 1 && k <= 10000 {
			v.Message = "Signed out of " + strconv.Itoa(k) + " sessions."
		}
	}
	s.renderSessions(w, r, u, v, http.StatusOK)
}

// endSession is POST /profile/sessions/{handle}/end: ends that session of
// this user everywhere. A handle that is not one of the user's live
// sessions (stale, malformed, another user's) is a 404, all alike.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	u := s.requireUser(w, r, true)
	if u == nil || !s.requireRecentAuth(w, r, u, sessionsPath) {
		return
	}
	handle := chi.URLParam(r, "handle")
	ended, ok, err := s.sessions.EndSession(r.Context(), u.rec.Subject, handle)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, &statusError{status: http.StatusNotFound, view: components.ErrorView{
			Title: "That session is not there", Message: "It may have ended already, or it was never one of yours.",
			ActionURL: sessionsPath, Action: "See your sessions",
		}})
		return
	}
	s.sessionEnded(w, r, endSignedOutElse, u.rec.Subject, 1)
	if ended.Current {
		// Ending this device's own session is a logout here.
		s.sessions.Logout(w, r, u.sess)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.afterSessionsAction(w, r, u, "Signed out of "+deviceName(ended.UserAgent)+".", 1)
}

// endOtherSessions is POST /profile/sessions/end-others.
func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	u := s.requireUser(w, r, true)
	if u == nil || !s.requireRecentAuth(w, r, u, sessionsPath) {
		return
	}
	n, err := s.sessions.EndOtherSessions(r.Context(), u.rec.Subject, u.sess)
	s.sessionEnded(w, r, endSignedOutElse, u.rec.Subject, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	msg := "There were no other sessions."
	switch {
	case n == 1:
		msg = "Signed out of 1 other session."
	case n > 1:
		msg = "Signed out of " + strconv.Itoa(n) + " other sessions."
	}
	s.afterSessionsAction(w, r, u, msg, n)
}

// afterSessionsAction answers an action on the list: htmx gets the list
// again, in place, with the message (and the polite live region updated);
// a page goes back to the list (POST, redirect, GET).
func (s *Server) afterSessionsAction(w http.ResponseWriter, r *http.Request, u *user, msg string, ended int) {
	if !isHTMX(r) {
		http.Redirect(w, r, sessionsPath+"?ended="+strconv.Itoa(ended), http.StatusSeeOther)
		return
	}
	v, err := s.sessionsView(r, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Message = msg
	s.renderSessions(w, r, u, v, http.StatusOK)
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, u *user, v components.Sessions, status int) {
	if isHTMX(r) {
		s.render(w, r, status, templ.Join(components.SessionsSection(v), components.SessionsStatus(v.Message)))
		return
	}
	s.render(w, r, status, components.ProfilePage(s.profileCardView(u.rec.UserInfo), components.Details{}, v))
}

// sessionsView lists the user's live sessions for the page.
func (s *Server) sessionsView(r *http.Request, u *user) (components.Sessions, error) {
	list, err := s.sessions.Sessions(r.Context(), u.rec.Subject, u.sess)
	if err != nil {
		return components.Sessions{}, err
	}
	now := s.cfg.Now()
	v := components.Sessions{Open: true, Items: make([]components.SessionItem, 0, len(list))}
	for _, it := range list {
		v.Items = append(v.Items, components.SessionItem{
			Handle:     it.Handle,
			Device:     deviceName(it.UserAgent),
			Address:    it.ClientIP,
			SignedIn:   moment(it.CreatedAt, now),
			LastActive: moment(it.LastSeen, now),
			Current:    it.Current,
		})
	}
	return v, nil
}

// deviceName is "Firefox on Linux" from a User-Agent, by a parser made for
// it (github.com/mileusna/useragent), not a regexp of our own.
func deviceName(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown browser"
	}
	a := useragent.Parse(ua)
	browser := a.Name
	if browser == "" {
		browser = "Unknown browser"
	}
	switch {
	case a.OS != "" && a.Device != "":
		return browser + " on " + a.OS + " (" + a.Device + ")"
	case a.OS != "":
		return browser + " on " + a.OS
	default:
		return browser
	}
}

// moment shows t relative to now ("5 minutes ago") with the exact time for
// the title and datetime attributes.
func moment(t, now time.Time) components.Moment {
	return components.Moment{
		Relative: relative(t, now),
		Exact:    t.UTC().Format("2 January 2006, 15:04 UTC"),
		Datetime: t.UTC().Format(time.RFC3339),
	}
}

func relative(t, now time.Time) string {
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return strconv.Itoa(n) + " " + unit + "s ago"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 48*time.Hour:
		return "yesterday"
	default:
		return plural(int(d/(24*time.Hour)), "day")
	}
}
