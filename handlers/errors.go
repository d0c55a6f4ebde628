package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/loginapp/login/components"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/session"
)

// statusError is a failure with a status and a page already decided by the
// handler; everything else is classified by errorView.
type statusError struct {
	status int
	view   components.ErrorView
	err    error // for the log only
}

func (e *statusError) Error() string {
	if e.err != nil {
		return e.view.Title + ": " + e.err.Error()
	}
	return e.view.Title
}

func (e *statusError) Unwrap() error { return e.err }

func badRequest(msg string, err error) error {
	return &statusError{status: http.StatusBadRequest, err: err, view: components.ErrorView{
		Title: "That request did not work", Message: msg,
		Hint:      "Start again from the beginning; if it keeps happening, close other sign-in tabs first.",
		ActionURL: "/login", Action: "Log in again",
	}}
}

// serviceUnavailable is a provider we can not reach before a login starts.
func serviceUnavailable(err error) error {
	return &statusError{status: http.StatusServiceUnavailable, err: err, view: components.ErrorView{
		Title:     "Sign-in is unavailable right now",
		Message:   "We can not reach the sign-in service at the moment.",
		Hint:      "This usually passes within a minute. Please try again shortly.",
		ActionURL: "/login", Action: "Try again",
	}}
}

// errorView maps any error to a status and what the page says. It is the one
// place where errors become responses.
func errorView(err error) (int, components.ErrorView) {
	var se *statusError
	if errors.As(err, &se) {
		return se.status, se.view
	}
	var outage *refreshOutage
	if errors.As(err, &outage) {
		return http.StatusServiceUnavailable, components.ErrorView{
			Title:     "We could not renew your sign-in just now",
			Message:   "Your sign-in needs renewing, and the sign-in service can not be reached at the moment.",
			Hint:      "You are still signed in and nothing was lost. Please try again in a minute.",
			ActionURL: "/profile", Action: "Try again",
		}
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		switch ae.Kind {
		case auth.KindDenied:
			return http.StatusForbidden, components.ErrorView{
				Title: "Sign-in did not complete", Message: ae.Msg,
				Hint:      "You can try again, perhaps with another account.",
				ActionURL: "/login", Action: "Try again",
			}
		case auth.KindUnavailable:
			return http.StatusBadGateway, components.ErrorView{
				Title: "The sign-in service did not answer", Message: ae.Msg,
				Hint:      "Nothing was changed. Please try again in a minute.",
				ActionURL: "/login", Action: "Try again",
			}
		default:
			return http.StatusBadRequest, components.ErrorView{
				Title: "We could not sign you in", Message: ae.Msg,
				Hint:      "For your safety nothing was signed in. Please start again.",
				ActionURL: "/login", Action: "Log in again",
			}
		}
	}
	if errors.Is(err, session.ErrUnavailable) {
		return http.StatusServiceUnavailable, components.ErrorView{
			Title: "Sessions are unavailable right now", Message: "We can not reach our session storage at the moment.",
			Hint:      "Your data is safe. Please try again in a minute.",
			ActionURL: "/", Action: "Try again",
		}
	}
	return http.StatusInternalServerError, components.ErrorView{
		Title: "Something went wrong on our side", Message: "The request could not be completed.",
		Hint:      "Please try again. If it keeps happening, tell us the reference below.",
		ActionURL: "/", Action: "Start page",
	}
}

// fail renders the error page for err. Server-side failures are logged as
// errors; a client's bad request only at info level. The line has the
// request id and the client, not the path: the access line of the same
// request id has it, once and cut to size. Errors never carry tokens,
// codes or cookies (see auth.Error).
//
// An htmx request gets the error as an alert for the page's alert region
// (HX-Retarget), with the same status: the page stays as it was, with what
// the user typed, and says what happened. (htmx swaps no error response by
// itself; the app's script lets it swap those that name a target.)
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, view := errorView(err)
	view.Status = status
	view.RequestID = requestID(w)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "request_id", view.RequestID, "client", s.clientAddr(r).String(), "status", status, "err", err)
	if isHTMX(r) {
		setHXRetarget(w, alertsTarget, "innerHTML")
		s.render(w, r, status, components.Alert(view))
		return
	}
	s.render(w, r, status, components.ErrorPage(view))
}

// render writes a component with a status, buffered so that a render error
// never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	templ.Handler(c, templ.WithStatus(status), templ.WithErrorHandler(func(r *http.Request, err error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.log.Error("render failed", "request_id", requestID(w), "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		})
	})).ServeHTTP(w, r)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, &statusError{status: http.StatusNotFound, view: components.ErrorView{
		Title: "Page not found", Message: "There is nothing at this address.",
		Hint:      "Check the address, or go to the start page.",
		ActionURL: "/", Action: "Start page",
	}})
}

// routeMethods are the methods the routes use, in the order Allow lists them.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// methodNotAllowed is 405 with the Allow header RFC 9110 15.5.6 asks for:
// the methods this path does answer (HEAD wherever GET).
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		path = rctx.RoutePath
	}
	var allow []string
	for _, m := range routeMethods {
		lookup := m
		if m == http.MethodHead {
			lookup = http.MethodGet
		}
		if s.mux.Match(chi.NewRouteContext(), lookup, path) {
			allow = append(allow, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.fail(w, r, &statusError{status: http.StatusMethodNotAllowed, view: components.ErrorView{
		Title: "Not allowed", Message: "This address does not accept that kind of request.",
		ActionURL: "/", Action: "Start page",
	}})
}

func (s *Server) tooManyRequests(w http.ResponseWriter, r *http.Request) {
	s.rateLimited(w, r)
	s.fail(w, r, &statusError{status: http.StatusTooManyRequests, view: components.ErrorView{
		Title: "Too many attempts", Message: "There were too many sign-in attempts from your network in a short time.",
		Hint:      "Please wait a minute, then try again.",
		ActionURL: "/", Action: "Start page",
	}})
}

func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.metrics.csrf.Inc()
	s.audit(w, r, slog.LevelWarn, eventCSRFRefused, slog.String("method", r.Method), slog.String("path", logPath(r.URL.Path)))
	s.fail(w, r, &statusError{status: http.StatusForbidden, view: components.ErrorView{
		Title: "Request refused", Message: "This request came from another site, so it was refused to protect your account.",
		Hint:      "If you meant to do this, use the button on this site.",
		ActionURL: "/", Action: "Start page",
	}})
}

// rateLimited records a request refused by a rate limit.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request) {
	route := "unmatched"
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
		route = rctx.RoutePattern()
	}
	s.metrics.limited.WithLabelValues(route).Inc()
	s.audit(w, r, slog.LevelWarn, eventRateLimited, slog.String("route", route))
}
