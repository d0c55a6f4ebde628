package handlers

import (
	"log/slog"
	"net/http"
)

// Security events: one structured log line each, with event= and the
// request id, the client address and, where known, the subject. Never a
// token, code, cookie or secret: the sub and the derived client address are
// enough to follow a user's session through the log. Each also counts in
// the metrics.
const (
	eventLoginSucceeded = "login_succeeded"
	eventLoginFailed    = "login_failed"
	eventSessionEnded   = "session_ended"
	eventRefreshFailed  = "refresh_failed"
	eventStepUp         = "step_up"
	eventRateLimited    = "rate_limited"
	eventCSRFRefused    = "cross_origin_refused"
)

// audit writes one security event.
func (s *Server) audit(w http.ResponseWriter, r *http.Request, level slog.Level, event string, attrs ...slog.Attr) {
	base := []slog.Attr{
		slog.String("event", event),
		slog.String("request_id", requestID(w)),
		slog.String("client", s.clientAddr(r).String()),
	}
	s.log.LogAttrs(r.Context(), level, "security event", append(base, attrs...)...)
}

// loginSucceeded records a finished login.
func (s *Server) loginSucceeded(w http.ResponseWriter, r *http.Request, sub string) {
	s.metrics.logins.WithLabelValues(loginSuccess).Inc()
	s.audit(w, r, slog.LevelInfo, eventLoginSucceeded, slog.String("sub", sub))
}

// loginFailed records a login that did not finish, with the kind of
// failure (one of the login* outcomes).
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, outcome string, err error) {
	s.metrics.logins.WithLabelValues(outcome).Inc()
	s.audit(w, r, slog.LevelInfo, eventLoginFailed, slog.String("reason", outcome), slog.String("err", shorten(err.Error(), maxLoggedError)))
}

// sessionEnded records sessions that ended, how many and why.
func (s *Server) sessionEnded(w http.ResponseWriter, r *http.Request, kind, sub string, n int) {
	if n <= 0 {
		return
	}
	s.metrics.logouts.WithLabelValues(kind).Add(float64(n))
	s.audit(w, r, slog.LevelInfo, eventSessionEnded, slog.String("reason", kind), slog.String("sub", sub), slog.Int("sessions", n))
}
