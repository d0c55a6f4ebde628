package browsertest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestAvatarFallback: when the picture fails to load, the avatar looks
// exactly as it does for a user without a picture: the initials.
func TestAvatarFallback(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)
	// The picture is blocked as a broken link would be; the browser reports
	// the failed load, which is this test's point.
	tb.allow(`ERR_BLOCKED_BY_CLIENT .*/avatars/alice\.svg`)
	if _, err := chromedp.Call(tb.ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/avatars/*", Block: true}},
	}); err != nil {
		t.Fatalf("block the avatars: %v", err)
	}

	tb.navigate(a.URL + "/profile")
	tb.signIn(a, "alice")
	tb.waitVisible(`[data-testid="profile-card"]`)
	if !eval[bool](tb, `(() => { const i = document.querySelector('[data-testid="avatar-img"]'); return !!i && i.complete && i.naturalWidth === 0; })()`) {
		t.Fatal("the blocked picture loaded anyway, or there is no img")
	}
	if got := tb.text(`[data-testid="avatar-initials"]`); got != "AL" {
		t.Errorf("initials = %q, want AL", got)
	}
	tb.look("avatar-broken-picture")

	for _, scheme := range schemes {
		tb.emulate(desktop, scheme)
		broken := tb.shot(`[data-testid="avatar"]`)
		tb.do("remove the picture", chromedp.Evaluate[chromedp.Void](`window.__img = document.querySelector('[data-testid="avatar-img"]'); window.__img.remove()`))
		none := tb.shot(`[data-testid="avatar"]`)
		tb.do("put the picture back", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="avatar"]').append(window.__img)`))
		tb.saveArtifact("avatar-broken-picture-"+scheme, broken)
		tb.saveArtifact("avatar-no-picture-"+scheme, none)
		// Inside the circle: its anti-aliased rim blends twice when the
		// broken picture paints over the avatar, a difference nobody sees.
		if d := pixelDiff(t, broken, none, offRim(2)); d != 0 {
			t.Errorf("%s: the avatar with a broken picture differs from the initials-only avatar in %d pixels", scheme, d)
		}
		if d := pixelDiff(t, broken, tb.blank(`[data-testid="avatar"]`), offRim(2)); d < 50 {
			t.Errorf("%s: the avatar with a broken picture shows no initials (%d pixels differ from an empty avatar)", scheme, d)
		}
	}
	tb.emulate(desktop, "light")
}

// TestErrorPages: errors are pages that say what happened and what to do,
// with a way on; the anonymous details page leads through the login back
// to the profile.
func TestErrorPages(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)
	// Error pages come with their error statuses, which the browser logs.
	tb.allow(`status of 40[014] \(`)

	tb.navigate(a.URL + "/no-such-page")
	tb.waitVisible(`[data-testid="error-card"]`)
	if got := tb.text(`[data-testid="error-status"]`); !strings.Contains(got, "404") {
		t.Errorf("error status = %q, want 404", got)
	}
	if got := tb.text("h1"); got == "" {
		t.Error("the 404 page has no heading")
	}
	if tb.count(`[data-testid="error-card"] a[href="/"]`) != 1 {
		t.Error("the 404 page has no way back to the start page")
	}
	tb.look("error-not-found")

	tb.navigate(a.URL + "/callback?state=forged&code=x")
	tb.waitVisible(`[data-testid="error-card"]`)
	if got := tb.text(`[data-testid="error-status"]`); !strings.Contains(got, "400") {
		t.Errorf("error status = %q, want 400", got)
	}
	if got := tb.text(`[data-testid="error-message"]`); got == "" {
		t.Error("the 400 page says nothing about what happened")
	}
	if tb.count(`.hint`) != 1 {
		t.Error("the 400 page says nothing about what to do")
	}
	tb.look("error-bad-callback")
	tb.clickAndLoad(`[data-testid="error-card"] a[href="/login"]`)
	tb.waitVisible(`input[name="username"]`)

	// The details page without a session: a page that asks to log in, and
	// its Log In comes back to the profile.
	tb.navigate(a.URL + "/profile/userinfo")
	tb.waitVisible(`[data-testid="error-card"]`)
	if got := tb.text(`[data-testid="error-status"]`); !strings.Contains(got, "401") {
		t.Errorf("error status = %q, want 401", got)
	}
	tb.look("error-log-in-first")
	tb.clickAndLoad(`[data-testid="error-card"] a[href^="/login"]`)
	tb.signIn(a, "bob")
	tb.waitVisible(`[data-testid="profile-card"]`)
	if p := tb.path(); p != "/profile" {
		t.Errorf("after logging in from the 401 page at %s, want /profile", p)
	}
}

// TestChecksCatchProblems: the checks that every journey relies on do fail
// on a CSP violation, a console error, an uncaught exception and an axe
// violation, so that their silence means something.
func TestChecksCatchProblems(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)
	tb.navigate(a.URL + "/")

	tb.do("break the page",
		// An inline style element, which the CSP forbids.
		chromedp.Evaluate[chromedp.Void](`document.head.append(Object.assign(document.createElement("style"), {textContent: "body { color: red }"}))`),
		chromedp.Evaluate[chromedp.Void](`console.error("an error on the console")`),
		chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error("an uncaught exception") })`),
		chromedp.Sleep(100*time.Millisecond),
	)
	eval[int](tb, `0`)
	tb.mu.Lock()
	got := strings.Join(tb.problems, "\n")
	tb.problems = nil
	tb.mu.Unlock()
	for _, want := range []string{
		"CSP violation: style-src-elem",              // the page's securitypolicyviolation event
		"[security]: Applying inline style violates", // the browser's own report, also without scripts
		"an error on the console",
		"an uncaught exception",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the console check missed %q; it saw:\n%s", want, got)
		}
	}

	tb.do("add an image without alt text",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("main").append(Object.assign(document.createElement("img"), {src: document.querySelector(".brand-mark").src, width: 20, height: 20}))`))
	found := false
	for _, v := range tb.audit() {
		if v.ID == "image-alt" && v.Impact == "critical" {
			found = true
		}
	}
	if !found {
		t.Error("axe did not report the image without alt text")
	}
}

// shot is a PNG screenshot of the first element the selector matches.
func (tb *tab) shot(sel string) []byte {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", sel, err)
	}
	return b
}

// blank is a screenshot of the element with its content hidden.
func (tb *tab) blank(sel string) []byte {
	tb.t.Helper()
	tb.do("hide the content", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('`+sel+` > *').forEach((e) => e.classList.add("visually-hidden"))`))
	b := tb.shot(sel)
	tb.do("show the content", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('`+sel+` > *').forEach((e) => e.classList.remove("visually-hidden"))`))
	return b
}

// offRim selects every pixel but those within margin pixels of the rim of
// the circle inscribed in the image.
func offRim(margin float64) func(r image.Rectangle, x, y int) bool {
	return func(r image.Rectangle, x, y int) bool {
		cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
		rad := float64(min(r.Dx(), r.Dy())) / 2
		dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
		d := math.Sqrt(dx*dx + dy*dy)
		return math.Abs(d-rad) > margin
	}
}

// pixelDiff counts the pixels in which two PNGs of the same size differ,
// among those that in selects.
func pixelDiff(t *testing.T, a, b []byte, in func(r image.Rectangle, x, y int) bool) int {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("screenshots differ in size: %v and %v", ia.Bounds(), ib.Bounds())
	}
	n := 0
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if in(r, x, y) && !sameColor(ia, ib, x, y) {
				n++
			}
		}
	}
	return n
}

func sameColor(a, b image.Image, x, y int) bool {
	r1, g1, b1, a1 := a.At(x, y).RGBA()
	r2, g2, b2, a2 := b.At(x, y).RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}
