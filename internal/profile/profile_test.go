package profile

import (
	"strings"
	"testing"
	_ "time/tzdata"
)

func TestValidate(t *testing.T) {
	good := Edit{Name: "Grace Hopper", Nickname: "grace", Picture: "https://cdn.example.com/g.png", Locale: "en-US", Timezone: "America/New_York"}
	tests := []struct {
		name    string
		edit    func(e *Edit)
		current Edit
		fixed   map[string]bool
		want    string // the field with a problem, "" for none
	}{
		{"good", func(e *Edit) {}, Edit{}, nil, ""},
		{"name empty", func(e *Edit) { e.Name = "" }, Edit{}, nil, FieldName},
		{"name 100 characters of Unicode", func(e *Edit) { e.Name = strings.Repeat("é", 100) }, Edit{}, nil, ""},
		{"name 101 characters", func(e *Edit) { e.Name = strings.Repeat("a", 101) }, Edit{}, nil, FieldName},
		{"name with a newline", func(e *Edit) { e.Name = "Grace\nHopper" }, Edit{}, nil, FieldName},
		{"name with a bidi override", func(e *Edit) { e.Name = "Grace \u202eHopper" }, Edit{}, nil, FieldName},
		{"name invalid UTF-8", func(e *Edit) { e.Name = "Gr\xffce" }, Edit{}, nil, FieldName},
		{"name fixed by the provider is not checked", func(e *Edit) { e.Name = "" }, Edit{}, map[string]bool{FieldName: true}, ""},
		{"nickname 51", func(e *Edit) { e.Nickname = strings.Repeat("n", 51) }, Edit{}, nil, FieldNickname},
		{"picture http", func(e *Edit) { e.Picture = "http://cdn.example.com/g.png" }, Edit{}, nil, FieldPicture},
		{"picture javascript", func(e *Edit) { e.Picture = "javascript:alert(1)" }, Edit{}, nil, FieldPicture},
		{"picture with credentials", func(e *Edit) { e.Picture = "https://u:p@cdn.example.com/g.png" }, Edit{}, nil, FieldPicture},
		{"picture over 2 KB", func(e *Edit) { e.Picture = "https://cdn.example.com/" + strings.Repeat("a", 2048) }, Edit{}, nil, FieldPicture},
		{"picture relative", func(e *Edit) { e.Picture = "/g.png" }, Edit{}, nil, FieldPicture},
		{"picture empty when there is none", func(e *Edit) { e.Picture = "" }, Edit{}, nil, ""},
		{"picture emptied", func(e *Edit) { e.Picture = "" }, Edit{Picture: "https://x.example/p.png"}, nil, FieldPicture},
		{"locale not on the list", func(e *Edit) { e.Locale = "xx-YY" }, Edit{}, nil, FieldLocale},
		{"locale kept from another app", func(e *Edit) { e.Locale = "xx-YY" }, Edit{Locale: "xx-YY"}, nil, ""},
		{"locale unset", func(e *Edit) { e.Locale = "" }, Edit{}, nil, ""},
		{"time zone not IANA", func(e *Edit) { e.Timezone = "Mars/Olympus" }, Edit{}, nil, FieldTimezone},
		{"time zone a path", func(e *Edit) { e.Timezone = "../../etc/passwd" }, Edit{}, nil, FieldTimezone},
		{"time zone kept", func(e *Edit) { e.Timezone = "US/Eastern" }, Edit{Timezone: "US/Eastern"}, nil, ""},
		{"time zone UTC", func(e *Edit) { e.Timezone = "UTC" }, Edit{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.edit(&e)
			p := Validate(e, tt.current, tt.fixed)
			switch {
			case tt.want == "" && len(p) != 0:
				t.Errorf("problems %v, want none", p)
			case tt.want != "" && (len(p) != 1 || p[tt.want] == ""):
				t.Errorf("problems %v, want one for %s", p, tt.want)
			}
		})
	}
}

func TestLists(t *testing.T) {
	if n := len(TimeZones()); n < 300 || TimeZones()[0] != "UTC" {
		t.Errorf("%d time zones, first %q", n, TimeZones()[0])
	}
	for _, z := range []string{"Europe/Amsterdam", "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Auckland"} {
		if !IsTimeZone(z) {
			t.Errorf("%s is not offered", z)
		}
	}
	labels := map[string]string{}
	for _, o := range Locales() {
		labels[o.Value] = o.Label
	}
	if got := labels["de-AT"]; !strings.Contains(got, "Deutsch") || !strings.Contains(got, "German") {
		t.Errorf("de-AT label %q", got)
	}
	if got := labels["en"]; got != "English" {
		t.Errorf("en label %q", got)
	}
}
