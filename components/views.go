// Package components renders the app's pages and fragments with templ. It
// only renders the view models that the handlers build: no sessions, no
// provider calls, no HTTP.
package components

import "strings"

// Profile is what the profile card shows.
type Profile struct {
	Name          string
	Email         string
	EmailVerified bool
	// EmailVerifiedKnown is false when the provider did not say.
	EmailVerifiedKnown bool
	Picture            string
	Initials           string
	// Editable shows the profile's actions (edit, resend the verification
	// email): there is a way to change the profile at the provider.
	Editable bool
	// Notice is a short confirmation shown under the name ("Saved.").
	Notice string
}

// ProfileForm is the profile edit form: what the user typed (or what is
// saved, when they have typed nothing yet), the messages for fields that
// did not pass, and the choices.
type ProfileForm struct {
	// Avatar is the profile as saved, for the picture beside the form.
	Avatar                                    Profile
	Name, Nickname, Picture, Locale, Timezone string
	// Problems are messages by field name (name, nickname, picture,
	// locale, timezone).
	Problems map[string]string
	// Fixed are the fields the provider will not let change, with why.
	Fixed     map[string]string
	Locales   []Option
	TimeZones []OptionGroup
	// Error is about the whole form (saving failed); Notice a note on top.
	Error, Notice string
	// CanChangePassword offers the password-change email.
	CanChangePassword bool
	PasswordNotice    string
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// OptionGroup is a labelled group of choices.
type OptionGroup struct {
	Label   string
	Options []Option
}

// Details is the userinfo panel under the profile card.
type Details struct {
	Open bool
	// JSON is the pretty-printed userinfo; templ escapes it.
	JSON string
}

// ErrorView is what an error page says: what happened, what to do, a way on.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	Hint      string
	ActionURL string
	Action    string
	RequestID string
}

func ariaInvalid(problem string) string {
	if problem != "" {
		return "true"
	}
	return "false"
}

// describedBy names the messages under a field, for aria-describedby.
func describedBy(f ProfileForm, name string) string {
	var ids []string
	if f.Problems[name] != "" {
		ids = append(ids, "edit-"+name+"-error")
	}
	if f.Fixed[name] != "" {
		ids = append(ids, "edit-"+name+"-fixed")
	}
	return strings.Join(ids, " ")
}

func hasOption(opts []Option, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

func hasGroupOption(groups []OptionGroup, v string) bool {
	for _, g := range groups {
		if hasOption(g.Options, v) {
			return true
		}
	}
	return false
}

// Sessions is the "Your sessions" panel under the profile card.
type Sessions struct {
	Open bool
	// Items are the user's live sessions, the most recently active first.
	Items []SessionItem
	// Message says what the last action did ("Signed out of Firefox on
	// Linux."); Error what went wrong with it.
	Message, Error string
}

// Others reports how many sessions are not this device's.
func (s Sessions) Others() int {
	n := 0
	for _, it := range s.Items {
		if !it.Current {
			n++
		}
	}
	return n
}

// SessionItem is one session in the list.
type SessionItem struct {
	// Handle is the session's public name for the sign-out form.
	Handle string
	// Device is "Firefox on Linux".
	Device  string
	Address string
	// SignedIn and LastActive are shown relative ("5 minutes ago"), with
	// the exact time as machine-readable datetime and as a title.
	SignedIn, LastActive Moment
	Current              bool
}

// Moment is a time as the page shows it.
type Moment struct {
	// Relative is "5 minutes ago"; Exact "2 December 2026, 15:04 UTC";
	// Datetime the RFC 3339 form for <time datetime>.
	Relative, Exact, Datetime string
}
