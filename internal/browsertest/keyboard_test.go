package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestKeyboardOnly walks the whole journey with Tab, Shift+Tab, Enter and
// typing only: every control is reachable, its focus is visible, the
// details toggle keeps the focus across the htmx swap and tells its state
// with aria-expanded.
func TestKeyboardOnly(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)

	tb.navigate(a.URL + "/")
	// The first stop is the skip link, and it shows itself when focused.
	tb.press(kb.Tab)
	if !tb.focused(".skip-link") {
		t.Errorf("the first Tab focuses %s, want the skip link", tb.describeFocus())
	}
	tb.focusVisible("skip link")
	if !eval[bool](tb, `(() => { const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.left >= 0 && r.width > 0; })()`) {
		t.Errorf("the focused skip link is off screen")
	}
	tb.tabTo(`[data-testid="login-button"]`, 2)
	tb.look("keyboard-login-button")
	tb.pressAndLoad(kb.Enter)

	// The provider's form: Tab to the username, type, Tab, type, Enter.
	tb.tabTo(`input[name="username"]`, 3)
	tb.press("alice")
	tb.tabTo(`input[name="password"]`, 1)
	tb.press(a.Password(t, "alice"))
	tb.pressAndLoad(kb.Enter)
	tb.waitVisible(`[data-testid="profile-card"]`)

	tb.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
	tb.tabTo(`#details-toggle`, 3)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="userinfo"]`)
	tb.sameDocument("Enter on Show details")
	if !tb.focused(`#details-toggle`) {
		t.Errorf("after Show details the focus is on %s, want the toggle", tb.describeFocus())
	}
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "true" {
		t.Errorf("aria-expanded = %q after Show details, want true", got)
	}
	tb.focusVisible("details toggle after the swap")
	tb.look("keyboard-details-open")

	// Copy, from the keyboard: the clipboard gets the JSON as shown, with
	// its indentation, and a status says so.
	tb.do("watch the clipboard", chromedp.Evaluate[chromedp.Void](`(() => { const w = navigator.clipboard.writeText.bind(navigator.clipboard);
		navigator.clipboard.writeText = (t) => { window.__copied = t; return w(t); }; })()`))
	tb.tabTo(`[data-testid="copy-button"]`, 1)
	tb.press(kb.Enter)
	tb.waitText(`[data-testid="copy-status"]`, "Copied to the clipboard.")
	copied := eval[string](tb, `window.__copied`)
	shown := eval[string](tb, `document.querySelector('[data-testid="userinfo"]').textContent`)
	if copied != shown || !strings.Contains(copied, "\n  \"sub\"") {
		t.Errorf("Copy put %.200q on the clipboard, want the JSON as shown (%d bytes)", copied, len(shown))
	}

	// The JSON can be scrolled from the keyboard, and Shift+Tab goes back.
	tb.tabTo(`[data-testid="userinfo"]`, 1)
	tb.press(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
	tb.press(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
	if !tb.focused(`#details-toggle`) {
		t.Errorf("Shift+Tab twice from the details focuses %s, want the toggle", tb.describeFocus())
	}
	tb.press(kb.Enter)
	tb.waitGone(`[data-testid="userinfo"]`)
	tb.sameDocument("Enter on Hide details")
	if !tb.focused(`#details-toggle`) {
		t.Errorf("after Hide details the focus is on %s, want the toggle", tb.describeFocus())
	}
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "false" {
		t.Errorf("aria-expanded = %q after Hide details, want false", got)
	}

	tb.tabTo(`[data-testid="logout-button"]`, 2) // past Your sessions
	tb.pressAndLoad(kb.Enter)
	tb.waitVisible(`[data-testid="login-card"]`)
}

// press types keys into whatever has the focus.
func (tb *tab) press(keys string, opts ...chromedp.KeyOption) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys, opts...))
}

// focused reports whether the focused element matches the CSS selector.
func (tb *tab) focused(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`!!document.activeElement && document.activeElement.matches(%q)`, sel))
}

// describeFocus names the focused element for failure messages.
func (tb *tab) describeFocus() string {
	tb.t.Helper()
	return eval[string](tb, `(() => { const e = document.activeElement; if (!e) return "nothing";
		return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.name ? "[name=" + e.name + "]" : "") + " " + JSON.stringify((e.innerText || "").trim().slice(0, 40)); })()`)
}

// tabTo presses Tab until the element matching sel has the focus, at most
// max times, and checks that the focus is visible there.
func (tb *tab) tabTo(sel string, max int) {
	tb.t.Helper()
	var path []string
	for range max {
		tb.press(kb.Tab)
		path = append(path, tb.describeFocus())
		if tb.focused(sel) {
			tb.focusVisible(sel)
			return
		}
	}
	tb.t.Fatalf("%d Tab presses did not reach %s; the focus went %q", max, sel, path)
}

// focusVisible fails unless the focused element shows a focus ring of at
// least 2 px.
func (tb *tab) focusVisible(what string) {
	tb.t.Helper()
	ring := eval[string](tb, `(() => { const e = document.activeElement; const s = getComputedStyle(e);
		if (!e.matches(":focus-visible")) return "not :focus-visible";
		if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) < 2) return "outline " + s.outlineStyle + " " + s.outlineWidth;
		return ""; })()`)
	if ring != "" {
		tb.t.Errorf("focus on %s is not visible: %s", what, ring)
	}
}

// waitText waits until the element's text content is want (it may be
// visually hidden, as a status for screen readers is).
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got = eval[string](tb, fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").trim()`, sel))
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.t.Fatalf("%s says %q, want %q", sel, got, want)
}
