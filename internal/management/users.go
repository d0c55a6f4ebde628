package management

import (
	"encoding/json"
	"time"
)

// DatabaseProvider is the identity provider of Auth0 database connections
// (such as Username-Password-Authentication): the only users whose password
// the provider keeps, and so the only ones change_password works for.
const DatabaseProvider = "auth0"

// User is the part of an Auth0 user that the app reads.
type User struct {
	ID            string `json:"user_id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	// Name, GivenName, FamilyName, Nickname and Picture are root
	// attributes. For social users Auth0 overwrites them from the social
	// provider at every login unless the tenant turns that off.
	Name       string `json:"name"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Nickname   string `json:"nickname"`
	Picture    string `json:"picture"`
	// UserMetadata holds what the user may edit that the app uses.
	UserMetadata Metadata `json:"user_metadata"`
	// Identities are the user's identities; the first is the primary one.
	Identities []Identity `json:"identities"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Metadata is the part of user_metadata that the app uses. Other members
// are left alone: Auth0 merges a PATCH's user_metadata into what is there.
type Metadata struct {
	Locale   string `json:"locale,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// UnmarshalJSON reads locale and timezone when they are strings and
// ignores anything else, so that metadata written by another tool never
// makes a user unreadable.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		// null or a non-object: no metadata the app knows.
		*m = Metadata{}
		return nil
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(raw[k], &s)
		return s
	}
	*m = Metadata{Locale: str("locale"), Timezone: str("timezone")}
	return nil
}

// Identity is one of the user's identities.
type Identity struct {
	// Provider is "auth0" for database connections, the social provider
	// ("google-oauth2") otherwise.
	Provider   string `json:"provider"`
	Connection string `json:"connection"`
	IsSocial   bool   `json:"isSocial"`
}

// Primary returns the user's primary identity (the first), zero when
// there is none.
func (u *User) Primary() Identity {
	if len(u.Identities) == 0 {
		return Identity{}
	}
	return u.Identities[0]
}

// CanChangePassword reports whether the user signs in with a password the
// provider keeps (a database connection), which is what change_password
// needs; social and enterprise users change theirs elsewhere.
func (u *User) CanChangePassword() bool {
	return u.Primary().Provider == DatabaseProvider
}

// Profile is what the user can edit.
type Profile struct {
	Name, Nickname, Picture string
	// Locale and Timezone live in user_metadata.
	Locale, Timezone string
}

// Profile returns the user's current editable values.
func (u *User) Profile() Profile {
	return Profile{
		Name:     u.Name,
		Nickname: u.Nickname,
		Picture:  u.Picture,
		Locale:   u.UserMetadata.Locale,
		Timezone: u.UserMetadata.Timezone,
	}
}

// Changes returns the update that turns the user's profile into p: only
// the fields that differ, so that a PATCH never overwrites what the user
// did not touch (elsewhere, meanwhile).
func (u *User) Changes(p Profile) UserUpdate {
	var up UserUpdate
	cur := u.Profile()
	set := func(dst **string, old, new string) {
		if old != new {
			*dst = &new
		}
	}
	set(&up.Name, cur.Name, p.Name)
	set(&up.Nickname, cur.Nickname, p.Nickname)
	set(&up.Picture, cur.Picture, p.Picture)
	set(&up.Locale, cur.Locale, p.Locale)
	set(&up.Timezone, cur.Timezone, p.Timezone)
	return up
}

// UserUpdate is a PATCH of a user: nil fields are not sent. An empty
// Locale or Timezone removes the member from user_metadata (Auth0 deletes
// a member set to null); empty root attributes are sent as they are, and
// the provider may refuse them.
type UserUpdate struct {
	Name, Nickname, Picture *string
	Locale, Timezone        *string
}

// IsZero reports whether the update changes nothing.
func (up UserUpdate) IsZero() bool {
	return up == UserUpdate{}
}

// MarshalJSON is the PATCH body.
func (up UserUpdate) MarshalJSON() ([]byte, error) {
	body := map[string]any{}
	for k, v := range map[string]*string{"name": up.Name, "nickname": up.Nickname, "picture": up.Picture} {
		if v != nil {
			body[k] = *v
		}
	}
	meta := map[string]any{}
	for k, v := range map[string]*string{"locale": up.Locale, "timezone": up.Timezone} {
		switch {
		case v == nil:
		case *v == "":
			meta[k] = nil
		default:
			meta[k] = *v
		}
	}
	if len(meta) > 0 {
		body["user_metadata"] = meta
	}
	return json.Marshal(body)
}

// Job is a job the Management API started, such as sending a verification
// email.
type Job struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}
