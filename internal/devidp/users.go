package devidp

import (
	"crypto/subtle"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// DatabaseConnection is the Auth0 connection of users whose password the
// provider keeps, as Auth0 names its default database connection.
const DatabaseConnection = "Username-Password-Authentication"

// ticketLifetime is how long an emailed link works.
const ticketLifetime = 24 * time.Hour

// Email is a message the provider sent. It is not delivered anywhere: it
// lands in the dev outbox (GET /dev/outbox), with a link that works.
type Email struct {
	ID      string
	To      string
	Subject string
	Text    string
	// Link is what the email asks the user to open: the verification link,
	// or the page that sets a new password.
	Link   string
	SentAt time.Time
}

// Kinds of emailed links.
const (
	ticketVerifyEmail   = "verify-email"
	ticketResetPassword = "reset-password"
)

// ticket is the secret in an emailed link.
type ticket struct {
	kind    string
	subject string
	expires time.Time
}

// account is a user as the provider keeps it.
type account struct {
	user User
	// social is, for a social user, the social provider's profile: the
	// root attributes are reset to it at every password sign-in, as Auth0
	// does unless the tenant turns that off.
	social    *User
	createdAt time.Time
	updatedAt time.Time
	lastLogin time.Time
	logins    int
}

// directory holds the users, the emails sent to them and the tickets of
// those emails. Its methods are safe for concurrent use and hand out
// copies.
type directory struct {
	mu       sync.Mutex
	accounts []*account
	outbox   []Email
	tickets  map[string]ticket
}

func newDirectory(users []User, now time.Time) *directory {
	d := &directory{tickets: map[string]ticket{}}
	created := now.Truncate(time.Second)
	for _, u := range users {
		a := &account{user: cloneUser(u), createdAt: created, updatedAt: created}
		if u.social() {
			s := cloneUser(u)
			a.social = &s
		}
		d.accounts = append(d.accounts, a)
	}
	return d
}

// social reports whether the user signs in through a social connection.
func (u User) social() bool {
	return u.Connection != "" && u.Connection != DatabaseConnection
}

// connection is the user's connection name.
func (u User) connection() string {
	if u.Connection == "" {
		return DatabaseConnection
	}
	return u.Connection
}

// cloneUser copies u, its metadata included.
func cloneUser(u User) User {
	u.UserMetadata = cloneJSONMap(u.UserMetadata)
	return u
}

// cloneJSONMap deep-copies a decoded JSON object.
func cloneJSONMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneJSONValue(v)
	}
	return c
}

func cloneJSONValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneJSONMap(v)
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneJSONValue(e)
		}
		return c
	}
	return v
}

func (d *directory) findLocked(match func(User) bool) *account {
	for _, a := range d.accounts {
		if match(a.user) {
			return a
		}
	}
	return nil
}

// find returns a copy of the first user match accepts.
func (d *directory) find(match func(User) bool) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.findLocked(match); a != nil {
		return cloneUser(a.user), true
	}
	return User{}, false
}

func (d *directory) byUsername(username string) (User, bool) {
	return d.find(func(u User) bool { return u.Username == username })
}

func (d *directory) bySubject(sub string) (User, bool) {
	return d.find(func(u User) bool { return u.Subject == sub })
}

func (d *directory) byEmail(email string) (User, bool) {
	return d.find(func(u User) bool { return u.Email != "" && strings.EqualFold(u.Email, email) })
}

// users returns copies of all users.
func (d *directory) users() []User {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := make([]User, 0, len(d.accounts))
	for _, a := range d.accounts {
		list = append(list, cloneUser(a.user))
	}
	return list
}

// updatedAt is when the user's profile last changed.
func (d *directory) updatedAt(sub string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.findLocked(func(u User) bool { return u.Subject == sub }); a != nil {
		return a.updatedAt
	}
	return time.Time{}
}

// checkPassword returns the user with username and password.
func (d *directory) checkPassword(username, password string) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.findLocked(func(u User) bool { return u.Username == username })
	if a == nil {
		// Compare anyway, so timing does not tell whether the user exists.
		subtle.ConstantTimeCompare([]byte(password), []byte("\x00not-a-password"))
		return User{}, false
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(a.user.Password)) != 1 {
		return User{}, false
	}
	return cloneUser(a.user), true
}

// recordLogin notes a password sign-in of sub at now. A social user's root
// attributes come back from the social provider's profile, overwriting
// what a PATCH set, as Auth0 does at every social login.
func (d *directory) recordLogin(sub string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.findLocked(func(u User) bool { return u.Subject == sub })
	if a == nil {
		return
	}
	a.logins++
	a.lastLogin = now
	if s := a.social; s != nil {
		u := &a.user
		before := [...]string{u.Name, u.GivenName, u.FamilyName, u.Nickname, u.Picture, u.Email, u.Locale}
		u.Name, u.GivenName, u.FamilyName, u.Nickname, u.Picture = s.Name, s.GivenName, s.FamilyName, s.Nickname, s.Picture
		u.Email, u.EmailVerified, u.Locale = s.Email, s.EmailVerified, s.Locale
		if before != [...]string{u.Name, u.GivenName, u.FamilyName, u.Nickname, u.Picture, u.Email, u.Locale} {
			a.updatedAt = now.Truncate(time.Second)
		}
	}
}

// update applies f to the user sub and returns the result; f returns
// whether it changed anything.
func (d *directory) update(sub string, now time.Time, f func(u *User) bool) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.findLocked(func(u User) bool { return u.Subject == sub })
	if a == nil {
		return User{}, false
	}
	if f(&a.user) {
		a.updatedAt = now.Truncate(time.Second)
	}
	return cloneUser(a.user), true
}

// auth0JSON is the user as Auth0's Management API shows it.
func (d *directory) auth0JSON(sub string) (map[string]any, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.findLocked(func(u User) bool { return u.Subject == sub })
	if a == nil {
		return nil, false
	}
	u := a.user
	provider, social := "auth0", u.social()
	if social {
		provider = u.Connection
	}
	_, idPart, found := strings.Cut(u.Subject, "|")
	if !found {
		idPart = u.Subject
	}
	m := map[string]any{
		"user_id":        u.Subject,
		"email":          u.Email,
		"email_verified": u.EmailVerified,
		"name":           u.Name,
		"given_name":     u.GivenName,
		"family_name":    u.FamilyName,
		"nickname":       u.Nickname,
		"identities": []any{map[string]any{
			"provider":   provider,
			"connection": u.connection(),
			"user_id":    idPart,
			"isSocial":   social,
		}},
		"user_metadata": map[string]any{},
		"created_at":    auth0Time(a.createdAt),
		"updated_at":    auth0Time(a.updatedAt),
		"logins_count":  a.logins,
	}
	if u.Picture != "" {
		m["picture"] = u.Picture
	}
	if len(u.UserMetadata) > 0 {
		m["user_metadata"] = cloneJSONMap(u.UserMetadata)
	}
	if social {
		// A social provider's locale is a root attribute at Auth0.
		if u.Locale != "" {
			m["locale"] = u.Locale
		}
	} else {
		m["username"] = u.Username
	}
	if !a.lastLogin.IsZero() {
		m["last_login"] = auth0Time(a.lastLogin)
	}
	return m, true
}

// auth0Time formats t as Auth0 does: RFC 3339 in UTC with milliseconds.
func auth0Time(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// send puts an email with a fresh ticket link into the outbox and returns
// it. base is the issuer; path the page that redeems the ticket.
func (d *directory) send(kind, sub, to, subject, text, base, path string, now time.Time) Email {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, t := range d.tickets {
		if now.After(t.expires) {
			delete(d.tickets, id)
		}
	}
	secret := randomID()
	d.tickets[secret] = ticket{kind: kind, subject: sub, expires: now.Add(ticketLifetime)}
	e := Email{
		ID:      randomID()[:12],
		To:      to,
		Subject: subject,
		Text:    text,
		Link:    base + path + "?ticket=" + secret,
		SentAt:  now,
	}
	d.outbox = append(d.outbox, e)
	return e
}

// emails returns the outbox, newest first.
func (d *directory) emails() []Email {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := slices.Clone(d.outbox)
	slices.Reverse(list)
	return list
}

// ticket returns the subject of a live ticket of kind; redeem also uses
// it up.
func (d *directory) ticket(secret, kind string, now time.Time, redeem bool) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tickets[secret]
	if !ok || t.kind != kind || now.After(t.expires) {
		return "", false
	}
	if redeem {
		delete(d.tickets, secret)
	}
	return t.subject, true
}

// metadataSize is the size of user_metadata as JSON, which Auth0 limits.
func metadataSize(m map[string]any) int {
	b, _ := json.Marshal(m)
	return len(b)
}

// mergeMetadata merges patch into m as Auth0 merges a PATCH's
// user_metadata: top-level members are replaced, and a member set to null
// is removed.
func mergeMetadata(m, patch map[string]any) map[string]any {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = cloneJSONValue(v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
