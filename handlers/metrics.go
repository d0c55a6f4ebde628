package handlers

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what the handlers tell Prometheus. Every label comes from a
// small fixed set: route patterns (never raw paths), methods, status
// classes, outcome and kind names defined in this package; never a user id.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	loginsStart prometheus.Counter
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	logouts     *prometheus.CounterVec
	limited     *prometheus.CounterVec
	csrf        prometheus.Counter
	stepUps     *prometheus.CounterVec

	// off is true when nothing serves the metrics: the per-request ones,
	// the only ones on the hot path, are then not collected at all.
	off bool

	// routes caches the children of requests and duration per route,
	// method and status class: a lookup by label values hashes them on
	// every request.
	routes sync.Map // routeKey -> *routeMetrics
}

type routeKey struct {
	pattern, method string
	class           uint8
}

type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// Outcomes of a login (the callback), one per failure kind the error
// mapper knows.
const (
	loginSuccess        = "success"
	loginInvalidRequest = "invalid_request" // a malformed callback
	loginState          = "state"           // missing, unknown, expired or replayed state
	loginProviderError  = "provider_error"  // the provider answered error=
	loginTokenCheck     = "token_check"     // the code exchange or the ID token failed a check
	loginUserinfo       = "userinfo"        // userinfo failed a check
	loginUnavailable    = "unavailable"     // the provider or the session store could not be reached
	loginStepUpRefused  = "step_up_refused" // a re-authentication that did not prove what it must
)

// Kinds of session endings.
const (
	endLogout         = "logout"          // POST /logout
	endBackchannelSID = "backchannel_sid" // a logout token with a sid
	endBackchannelSub = "backchannel_sub" // a logout token with a sub only
	endExpired        = "expired"         // idle or absolute lifetime, or tokens past expiry
	endRefreshRefused = "refresh_refused" // the provider refused the refresh token (revoked)
	endSignedOutElse  = "signed_out_elsewhere"
)

// Outcomes of a token refresh.
const (
	refreshSuccess     = "success"
	refreshRefused     = "refused"
	refreshUnavailable = "unavailable"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "loginapp", Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		loginsStart: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "logins_started_total",
			Help: "Logins started: browsers sent to the provider (GET /login).",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "logins_total",
			Help: "Logins finished (GET /callback), by outcome: success or the kind of failure.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "token_refreshes_total",
			Help: "Token refreshes by outcome: success, refused (the session ends) or unavailable (the session is kept).",
		}, []string{"outcome"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "sessions_ended_total",
			Help: "Sessions ended, by kind: logout, backchannel_sid, backchannel_sub, expired, refresh_refused, signed_out_elsewhere.",
		}, []string{"kind"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "rate_limited_total",
			Help: "Requests refused by a rate limit, by route pattern.",
		}, []string{"route"}),
		csrf: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "cross_origin_refused_total",
			Help: "State-changing requests refused because they came from another site.",
		}),
		stepUps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "loginapp", Name: "step_ups_total",
			Help: "Re-authentications for sensitive actions, by outcome: requested, success, refused.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.loginsStart, m.logins, m.refreshes, m.logouts, m.limited, m.csrf, m.stepUps)
	} else {
		m.off = true
	}
	// Start the series an alert divides by at zero, so that a rate over a
	// quiet period is 0, not absent.
	for _, o := range []string{loginSuccess, loginInvalidRequest, loginState, loginProviderError, loginTokenCheck, loginUserinfo, loginUnavailable, loginStepUpRefused} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{refreshSuccess, refreshRefused, refreshUnavailable} {
		m.refreshes.WithLabelValues(o)
	}
	return m
}

// observeRequest counts a finished request. pattern is chi's route pattern
// ("" when nothing matched).
func (m *metrics) observeRequest(pattern, method string, status int, d time.Duration) {
	if m.off {
		return
	}
	if pattern == "" {
		pattern = "unmatched"
	}
	switch method {
	case "GET", "HEAD", "POST":
	default:
		method = "other" // the method is the client's text: keep the set small
	}
	class := uint8(status / 100)
	key := routeKey{pattern, method, class}
	v, ok := m.routes.Load(key)
	if !ok {
		v, _ = m.routes.LoadOrStore(key, &routeMetrics{
			requests: m.requests.WithLabelValues(pattern, method, strconv.Itoa(int(class))+"xx"),
			duration: m.duration.WithLabelValues(pattern, method),
		})
	}
	rm := v.(*routeMetrics)
	rm.requests.Inc()
	rm.duration.Observe(d.Seconds())
}
