// Package profile is what a user may change about themselves: the edit of
// their name, nickname, picture and preferences, the rules it must follow,
// and the lists of locales and time zones to choose from. It knows nothing
// of HTTP or of the provider: the handlers validate with it, the
// management client saves what passed.
package profile

//go:generate go run gen_timezones.go

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Limits of the fields, in characters (runes) or bytes for the picture.
const (
	MaxName     = 100
	MaxNickname = 50
	MaxPicture  = 2048
)

// Edit is what the user typed into the profile form, as typed (after
// trimming spaces at the ends): it goes back into the form on any error.
type Edit struct {
	Name, Nickname, Picture, Locale, Timezone string
}

// Field names, as the form's inputs are named.
const (
	FieldName     = "name"
	FieldNickname = "nickname"
	FieldPicture  = "picture"
	FieldLocale   = "locale"
	FieldTimezone = "timezone"
)

// Problems are the messages for the fields that did not pass, by field
// name; empty when the edit is fine.
type Problems map[string]string

// Trimmed returns the edit with spaces cut from the ends of each field.
func (e Edit) Trimmed() Edit {
	return Edit{
		Name:     strings.TrimSpace(e.Name),
		Nickname: strings.TrimSpace(e.Nickname),
		Picture:  strings.TrimSpace(e.Picture),
		Locale:   strings.TrimSpace(e.Locale),
		Timezone: strings.TrimSpace(e.Timezone),
	}
}

// Validate checks an edit. current is the profile as it is now: a locale or
// time zone the user already has is accepted even when it is not on the
// lists (Auth0 keeps whatever another app saved), and a picture may stay
// empty when it is empty now. fixed names the fields the provider will not
// let the user change (a social account's name, say), which are not
// checked: they are not sent.
func Validate(e Edit, current Edit, fixed map[string]bool) Problems {
	p := Problems{}
	if !fixed[FieldName] {
		if msg := text(e.Name, MaxName, "Your name"); msg != "" {
			p[FieldName] = msg
		}
	}
	if !fixed[FieldNickname] {
		if msg := text(e.Nickname, MaxNickname, "Your nickname"); msg != "" {
			p[FieldNickname] = msg
		}
	}
	if !fixed[FieldPicture] {
		if msg := picture(e.Picture, current.Picture); msg != "" {
			p[FieldPicture] = msg
		}
	}
	if e.Locale != "" && e.Locale != current.Locale && !slices.ContainsFunc(Locales(), func(o Option) bool { return o.Value == e.Locale }) {
		p[FieldLocale] = "Choose a language from the list."
	}
	if e.Timezone != "" && e.Timezone != current.Timezone && !IsTimeZone(e.Timezone) {
		p[FieldTimezone] = "Choose a time zone from the list."
	}
	return p
}

// text checks a name-like field: 1 to max characters of printable text,
// no control or format characters (no bidirectional overrides that would
// make the name read otherwise than it is).
func text(v string, max int, what string) string {
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0:
		return what + " can not be empty."
	case !utf8.ValidString(v):
		return what + " has characters that are not text."
	case n > max:
		return what + " can be at most " + strconv.Itoa(max) + " characters (this is " + strconv.Itoa(n) + ")."
	}
	for _, r := range v {
		if !unicode.IsPrint(r) && r != ' ' || unicode.Is(unicode.Cf, r) {
			return what + " can only have printable characters."
		}
	}
	return ""
}

func picture(v, current string) string {
	if v == "" {
		if current == "" {
			return ""
		}
		return "Enter the address of a picture, starting with https://."
	}
	if len(v) > MaxPicture {
		return "The picture's address can be at most 2 KB long."
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "Enter the address of a picture, starting with https://."
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || unicode.IsSpace(r) {
			return "The picture's address can not have spaces or control characters."
		}
	}
	return ""
}

// Option is one choice of a list: the value saved and what the user reads.
type Option struct {
	Value, Label string
}

// localeTags are the languages offered, as BCP 47 tags.
var localeTags = []string{
	"ar", "cs", "da", "de", "de-AT", "de-CH", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ", "en-US",
	"es", "es-AR", "es-ES", "es-MX", "fi", "fr", "fr-BE", "fr-CA", "fr-CH", "he", "hi", "hu", "id", "it", "ja", "ko",
	"nb", "nl", "nl-BE", "pl", "pt", "pt-BR", "pt-PT", "ro", "ru", "sk", "sv", "th", "tr", "uk", "vi", "zh-Hans", "zh-Hant",
}

// Locales returns the languages to choose from, each named in itself
// ("Deutsch (Österreich)") and in English, sorted by tag.
var Locales = sync.OnceValue(func() []Option {
	en := display.English.Tags()
	out := make([]Option, 0, len(localeTags))
	for _, t := range localeTags {
		tag := language.MustParse(t)
		self, english := display.Self.Name(tag), en.Name(tag)
		label := self
		if english != "" && english != self {
			label = self + " — " + english
		}
		out = append(out, Option{Value: t, Label: label})
	}
	return out
})

// TimeZones returns the IANA time zones to choose from, UTC first.
func TimeZones() []string { return timeZones }

// IsTimeZone reports whether name is one of TimeZones and known to the
// time package (which embeds the tz database, see cmd/server).
func IsTimeZone(name string) bool {
	if !slices.Contains(timeZones, name) {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}
