package browsertest

// The tab: one page in the shared browser, with the checks that every
// journey runs on every page it visits.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// viewport is a screen the pages are looked at on.
type viewport struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool
}

var (
	desktop = viewport{name: "desktop", width: 1280, height: 800, scale: 1}
	phone   = viewport{name: "mobile", width: 360, height: 740, scale: 2, mobile: true}
)

// schemes are the values of prefers-color-scheme the pages are looked at in.
var schemes = []string{"light", "dark"}

// cspListener turns every securitypolicyviolation event into a console
// error, which the tab's listener then records. It is added by the test
// through the DevTools protocol, which the page's CSP does not govern.
const cspListener = `document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " in " + e.sourceFile + ":" + e.lineNumber + " on " + e.documentURI);
}, true);`

// tab is one browser tab and everything its page reported.
type tab struct {
	t   *testing.T
	ctx context.Context
	// label names the tab in screenshot file names.
	label string
	// noJS is set when the tab runs no scripts.
	noJS bool

	mu       sync.Mutex
	problems []string
	allowed  []*regexp.Regexp
	// requests are the URLs of the documents the tab asked for.
	requests []string
	steps    int
}

// newTab opens a tab in a fresh browser context: no cookies, no cache, no
// history shared with other tests.
func newTab(t *testing.T) *tab {
	t.Helper()
	needBrowser(t)
	return openTab(t, browserCtx, "", chromedp.WithNewBrowserContext())
}

// sibling opens another tab in the same browser context as tb: the same
// cookies, as a user's second tab has.
func (tb *tab) sibling(label string) *tab {
	tb.t.Helper()
	return openTab(tb.t, tb.ctx, label)
}

func openTab(t *testing.T, parent context.Context, label string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	tb := &tab{t: t, label: label}
	opts = append(opts, chromedp.WithListener(tb.listen))
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(func() {
		tb.checkConsole()
		cancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb.ctx = ctx
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener}); err != nil {
		t.Fatalf("add the CSP listener: %v", err)
	}
	tb.emulate(desktop, "light")
	return tb
}

// listen records what the page reports: console errors and warnings,
// uncaught exceptions, and browser log entries (failed loads, CSP
// reports, interventions). It runs on the tab's event loop, so it only
// appends.
func (tb *tab) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, strings.Trim(string(a.Value), `"`))
			} else {
				args = append(args, a.Description)
			}
		}
		msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		msg = fmt.Sprintf("uncaught exception: %s (%s:%d)", text, d.URL, d.LineNumber+1)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError && e.Level != log.EntryLevelWarning {
			return
		}
		msg = fmt.Sprintf("browser log %s [%s]: %s (%s)", e.Level, e.Source, e.Text, e.URL)
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			tb.mu.Lock()
			tb.requests = append(tb.requests, ev.Request.URL)
			tb.mu.Unlock()
		}
		return
	default:
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, msg)
	tb.mu.Unlock()
}

// allow accepts console entries matching pattern: a response status that
// the test itself expects, such as the 401 of an expired session, which the
// browser reports as a failed load.
func (tb *tab) allow(pattern string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowed = append(tb.allowed, regexp.MustCompile(pattern))
}

// checkConsole fails the test on every console error or warning,
// exception, CSP violation or failed load that no allow call expected.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	if tb.ctx == nil {
		return // the tab never opened
	}
	// A round trip: every event sent before the answer has been recorded.
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`0`))
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		ok := false
		for _, re := range tb.allowed {
			if re.MatchString(p) {
				ok = true
				break
			}
		}
		if !ok {
			tb.t.Errorf("%s", p)
		}
	}
	tb.problems = nil
}

// do runs actions on the tab and fails the test on an error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v (at %s)", what, err, tb.location())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// location is the URL of the page, or "?".
func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return u
}

// path is the path of the page's URL.
func (tb *tab) path() string {
	u, err := url.Parse(tb.location())
	if err != nil {
		return "?"
	}
	return u.Path
}

// navigate loads a URL and waits for the load event.
func (tb *tab) navigate(u string) {
	tb.t.Helper()
	tb.do("navigate to "+u, chromedp.Navigate(u))
}

// click clicks the first element that the CSS selector matches.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// clickAndLoad clicks and waits for the page that the click navigates to.
func (tb *tab) clickAndLoad(sel string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
	if err != nil {
		tb.t.Fatalf("click %s and wait for the next page: %v (at %s)", sel, err, tb.location())
	}
}

// pressAndLoad presses keys and waits for the page that they navigate to.
func (tb *tab) pressAndLoad(keys string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(keys)))
	if err != nil {
		tb.t.Fatalf("press %q and wait for the next page: %v (at %s)", keys, err, tb.location())
	}
}

// waitVisible waits until the CSS selector matches a visible element.
func (tb *tab) waitVisible(sel string) {
	tb.t.Helper()
	tb.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// waitGone waits until nothing matches the CSS selector.
func (tb *tab) waitGone(sel string) {
	tb.t.Helper()
	tb.do("wait for "+sel+" to go", chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

// text is the visible text of the first element the selector matches.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("text of %s: %v (at %s)", sel, err, tb.location())
	}
	return strings.TrimSpace(s)
}

// count is how many elements the selector matches now.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// attr is an attribute of the first element the selector matches, "" when
// the element or the attribute is missing.
func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(document.querySelector(%q)?.getAttribute(%q)) ?? ""`, sel, name))
}

// signIn fills in the dev provider's login form, which must be showing,
// and submits it.
func (tb *tab) signIn(a *app, user string) {
	tb.t.Helper()
	tb.waitVisible(`input[name="username"]`)
	tb.do("fill in the login form",
		// The provider may have filled in the username (login_hint).
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name="username"]').value = ""`),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), a.Password(tb.t, user)),
	)
	tb.clickAndLoad(`form button[type="submit"]`)
}

// emulate sets the screen and the color scheme.
func (tb *tab) emulate(v viewport, scheme string) {
	tb.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(v.scale)}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	tb.do("emulate "+v.name+" "+scheme,
		chromedp.EmulateViewport(v.width, v.height, opts...),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}),
		// A change of scheme starts the colour transitions: wait them out,
		// so that axe and the screenshots see the settled colours.
		chromedp.Evaluate[chromedp.Void](`Promise.all(document.getAnimations().filter((a) => a instanceof CSSTransition).map((a) => a.finished.catch(() => {})))`, chromedp.EvalAwaitPromise),
	)
}

// look is one step of a journey: it runs axe on the page in light and dark,
// checks that the page fits a 360 px phone without sideways scrolling, and
// saves screenshots on a desktop and a phone, light and dark. It leaves the
// tab as it found it: desktop, light.
func (tb *tab) look(step string) {
	tb.t.Helper()
	tb.mu.Lock()
	tb.steps++
	n := tb.steps
	tb.mu.Unlock()
	base := fmt.Sprintf("%s-%02d-%s", tb.fileBase(), n, step)
	colors := map[string]string{}
	for _, scheme := range schemes {
		for _, v := range []viewport{desktop, phone} {
			tb.emulate(v, scheme)
			if v == desktop {
				// axe-core itself needs scripts; without them the
				// same pages are audited by the journeys with them.
				if !tb.noJS {
					tb.axe(step + " (" + scheme + ")")
				}
				colors[scheme] = eval[string](tb, `getComputedStyle(document.body).color + " on " + getComputedStyle(document.documentElement).backgroundColor`)
			} else {
				tb.fitsWidth(step)
			}
			tb.screenshot(fmt.Sprintf("%s-%s-%s", base, v.name, scheme))
		}
	}
	if colors["light"] == colors["dark"] {
		tb.t.Errorf("%s: light and dark look the same (%s)", step, colors["light"])
	}
	tb.emulate(desktop, "light")
}

// fitsWidth fails when the page scrolls sideways.
func (tb *tab) fitsWidth(step string) {
	tb.t.Helper()
	if w := eval[[]int](tb, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		tb.t.Errorf("%s: page is %d px wide in a %d px viewport", step, w[0], w[1])
	}
}

// screenshot saves a PNG of the whole page into the artifacts.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	tb.saveArtifact(name, buf)
}

// saveArtifact writes a PNG into the artifacts, named after the test.
func (tb *tab) saveArtifact(name string, png []byte) {
	tb.t.Helper()
	if !strings.HasPrefix(name, tb.fileBase()) {
		name = tb.fileBase() + "-" + name
	}
	if err := os.WriteFile(filepath.Join(artifactsDir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// fileBase starts the names of the tab's artifacts.
func (tb *tab) fileBase() string {
	base := strings.NewReplacer("/", "-", " ", "-").Replace(tb.t.Name())
	if tb.label != "" {
		base += "-" + tb.label
	}
	return base
}
