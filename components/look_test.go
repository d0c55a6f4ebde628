package components

import "testing"

// TestAvatarCarriesInitials: the CSS paints a broken picture as the
// initials from its data-initials (internal/browsertest compares the
// pixels), so the picture must carry the same initials as the fallback.
func TestAvatarCarriesInitials(t *testing.T) {
	doc, _ := render(t, Avatar(Profile{Picture: "https://img.example.com/a.png", Initials: "AL"}))
	if got, _ := doc.Find(`[data-testid="avatar-img"]`).Attr("data-initials"); got != "AL" {
		t.Errorf("picture data-initials = %q, want AL", got)
	}
	if got, _ := doc.Find(`[data-testid="avatar-img"]`).Attr("alt"); got != "" {
		t.Errorf("picture alt = %q, want empty: the name is in the heading", got)
	}
	if got := doc.Find(`[data-testid="avatar-initials"]`).Text(); got != "AL" {
		t.Errorf("initials = %q, want AL", got)
	}
}

// TestDetailsToggleBothStates: the toggle keeps its id (htmx moves the
// focus to the new one after the swap), its loading indicator and its form
// fallback in both states.
func TestDetailsToggleBothStates(t *testing.T) {
	tests := []struct {
		open             bool
		expanded, action string
	}{
		{false, "false", "/profile/userinfo"},
		{true, "true", "/profile"},
	}
	for _, tt := range tests {
		doc, html := render(t, DetailsSection(Details{Open: tt.open, JSON: "{}"}))
		toggle := doc.Find(`form[method="get"] #details-toggle`)
		if toggle.Length() != 1 {
			t.Fatalf("open=%v: no #details-toggle in a GET form", tt.open)
		}
		if got, _ := toggle.Closest("form").Attr("action"); got != tt.action {
			t.Errorf("open=%v: form action = %q, want %q", tt.open, got, tt.action)
		}
		if got, _ := toggle.Attr("aria-expanded"); got != tt.expanded {
			t.Errorf("open=%v: aria-expanded = %q, want %q", tt.open, got, tt.expanded)
		}
		if got, _ := toggle.Attr("hx-indicator"); got != "#details-spinner" || toggle.Find("#details-spinner").Length() != 1 {
			t.Errorf("open=%v: hx-indicator = %q, or the spinner is not in the toggle", tt.open, got)
		}
		assertNoInlineCode(t, doc, html)
	}
}
