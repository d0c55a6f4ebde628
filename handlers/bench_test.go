package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The hot path, in process: each benchmark serves one request through the
// whole handler (router, middleware, session, rendering). BenchmarkBaseline
// is a bare handler writing a fixed 2 KB page, for ratios in the same run:
//
//	go test ./handlers -run '^$' -bench . -benchmem

var page2K = []byte(strings.Repeat("x", 2048))

func BenchmarkBaseline(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page2K)
	})
	serveBench(b, h, "/", nil)
}

func BenchmarkIndexAnonymous(b *testing.B) {
	f := newBenchFixture(b)
	serveBench(b, f.srv, "/", nil)
}

func BenchmarkProfile(b *testing.B) {
	f := newBenchFixture(b)
	cookie := f.login(b, largeUserinfo(b), strings.Repeat("x", 2048))
	serveBench(b, f.srv, "/profile", cookie)
}

func BenchmarkUserinfoFragment(b *testing.B) {
	f := newBenchFixture(b)
	cookie := f.login(b, largeUserinfo(b), strings.Repeat("x", 2048))
	serveBench(b, f.srv, "/profile/userinfo", cookie, "HX-Request", "true")
}

// nullWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler and not a recorder.
type nullWriter struct {
	h      http.Header
	status int
	body   int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) { w.body += len(p); return len(p), nil }
func (w *nullWriter) WriteHeader(code int)        { w.status = code }

func serveBench(b *testing.B, h http.Handler, target string, cookie *http.Cookie, headers ...string) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	b.ReportAllocs()
	var w *nullWriter
	for b.Loop() {
		w = &nullWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	// What goes on the wire besides the work: the body and the header
	// lines (the baseline sends a 2,048-byte body and one header).
	headerBytes := 0
	for k, vs := range w.h {
		for _, v := range vs {
			headerBytes += len(k) + 2 + len(v) + 2
		}
	}
	b.ReportMetric(float64(w.body), "body-B")
	b.ReportMetric(float64(len(w.h)), "headers")
	b.ReportMetric(float64(headerBytes), "header-B")
}

// newBenchFixture logs like production (a text access line per request),
// into io.Discard.
func newBenchFixture(b *testing.B) *fixture {
	return newFixtureTB(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
}
