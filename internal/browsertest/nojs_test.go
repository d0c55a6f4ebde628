package browsertest

import (
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestWithoutJavaScript: with scripts off, the same actions work as plain
// HTML: Show details and Hide details are full pages, Logout is a form.
func TestWithoutJavaScript(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}
	tb.noJS = true

	tb.navigate(a.URL + "/")
	if tb.htmxRuns() {
		t.Fatal("htmx ran although JavaScript is off")
	}
	tb.clickAndLoad(`[data-testid="login-button"]`)
	tb.signIn(a, "alice")
	tb.waitVisible(`[data-testid="profile-card"]`)

	tb.clickAndLoad(`[data-testid="details-toggle"]`)
	tb.waitVisible(`[data-testid="userinfo"]`)
	if p := tb.path(); p != "/profile/userinfo" {
		t.Errorf("without JavaScript Show details is at %s, want the full page /profile/userinfo", p)
	}
	if n := tb.count(`[data-testid="profile-card"]`); n != 1 {
		t.Errorf("the details page has %d profile cards, want 1", n)
	}
	if got := tb.attr("#details-toggle", "aria-expanded"); got != "true" {
		t.Errorf("aria-expanded = %q on the details page, want true", got)
	}
	tb.look("nojs-details-open")

	tb.clickAndLoad(`[data-testid="details-toggle"]`)
	if p := tb.path(); p != "/profile" {
		t.Errorf("without JavaScript Hide details is at %s, want /profile", p)
	}
	if n := tb.count(`[data-testid="userinfo"]`); n != 0 {
		t.Errorf("Hide details still shows the details")
	}

	if tb.count(`form[method="post"][action="/logout"] [data-testid="logout-button"]`) != 1 {
		t.Fatal("Logout is not a POST form")
	}
	tb.clickAndLoad(`[data-testid="logout-button"]`)
	tb.waitVisible(`[data-testid="login-card"]`)
	if u := tb.location(); u != a.URL+"/" {
		t.Errorf("after logout at %s, want %s/", u, a.URL)
	}
}

// htmxRuns reports whether htmx initialised the page: it adds its own
// stylesheet-free marker, the htmx object, only when scripts run.
func (tb *tab) htmxRuns() bool {
	tb.t.Helper()
	return eval[bool](tb, `typeof window.htmx === "object"`)
}
