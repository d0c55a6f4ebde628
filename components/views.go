// Package components renders the app's pages and fragments with templ. It
// only renders the view models that the handlers build: no sessions, no
// provider calls, no HTTP.
package components

// Profile is what the profile card shows.
type Profile struct {
	Name          string
	Email         string
	EmailVerified bool
	// EmailVerifiedKnown is false when the provider did not say.
	EmailVerifiedKnown bool
	Picture            string
	Initials           string
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
