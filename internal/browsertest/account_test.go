package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestSessionsAcrossBrowsers: two browsers signed in as one user. A opens
// "Your sessions" in place and sees both; A ends B's session, through the
// re-authentication the action needs; the list re-renders in place with a
// polite message, and B's next htmx request lands on the login.
func TestSessionsAcrossBrowsers(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t, "REAUTH_MAX_AGE=3s")
	ta, tbB := newTab(t), newTab(t)
	ta.label, tbB.label = "A", "B"
	// The 401s that send htmx to the login are expected answers.
	ta.allow(`status of 401 .*/profile/sessions/.*/end`)
	tbB.allow(`status of 401 .*/profile/userinfo`)
	for _, tab := range []*tab{ta, tbB} {
		tab.navigate(a.URL + "/login")
		tab.signIn(a, "alice")
		tab.waitVisible(`[data-testid="profile-card"]`)
	}

	ta.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
	ta.click(`#sessions-toggle`)
	ta.waitVisible(`[data-testid="session-list"]`)
	ta.sameDocument("Your sessions")
	if n := ta.count(`[data-testid="session"]`); n != 2 {
		t.Fatalf("%d sessions listed, want 2", n)
	}
	if n := ta.count(`[data-testid="this-device"]`); n != 1 {
		t.Errorf("%d rows marked this device, want 1", n)
	}
	if got := ta.attr("#sessions-toggle", "aria-expanded"); got != "true" {
		t.Errorf("aria-expanded = %q", got)
	}
	ta.look("sessions-open")

	// The authentication is older than REAUTH_MAX_AGE by now: Sign out on
	// B goes to the provider first, and comes back to the list.
	time.Sleep(3100 * time.Millisecond)
	ta.clickAndLoad(`[data-testid="session"]:not([data-current]) [data-testid="session-end"]`)
	ta.waitVisible(`input[name="username"]`)
	ta.look("reauth-at-provider")
	ta.signIn(a, "alice")
	ta.waitVisible(`[data-testid="session-list"]`)
	if p := ta.path(); p != "/profile/sessions" {
		t.Errorf("after the re-authentication at %s, want /profile/sessions", p)
	}
	ta.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
	ta.click(`[data-testid="session"]:not([data-current]) [data-testid="session-end"]`)
	ta.waitText(`[data-testid="sessions-status"]`, "Signed out of Headless Chrome on Linux.")
	ta.sameDocument("Sign out of B")
	if n := ta.count(`[data-testid="session"]`); n != 1 {
		t.Errorf("%d sessions after signing B out, want 1", n)
	}
	if got := ta.text(`[data-testid="sessions-message"]`); got != "Signed out of Headless Chrome on Linux." {
		t.Errorf("message %q", got)
	}
	ta.look("sessions-after-sign-out")

	// B: its next htmx request navigates to the login.
	tbB.click(`#details-toggle`)
	tbB.waitVisible(`input[name="username"]`)
	if p := tbB.path(); !strings.Contains(p, "login") && tbB.count(`input[name="password"]`) != 1 {
		t.Errorf("B's htmx request after being signed out is at %s, want the login", p)
	}
}

// TestEditProfile: Edit profile in place, Cancel restores the card, a
// validation error keeps what was typed and says why next to the field,
// Save swaps the updated card in, and a fresh login shows the new name.
// Keyboard only: Tab, Shift+Tab, Enter, Backspace and typing.
func TestEditProfile(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	a := startApp(t)
	tb := newTab(t)
	tb.allow(`status of 422 .*/profile/edit`) // the validation error, swapped in
	tb.navigate(a.URL + "/login")
	tb.signIn(a, "bob")
	tb.waitVisible(`[data-testid="profile-card"]`)
	tb.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))

	tb.tabTo(`[data-testid="edit-profile"]`, 4)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="profile-form"]`)
	tb.sameDocument("Edit profile")
	tb.look("edit-profile")

	tb.tabTo(`[data-testid="cancel-edit"]`, 20)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="profile-head"]`)
	if got := tb.text(`[data-testid="profile-name"]`); got != "Bob Builder" {
		t.Errorf("after Cancel the name is %q", got)
	}
	tb.sameDocument("Cancel")

	tb.tabTo(`[data-testid="edit-profile"]`, 20)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="profile-form"]`)
	// Bob has no picture: type one that is not https, and a new nickname.
	tb.tabTo(`input[name="nickname"]`, 20)
	tb.press(strings.Repeat(kb.Backspace, len("bob")) + "robbie")
	tb.tabTo(`input[name="picture"]`, 1)
	tb.press("http://insecure.example/bob.png")
	tb.tabTo(`[data-testid="save-profile"]`, 6)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="error-picture"]`)
	tb.sameDocument("a validation error")
	if got := eval[string](tb, `document.querySelector('input[name="nickname"]').value`); got != "robbie" {
		t.Errorf("the typed nickname became %q", got)
	}
	if got := tb.attr(`input[name="picture"]`, "aria-invalid"); got != "true" {
		t.Errorf("the picture is aria-invalid=%q", got)
	}
	tb.look("edit-profile-error")

	// Fix it: the name, and no picture after all.
	tb.tabTo(`input[name="name"]`, 20)
	tb.press(strings.Repeat(kb.Backspace, len("Bob Builder")) + "Robert Builder")
	tb.tabTo(`input[name="picture"]`, 3)
	tb.press(strings.Repeat(kb.Backspace, len("http://insecure.example/bob.png")))
	tb.tabTo(`[data-testid="save-profile"]`, 6)
	tb.press(kb.Enter)
	tb.waitVisible(`[data-testid="profile-notice"]`)
	tb.sameDocument("Save")
	if got := tb.text(`[data-testid="profile-name"]`); got != "Robert Builder" {
		t.Errorf("after Save the name is %q", got)
	}
	tb.look("edit-profile-saved")

	// A fresh login in another browser brings the name from the provider.
	fresh := newTab(t)
	fresh.navigate(a.URL + "/login")
	fresh.signIn(a, "bob")
	fresh.waitVisible(`[data-testid="profile-card"]`)
	if got := fresh.text(`[data-testid="profile-name"]`); got != "Robert Builder" {
		t.Errorf("a fresh login shows %q, want the saved name", got)
	}
}
