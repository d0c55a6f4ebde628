package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestJourney is the user's whole path in dev mode: index, Log In, the
// provider's form, the profile card, details inline, logout.
func TestJourney(t *testing.T) {
	app := startApp(t, nil)
	app.waitReady(t)
	if app.DevUsers["alice"] == "" {
		t.Fatalf("banner lists no alice; stderr:\n%s", app.Stderr.String())
	}
	c := newClient(t)

	index := c.get(app.URL + "/")
	if index.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", index.StatusCode)
	}
	if index.Doc(t).Find(`[data-testid="login-button"]`).Length() != 1 {
		t.Fatalf("index has no Log In button:\n%s", index.Body)
	}

	profile, at := c.login(app, "/login", "alice")
	if profile.StatusCode != http.StatusOK || !strings.HasSuffix(at, "/profile") {
		t.Fatalf("after login got %d at %s, want 200 at /profile", profile.StatusCode, at)
	}
	doc := profile.Doc(t)
	if got := doc.Find(`[data-testid="profile-name"]`).Text(); got != "Alice Liddell" {
		t.Errorf("profile name = %q, want Alice Liddell", got)
	}
	if got := doc.Find(`[data-testid="profile-email"]`).Text(); !strings.Contains(got, "@") {
		t.Errorf("profile email = %q", got)
	}
	if src, _ := doc.Find(`[data-testid="avatar-img"]`).Attr("src"); !strings.HasSuffix(src, "/avatars/alice.svg") {
		t.Errorf("avatar src = %q", src)
	}
	if cc := profile.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("profile Cache-Control = %q, want no-store", cc)
	}

	// Show details, as htmx asks for it: the fragment, not a page.
	frag := c.get(app.URL+"/profile/userinfo", "HX-Request", "true")
	if frag.StatusCode != http.StatusOK {
		t.Fatalf("details fragment = %d", frag.StatusCode)
	}
	if strings.Contains(frag.Body, "<html") {
		t.Errorf("htmx fragment is a whole page")
	}
	pre := frag.Doc(t).Find("pre").Text()
	if !strings.Contains(pre, "\n  \"sub\": \"devidp|alice\"") {
		t.Errorf("details are not 2-space pretty JSON with the sub:\n%s", pre)
	}
	if exp, _ := frag.Doc(t).Find("#details-toggle").Attr("aria-expanded"); exp != "true" {
		t.Errorf("toggle aria-expanded = %q after Show details", exp)
	}

	// Without JavaScript the same link is a full page with the details.
	full := c.get(app.URL + "/profile/userinfo")
	if !strings.Contains(full.Body, "<html") || full.Doc(t).Find("pre").Length() != 1 {
		t.Errorf("no-JS details page is not a full page with the JSON")
	}

	// Logout ends the session here and goes to the provider's end_session.
	sessionCookie := c.cookie(app, "session")
	if sessionCookie == nil {
		t.Fatal("no session cookie after login")
	}
	out := c.postForm(app.URL+"/logout", url.Values{}, "Origin", app.URL, "Sec-Fetch-Site", "same-origin")
	if out.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout = %d, want 303", out.StatusCode)
	}
	loc, _ := url.Parse(out.Header.Get("Location"))
	if q := loc.Query(); q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != app.URL+"/" {
		t.Errorf("logout Location %s lacks id_token_hint or post_logout_redirect_uri", loc)
	}
	back, at := c.follow(loc.String())
	if !strings.HasPrefix(at, app.URL) || back.Doc(t).Find(`[data-testid="login-card"]`).Length() != 1 {
		t.Fatalf("after logout landed on %s without the login card:\n%s", at, truncate(back.Body, 2000))
	}

	// The old cookie is dead, even replayed by hand.
	replay := newClient(t)
	u, _ := url.Parse(app.URL)
	replay.jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: sessionCookie.Value}})
	if r := replay.get(app.URL + "/profile"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie after logout: GET /profile = %d, want 303 to login", r.StatusCode)
	}
}

// TestTwoTabs: two login attempts open at once in one browser both finish,
// because each attempt has its own state cookie.
func TestTwoTabs(t *testing.T) {
	app := startApp(t, nil)
	app.waitReady(t)
	c := newClient(t)
	pageA, urlA := c.follow(app.URL + "/login?returnTo=/profile")
	pageB, urlB := c.follow(app.URL + "/login")
	if urlA == urlB {
		t.Fatal("two attempts got the same provider URL: state is not fresh")
	}
	for _, tab := range []struct {
		page *response
		url  string
	}{{pageB, urlB}, {pageA, urlA}} {
		resp := c.signInAtDevProvider(tab.page, tab.url, "alice", app.DevUsers["alice"])
		next, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
		final, at := c.follow(next.String())
		if final.StatusCode != http.StatusOK || !strings.HasSuffix(at, "/profile") {
			t.Fatalf("tab finished with %d at %s:\n%s", final.StatusCode, at, truncate(final.Body, 1500))
		}
	}
}

// TestDeepLinkReturns: /profile while anonymous goes to the login and comes
// back to /profile.
func TestDeepLinkReturns(t *testing.T) {
	app := startApp(t, nil)
	app.waitReady(t)
	c := newClient(t)
	final, at := c.login(app, "/profile", "maria")
	if final.StatusCode != http.StatusOK || at != app.URL+"/profile" {
		t.Fatalf("deep link ended with %d at %s", final.StatusCode, at)
	}
	if got := final.Doc(t).Find(`[data-testid="email-unverified"]`).Length(); got != 1 {
		t.Errorf("maria's unverified email has no mark")
	}
}
