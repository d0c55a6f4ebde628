package main

// The test harness: the real server, started by run on 127.0.0.1:0 exactly
// as main starts it, and a cookie-keeping client that walks the login flow
// the way a browser does. Every test file in this package uses it.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// syncBuffer is an io.Writer that tests can read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// environ turns a map into os.Environ's form.
func environ(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// testApp is one running server.
type testApp struct {
	URL    string
	Stderr *syncBuffer
	// DevUsers maps the dev mode banner's usernames to passwords.
	DevUsers map[string]string
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// startApp runs the server with env as its whole environment (plus
// defaults: LISTEN_ADDR=127.0.0.1:0, a temporary DATA_DIR, a high login
// rate limit) and waits until it serves /healthz.
func startApp(t *testing.T, env map[string]string, args ...string) *testApp {
	t.Helper()
	full := map[string]string{
		"LISTEN_ADDR":      "127.0.0.1:0",
		"DATA_DIR":         t.TempDir(),
		"LOGIN_RATE_LIMIT": "100000",
		"LOG_LEVEL":        "warn",
	}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := &testApp{Stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), DevUsers: map[string]string{}}
	go func() { app.done <- run(ctx, args, environ(full), io.Discard, app.Stderr) }()
	t.Cleanup(app.stop)

	deadline := time.Now().Add(20 * time.Second)
	for app.URL == "" {
		select {
		case err := <-app.done:
			app.done <- err
			t.Fatalf("run exited before listening: %v\nstderr:\n%s", err, app.Stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 'listening on' line within 20s; stderr:\n%s", app.Stderr.String())
		}
		sc := bufio.NewScanner(strings.NewReader(app.Stderr.String()))
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				app.URL = strings.TrimSpace(u)
			}
			if rest, ok := strings.CutPrefix(line, "dev user: "); ok {
				if f := strings.Fields(rest); len(f) >= 2 {
					app.DevUsers[f[0]] = f[1]
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		resp, err := http.Get(app.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not 200 within 20s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return app
}

// stop ends the server as SIGTERM would and waits for run to return; a
// second call does nothing.
func (a *testApp) stop() {
	a.stopOnce.Do(func() {
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			panic("run did not return within 15s of cancellation")
		}
	})
}

// waitReady polls /readyz until it is 200.
func (a *testApp) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(a.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like HTTP client: it keeps cookies and does not
// follow redirects, so that tests see each hop.
type client struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
	// UserAgent, when set, is sent with every request, as a browser does.
	UserAgent string
}

func newClient(t *testing.T) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &client{t: t, jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a read response.
type response struct {
	*http.Response
	Body string
}

// Doc parses the body as HTML.
func (r *response) Doc(t *testing.T) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	if c.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, Body: string(b)}
}

func (c *client) get(rawURL string, headers ...string) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

func (c *client) postForm(rawURL string, form url.Values, headers ...string) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// follow GETs rawURL and follows redirects (up to 10), returning the last
// response and the URL it came from.
func (c *client) follow(rawURL string) (*response, string) {
	c.t.Helper()
	for range 10 {
		resp := c.get(rawURL)
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			return resp, rawURL
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			c.t.Fatalf("bad Location %q: %v", loc, err)
		}
		rawURL = next.String()
	}
	c.t.Fatalf("more than 10 redirects from %s", rawURL)
	return nil, ""
}

// signInAtDevProvider submits the dev provider's login form on the page and
// returns the response to the POST (a redirect on success).
func (c *client) signInAtDevProvider(page *response, pageURL, username, password string) *response {
	c.t.Helper()
	doc := page.Doc(c.t)
	form := doc.Find("form").First()
	if form.Length() == 0 {
		c.t.Fatalf("no form on the provider page %s:\n%s", pageURL, page.Body)
	}
	vals := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		value, _ := in.Attr("value")
		if name != "" {
			vals.Set(name, value)
		}
	})
	vals.Set("username", username)
	vals.Set("password", password)
	action, _ := form.Attr("action")
	base, _ := url.Parse(pageURL)
	target, err := base.Parse(action)
	if err != nil {
		c.t.Fatalf("form action %q: %v", action, err)
	}
	return c.postForm(target.String(), vals)
}

// login walks the whole login against the dev provider, starting from
// startPath on the app (e.g. "/login"), and returns the final response of
// the app after the callback's redirect has been followed.
func (c *client) login(app *testApp, startPath, username string) (*response, string) {
	c.t.Helper()
	page, pageURL := c.follow(app.URL + startPath)
	if page.StatusCode != http.StatusOK {
		c.t.Fatalf("provider login page: status %d at %s:\n%s", page.StatusCode, pageURL, page.Body)
	}
	resp := c.signInAtDevProvider(page, pageURL, username, app.DevUsers[username])
	loc := resp.Header.Get("Location")
	if loc == "" {
		c.t.Fatalf("sign-in at the provider did not redirect: %d\n%s", resp.StatusCode, resp.Body)
	}
	next, _ := resp.Request.URL.Parse(loc)
	return c.follow(next.String())
}

// cookie returns the named cookie the jar would send to the app, or nil.
func (c *client) cookie(app *testApp, name string) *http.Cookie {
	u, _ := url.Parse(app.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func mustContain(t *testing.T, what, body, want string) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Fatalf("%s does not contain %q:\n%s", what, want, truncate(body, 3000))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d more bytes)", len(s)-n)
}
