package components

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, buf.String()
}

func TestIndexPage(t *testing.T) {
	doc, html := render(t, IndexPage(false))
	btn := doc.Find(`[data-testid="login-button"]`)
	if btn.Length() != 1 || strings.TrimSpace(btn.Text()) != "Log In" {
		t.Fatalf("want one Log In button, got %d %q", btn.Length(), btn.Text())
	}
	if href, _ := btn.Attr("href"); href != "/login" {
		t.Errorf("Log In href = %q, want /login", href)
	}
	if lang, _ := doc.Find("html").Attr("lang"); lang == "" {
		t.Error("html has no lang")
	}
	assertNoInlineCode(t, doc, html)
	if doc.Find(`[data-testid="signed-out"]`).Length() != 0 {
		t.Error("the plain index says the visitor signed out")
	}
	doc, _ = render(t, IndexPage(true))
	if n := doc.Find(`[data-testid="signed-out"][role="status"]`); n.Length() != 1 || !strings.Contains(n.Text(), "signed out") {
		t.Error("the index after a logout does not say so")
	}
}

func TestProfileCard(t *testing.T) {
	tests := []struct {
		name         string
		p            Profile
		wantImg      bool
		wantVerified string // testid of the badge, "" for none
	}{
		{"with picture, verified", Profile{Name: "Alice", Email: "a@example.com", EmailVerified: true, EmailVerifiedKnown: true, Picture: "https://img.example.com/a.png", Initials: "A"}, true, "email-verified"},
		{"no picture, unverified", Profile{Name: "Bob", Email: "b@example.com", EmailVerifiedKnown: true, Initials: "B"}, false, "email-unverified"},
		{"verification unknown", Profile{Name: "Carol", Email: "c@example.com", Initials: "C"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, html := render(t, ProfilePage(tt.p, Details{}, Sessions{}))
			if got := doc.Find(`[data-testid="profile-name"]`).Text(); got != tt.p.Name {
				t.Errorf("name = %q, want %q", got, tt.p.Name)
			}
			if got := doc.Find(`[data-testid="profile-email"]`).Text(); got != tt.p.Email {
				t.Errorf("email = %q, want %q", got, tt.p.Email)
			}
			if got := doc.Find(`[data-testid="avatar-initials"]`).Text(); got != tt.p.Initials {
				t.Errorf("initials = %q, want %q", got, tt.p.Initials)
			}
			if got := doc.Find(`[data-testid="avatar-img"]`).Length() == 1; got != tt.wantImg {
				t.Errorf("avatar img present = %v, want %v", got, tt.wantImg)
			}
			for _, id := range []string{"email-verified", "email-unverified"} {
				if got := doc.Find(`[data-testid="`+id+`"]`).Length() == 1; got != (id == tt.wantVerified) {
					t.Errorf("%s present = %v", id, got)
				}
			}
			form := doc.Find(`form[action="/logout"]`)
			if m, _ := form.Attr("method"); m != "post" {
				t.Errorf("logout form method = %q, want post", m)
			}
			toggle := doc.Find("#details-toggle")
			if exp, _ := toggle.Attr("aria-expanded"); exp != "false" {
				t.Errorf("collapsed toggle aria-expanded = %q", exp)
			}
			if get, _ := toggle.Attr("hx-get"); get != "/profile/userinfo" {
				t.Errorf("toggle hx-get = %q", get)
			}
			if doc.Find(`[data-testid="userinfo"]`).Length() != 0 {
				t.Error("collapsed card shows the userinfo")
			}
			assertNoInlineCode(t, doc, html)
		})
	}
}

// TestPictureURLSanitised: a javascript: picture never reaches the src.
func TestPictureURLSanitised(t *testing.T) {
	doc, _ := render(t, Avatar(Profile{Picture: "javascript:alert(1)", Initials: "X"}))
	if src, _ := doc.Find("img").Attr("src"); strings.HasPrefix(src, "javascript:") {
		t.Errorf("img src = %q", src)
	}
}

// TestUserInfoEscaped: the JSON is shown as text, so HTML in claims (the
// fixture's bio) can not become markup.
func TestUserInfoEscaped(t *testing.T) {
	json := "{\n  \"bio\": \"<script>alert(1)</script><b>x</b>\"\n}"
	doc, html := render(t, DetailsSection(Details{Open: true, JSON: json}))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<b>x</b>") {
		t.Errorf("claims rendered as markup:\n%s", html)
	}
	if got := doc.Find("pre").Text(); got != json {
		t.Errorf("pre text = %q, want the JSON verbatim", got)
	}
	if exp, _ := doc.Find("#details-toggle").Attr("aria-expanded"); exp != "true" {
		t.Errorf("open toggle aria-expanded = %q", exp)
	}
}

func TestErrorPage(t *testing.T) {
	doc, html := render(t, ErrorPage(ErrorView{Status: 400, Title: "Bad <thing>", Message: "msg", ActionURL: "/login", Action: "Log in again", RequestID: "abc-1"}))
	if got := doc.Find(`[data-testid="error-status"]`).Text(); !strings.Contains(got, "400") {
		t.Errorf("status text = %q", got)
	}
	if got := doc.Find("h1").Text(); got != "Bad <thing>" {
		t.Errorf("title = %q", got)
	}
	if doc.Find(`a[href="/login"]`).Length() != 1 || doc.Find(`a[href="/"]`).Length() != 1 {
		t.Error("error page lacks the action and the way back to the start page")
	}
	if !strings.Contains(html, "abc-1") {
		t.Error("error page lacks the request id")
	}
}

func TestLogoutPage(t *testing.T) {
	doc, _ := render(t, LogoutPage(true))
	if doc.Find(`form[action="/logout"][method="post"] button`).Length() != 1 {
		t.Error("logged-in logout page has no POST form with a button")
	}
	doc, _ = render(t, LogoutPage(false))
	if doc.Find(`form[action="/logout"]`).Length() != 0 {
		t.Error("anonymous logout page offers a logout")
	}
}

// assertNoInlineCode: nothing a strict CSP would block.
func assertNoInlineCode(t *testing.T, doc *goquery.Document, html string) {
	t.Helper()
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok {
			t.Error("inline <script>")
		}
	})
	if doc.Find("style").Length() > 0 || doc.Find("[style]").Length() > 0 {
		t.Error("inline style")
	}
	for _, attr := range []string{" onclick=", " onerror=", " onload=", "hx-on"} {
		if strings.Contains(html, attr) {
			t.Errorf("inline handler %q", attr)
		}
	}
}
