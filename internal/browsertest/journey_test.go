package browsertest

import (
	"context"
	"iter"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// TestLogInShowDetailsLogOut is the user's own path: Log In, the provider's
// form, the profile card with name and picture, details inline and
// collapsed again without leaving the page (with a loading indicator while
// they load), Logout back to the index, and the back button not showing the
// profile again.
func TestLogInShowDetailsLogOut(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)

	tb.navigate(a.URL + "/")
	tb.waitVisible(`[data-testid="login-card"]`)
	if got := tb.text(`[data-testid="login-button"]`); got != "Log In" {
		t.Errorf("login button says %q, want Log In", got)
	}
	tb.look("index")

	tb.clickAndLoad(`[data-testid="login-button"]`)
	tb.waitVisible(`input[name="username"]`)
	tb.look("provider-login")

	tb.signIn(a, "alice")
	tb.waitVisible(`[data-testid="profile-card"]`)
	if p := tb.path(); p != "/profile" {
		t.Errorf("after login at %s, want /profile", p)
	}
	if got := tb.text(`[data-testid="profile-name"]`); got != "Alice Liddell" {
		t.Errorf("profile name = %q, want Alice Liddell", got)
	}
	if got := tb.text(`[data-testid="profile-email"]`); got != "alice@example.com" {
		t.Errorf("profile email = %q, want alice@example.com", got)
	}
	if !eval[bool](tb, `(() => {
		const i = document.querySelector('[data-testid="avatar-img"]');
		return !!i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width >= 64;
	})()`) {
		t.Errorf("the profile picture did not load or is not shown")
	}
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "false" {
		t.Errorf("details toggle aria-expanded = %q before Show details, want false", got)
	}
	tb.look("profile")

	// Show details: htmx swaps the JSON into the card. The request is held
	// back at the network layer so that the loading state can be seen.
	tb.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
	held := tb.holdRequests("*/profile/userinfo*")
	tb.click(`[data-testid="details-toggle"]`)
	req := held.next()
	if !eval[bool](tb, `document.getElementById("details-spinner").classList.contains("htmx-request")`) {
		t.Errorf("no loading indicator while the details load")
	}
	if got := eval[string](tb, `getComputedStyle(document.getElementById("details-spinner")).animationName`); got != "spin" {
		t.Errorf("loading indicator animation = %q, want spin", got)
	}
	tb.look("details-loading")
	held.release(req)
	held.stop()

	tb.waitVisible(`[data-testid="userinfo"]`)
	json := tb.text(`[data-testid="userinfo"]`)
	for _, want := range []string{`"sub": "devidp|alice"`, `"name": "Alice Liddell"`, "\n  \"email\": \"alice@example.com\""} {
		if !strings.Contains(json, want) {
			t.Errorf("details lack %q; got\n%s", want, json)
		}
	}
	tb.sameDocument("Show details")
	if p := tb.path(); p != "/profile" {
		t.Errorf("Show details moved the page to %s", p)
	}
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "true" {
		t.Errorf("details toggle aria-expanded = %q after Show details, want true", got)
	}
	if got := tb.text(`[data-testid="details-toggle"]`); got != "Hide details" {
		t.Errorf("toggle says %q after Show details, want Hide details", got)
	}
	if got := tb.attr("#details-region", "aria-live"); got != "polite" {
		t.Errorf("#details-region aria-live = %q, want polite", got)
	}
	if tb.count(`#details-region [data-testid="userinfo"]`) != 1 {
		t.Errorf("the details are not inside the live region")
	}
	tb.look("details-open")

	tb.click(`[data-testid="details-toggle"]`)
	tb.waitGone(`[data-testid="userinfo"]`)
	tb.sameDocument("Hide details")
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "false" {
		t.Errorf("details toggle aria-expanded = %q after Hide details, want false", got)
	}
	if tb.count(`[data-testid="profile-card"]`) != 1 || tb.count(`#details`) != 1 {
		t.Errorf("after Hide details: %d profile cards, %d #details, want 1 and 1", tb.count(`[data-testid="profile-card"]`), tb.count(`#details`))
	}
	tb.look("details-closed")

	tb.clickAndLoad(`[data-testid="logout-button"]`)
	tb.waitVisible(`[data-testid="login-card"]`)
	if u := tb.location(); u != a.URL+"/" {
		t.Errorf("after logout at %s, want %s/", u, a.URL)
	}
	if got := tb.text(`[data-testid="signed-out"]`); got != "You have signed out." {
		t.Errorf("after logout the index says %q, want that you signed out", got)
	}
	tb.look("logged-out")

	// Back: the profile page is not shown from any cache; asking for it
	// again finds no session and goes to the login.
	tb.do("go back", chromedp.NavigateBack())
	tb.settle()
	if n := tb.count(`[data-testid="profile-card"]`); n != 0 {
		t.Errorf("back after logout shows the profile card again (at %s)", tb.location())
	}
	if body := eval[string](tb, `document.body.innerText`); strings.Contains(body, "alice@example.com") {
		t.Errorf("back after logout shows the user's email (at %s)", tb.location())
	}
	if tb.count(`input[name="username"]`) != 1 && tb.count(`[data-testid="login-card"]`) != 1 {
		t.Errorf("back after logout is neither the login form nor the login card (at %s)", tb.location())
	}
	tb.look("back-after-logout")
}

// TestDeepLinkReturnsAfterLogin: opening /profile logged out goes through
// the login and lands back on /profile.
func TestDeepLinkReturnsAfterLogin(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)

	tb.navigate(a.URL + "/profile")
	tb.waitVisible(`input[name="username"]`)
	var sawReturnTo bool
	for _, u := range tb.documentRequests() {
		if pu, err := url.Parse(u); err == nil && pu.Path == "/login" && pu.Query().Get("returnTo") == "/profile" {
			sawReturnTo = true
		}
	}
	if !sawReturnTo {
		t.Errorf("the deep link did not go to /login?returnTo=/profile; documents: %q", tb.documentRequests())
	}
	tb.signIn(a, "bob")
	tb.waitVisible(`[data-testid="profile-card"]`)
	if u := tb.location(); u != a.URL+"/profile" {
		t.Errorf("after login at %s, want %s/profile", u, a.URL)
	}
	if got := tb.text(`[data-testid="profile-name"]`); got != "Bob Builder" {
		t.Errorf("profile name = %q, want Bob Builder", got)
	}
	tb.look("profile-bob")
}

// TestTwoTabsLogInAtOnce: two tabs of one browser both start a login before
// either finishes; both end logged in.
func TestTwoTabsLogInAtOnce(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	first := newTab(t)
	second := first.sibling("second")

	for _, tb := range []*tab{first, second} {
		tb.navigate(a.URL + "/")
		tb.clickAndLoad(`[data-testid="login-button"]`)
		tb.waitVisible(`input[name="username"]`)
	}
	var wg sync.WaitGroup
	for _, tb := range []*tab{first, second} {
		wg.Go(func() {
			// Fill in both forms, then submit them at the same time.
			tb.do("fill in the login form",
				chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "maria"),
				chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), a.Password(t, "maria")),
			)
		})
	}
	wg.Wait()
	for _, tb := range []*tab{first, second} {
		wg.Go(func() { tb.clickAndLoad(`form button[type="submit"]`) })
	}
	wg.Wait()
	for i, tb := range []*tab{first, second} {
		tb.waitVisible(`[data-testid="profile-card"]`)
		if got := tb.text(`[data-testid="profile-name"]`); !strings.HasPrefix(got, "María-José") {
			t.Errorf("tab %d: profile name = %q", i+1, got)
		}
		// Still logged in on a fresh load, not only on the redirect.
		tb.navigate(a.URL + "/profile")
		if tb.count(`[data-testid="profile-card"]`) != 1 {
			t.Errorf("tab %d is not logged in after both logins (at %s)", i+1, tb.location())
		}
	}
	first.look("profile-maria")
	if got := first.text(`[data-testid="email-unverified"]`); got != "not verified" {
		t.Errorf("unverified email badge says %q", got)
	}
}

// TestSessionExpiresWhileOpen: the session ends (idle timeout) while the
// profile is open; Show details then takes the user to the login page,
// never a login page swapped into the card.
func TestSessionExpiresWhileOpen(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	const idle = 2 * time.Second
	a := startApp(t, "SESSION_IDLE_TIMEOUT="+idle.String())
	tb := newTab(t)
	// The browser reports the contracted 401 of the htmx request.
	tb.allow(`status of 401 .*/profile/userinfo`)

	tb.navigate(a.URL + "/")
	tb.clickAndLoad(`[data-testid="login-button"]`)
	tb.signIn(a, "alice")
	tb.waitVisible(`[data-testid="profile-card"]`)
	tb.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))

	time.Sleep(idle + 500*time.Millisecond)
	tb.clickAndLoad(`[data-testid="details-toggle"]`)
	tb.settle()
	if eval[bool](tb, `window.__marker === 1`) {
		t.Fatalf("Show details after the session expired stayed on the page (at %s); card:\n%s",
			tb.location(), eval[string](tb, `document.querySelector("#details")?.outerHTML ?? ""`))
	}
	if tb.count(`input[name="username"]`) != 1 {
		t.Errorf("after the session expired, Show details went to %s, not the login form", tb.location())
	}
	tb.look("expired-to-login")
	tb.signIn(a, "alice")
	tb.waitVisible(`[data-testid="profile-card"]`)
	if p := tb.path(); p != "/profile" {
		t.Errorf("after logging in again at %s, want /profile", p)
	}
}

// sameDocument fails when the page navigated since window.__marker was set.
func (tb *tab) sameDocument(after string) {
	tb.t.Helper()
	if !eval[bool](tb, `window.__marker === 1`) {
		tb.t.Errorf("%s navigated away: window.__marker is gone (at %s)", after, tb.location())
	}
}

// settle waits until the page has loaded and no navigation is pending.
func (tb *tab) settle() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		tb.t.Fatalf("wait for the page to load: %v (at %s)", err, tb.location())
	}
}

// documentRequests are the URLs of the documents the tab asked for so far.
func (tb *tab) documentRequests() []string {
	tb.t.Helper()
	// A round trip, so that the events before it have been recorded.
	eval[int](tb, `0`)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.requests...)
}

// heldRequests pauses the page's requests to a URL pattern.
type heldRequests struct {
	tb     *tab
	events func() (fetch.EventRequestPaused, error, bool)
	stopFn context.CancelFunc
}

// holdRequests pauses every request that matches the pattern until
// release; stop lets them through again.
func (tb *tab) holdRequests(pattern string) *heldRequests {
	tb.t.Helper()
	ctx, cancel := context.WithCancel(tb.ctx)
	next, stop := iter.Pull2(chromedp.Events(ctx, fetch.RequestPaused))
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		cancel()
		tb.t.Fatalf("hold requests to %s: %v", pattern, err)
	}
	return &heldRequests{tb: tb, events: next, stopFn: func() { stop(); cancel() }}
}

// next waits for the next held request.
func (h *heldRequests) next() *fetch.EventRequestPaused {
	h.tb.t.Helper()
	type result struct {
		ev  *fetch.EventRequestPaused
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ev, err, ok := h.events()
		if !ok && err == nil {
			err = context.Canceled
		}
		ch <- result{&ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			h.tb.t.Fatalf("wait for a held request: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		h.tb.t.Fatalf("no request was held within 10s")
	}
	return nil
}

// release lets a held request go on to the server.
func (h *heldRequests) release(ev *fetch.EventRequestPaused) {
	h.tb.t.Helper()
	if _, err := chromedp.Call(h.tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
		h.tb.t.Fatalf("release %s: %v", ev.Request.URL, err)
	}
}

// stop holds no more requests.
func (h *heldRequests) stop() {
	h.tb.t.Helper()
	if _, err := chromedp.Call(h.tb.ctx, fetch.Disable, cdp.Empty{}); err != nil {
		h.tb.t.Fatalf("stop holding requests: %v", err)
	}
	h.stopFn()
}
