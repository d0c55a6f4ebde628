package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
)

// requestID returns the id that frame gave the request, from the response's
// X-Request-Id header (a context value would cost every request a copy of
// the *http.Request), or "" outside frame.
func requestID(w http.ResponseWriter) string {
	if v := w.Header()["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

// newIDPrefix makes request ids unique across processes: a random prefix
// per process, then a counter.
func newIDPrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b) + "-"
}

// frame is the one middleware around every request, in one function rather
// than four so that a request pays for one wrapper and one context value:
//   - a request id, in the X-Request-Id header (where requestID reads it),
//     the logs and the error pages (incoming ids are ignored: a client must not write
//     into our logs);
//   - the security headers every response carries;
//   - a panic becomes the 500 page and a logged stack, and the process lives;
//   - one access line per request: method, path without the query (a
//     callback's query holds the code and state; a long path is cut, see
//     logPath), client address, status, size, duration.
func (s *Server) frame(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := idPrefix + strconv.FormatUint(idCounter.Add(1), 10)
		s.setSecurityHeaders(w.Header(), r, id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.fail(sw, r, fmt.Errorf("panic: %v", v))
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			elapsed := time.Since(start)
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				s.metrics.observeRequest(rctx.RoutePattern(), r.Method, sw.status, elapsed)
			}
			client := s.clientAddr(r)
			if s.access != nil {
				s.access.write(start, accessLevel(r.URL.Path), id, r.Method, r.URL.Path, client, sw.status, sw.bytes, elapsed)
				return
			}
			s.log.LogAttrs(r.Context(), accessLevel(r.URL.Path), "request",
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", logPath(r.URL.Path)),
				slog.String("client", client.String()),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Duration("duration", elapsed),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setSecurityHeaders sets the headers every response carries. Dynamic
// responses are never stored by caches (they may show user data or set
// cookies); the asset handler overrides Cache-Control for its immutable
// files. The values are shared, never-modified slices assigned under their
// canonical names: no per-request canonicalisation or allocation.
func (s *Server) setSecurityHeaders(h http.Header, r *http.Request, id string) {
	h["X-Request-Id"] = []string{id}
	h["Content-Security-Policy"] = s.csp.get(s)
	for _, kv := range staticHeaders {
		h[kv.name] = kv.value
	}
	if r.URL.Path == "/callback" {
		// The callback URL holds the code and state: never send it on.
		h["Referrer-Policy"] = noReferrer
	} else {
		h["Referrer-Policy"] = sameOrigin
	}
	if s.secure {
		h["Strict-Transport-Security"] = hsts
	}
}

type headerValue struct {
	name  string
	value []string
}

var (
	staticHeaders = []headerValue{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
		{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
		{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=(), payment=(), usb=()"}},
		{"Cache-Control", []string{"no-store"}},
	}
	noReferrer = []string{"no-referrer"}
	sameOrigin = []string{"same-origin"}
	hsts       = []string{"max-age=63072000; includeSubDomains"}
)

// cspCache builds the Content-Security-Policy once per set of provider
// origins (they are known only after discovery) instead of per request.
type cspCache struct {
	v atomic.Pointer[cspEntry]
}

type cspEntry struct {
	origins []string
	header  []string
}

func (c *cspCache) get(s *Server) []string {
	origins := s.rp.FormOrigins()
	if e := c.v.Load(); e != nil && slices.Equal(e.origins, origins) {
		return e.header
	}
	// Pictures come from the provider or any https host (Google, Gravatar,
	// Auth0's CDN); forms and their redirects may go to the provider.
	img := "'self' https: data:"
	form := "'self'"
	for _, o := range origins {
		if o == "" {
			continue
		}
		form += " " + o
		if strings.HasPrefix(o, "http://") {
			img += " " + o
		}
	}
	header := "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action " + form +
		"; frame-ancestors 'none'; base-uri 'none'"
	c.v.Store(&cspEntry{origins: origins, header: []string{header}})
	return []string{header}
}

// accessLevel logs probes at debug level so that health checks do not drown
// the access log.
func accessLevel(path string) slog.Level {
	if path == "/healthz" || path == "/readyz" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// maxLoggedPath is how much of a path the logs keep: a client can send a
// path of hundreds of kilobytes, and every byte of it would be written
// again for each log line that names it.
const maxLoggedPath = 256

// logPath is the path as the logs keep it.
func logPath(p string) string { return shorten(p, maxLoggedPath) }

// shorten cuts s to at most max bytes (on a UTF-8 boundary) and says how
// long it was.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
