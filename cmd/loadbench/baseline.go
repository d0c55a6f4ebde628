package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"
)

// baselinePage is the fixed 2 KB HTML page the bare net/http baseline sends.
var baselinePage = func() []byte {
	var b strings.Builder
	b.WriteString("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Baseline</title></head><body><main><h1>Baseline page</h1>")
	for b.Len() < 2048-len("</main></body></html>") {
		b.WriteString("<p>baseline</p>")
	}
	b.WriteString("</main></body></html>")
	return []byte(b.String()[:2048-len("</main></body></html>")] + "</main></body></html>")
}()

// serveBaseline is the baseline process: a bare net/http server with the
// fixed page at / and a minimal login (redirect with state, code exchange,
// nothing else checked) at /login and /callback.
func serveBaseline(addr, debugAddr, issuer, clientID, clientSecret string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	conf := &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: base + "/callback",
		Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{
			AuthURL: issuer + "/authorize", TokenURL: issuer + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(baselinePage)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		rand.Read(b)
		state := base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: "state", Value: state, Path: "/", HttpOnly: true})
		http.Redirect(w, r, conf.AuthCodeURL(state), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("state")
		if err != nil || c.Value != r.URL.Query().Get("state") {
			http.Error(w, "bad state", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if _, err := conf.Exchange(ctx, r.URL.Query().Get("code")); err != nil {
			http.Error(w, "exchange failed", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(baselinePage)
	})
	if debugAddr != "" {
		if err := serveBaselineProfiles(debugAddr); err != nil {
			return err
		}
	}
	fmt.Printf("listening on %s\n", base)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Stop on SIGINT or SIGTERM even when started with SIGINT ignored (as
	// a background job of a non-interactive shell is): Notify installs a
	// handler either way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// serveBaselineProfiles serves the baseline's CPU and heap profiles on a
// loopback address of their own, in the paths the app's DEBUG_ADDR uses,
// so that -pprof profiles both sides of each comparison. It uses
// runtime/pprof rather than net/http/pprof: importing that package raised
// the baseline's resident memory at rest by 0.2 MiB, and the baseline is
// what every ratio is measured against.
func serveBaselineProfiles(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || secs < 1 || secs > 600 {
			http.Error(w, "seconds: 1 to 600", http.StatusBadRequest)
			return
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		time.Sleep(time.Duration(secs) * time.Second)
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("GET /debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
		pprof.Lookup("heap").WriteTo(w, 0)
	})
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
	return nil
}
