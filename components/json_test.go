package components

import (
	"strings"
	"testing"
)

// TestHighlightJSON: the coloured JSON has the same text as the JSON
// (indentation included, so copying gives it back), every token type has
// its class, claims holding HTML stay text, and lines carry their depth.
func TestHighlightJSON(t *testing.T) {
	pretty := `{
  "sub": "auth0|1",
  "name": "<b>Grace</b> & \"Amazing\"",
  "email_verified": true,
  "age": 42,
  "score": 1.5e3,
  "nick": null,
  "app_metadata": {
    "roles": [
      "admin"
    ]
  }
}`
	doc, html := render(t, UserInfo(pretty))
	pre := doc.Find(`[data-testid="userinfo"]`)
	if got := pre.Text(); got != pretty {
		t.Errorf("text of the coloured JSON:\n%s\nwant:\n%s", got, pretty)
	}
	if strings.Contains(html, "<b>") {
		t.Error("HTML inside a claim was not escaped")
	}
	for sel, want := range map[string]string{
		`.nt`: `"sub"`, `.s2`: `"auth0|1"`, `.kc`: "true", `.mi`: "42", `.mf`: "1.5e3", `.p`: "{",
	} {
		if got := pre.Find(sel).First().Text(); got != want {
			t.Errorf("first %s = %q, want %q", sel, got, want)
		}
	}
	if n := pre.Find(`.kc`).Length(); n != 2 {
		t.Errorf("%d true/false/null constants, want 2", n)
	}
	if n := pre.Find(".ln").Length(); n != strings.Count(pretty, "\n")+1 {
		t.Errorf("%d lines, want %d", n, strings.Count(pretty, "\n")+1)
	}
	if got := pre.Find(".ln.i3").First().Text(); strings.TrimSpace(got) != `"admin"` {
		t.Errorf("depth 3 line = %q, want the role", got)
	}
	if strings.Contains(html, "style=") {
		t.Error("inline styles in the coloured JSON")
	}
}
