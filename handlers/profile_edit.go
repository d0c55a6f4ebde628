package handlers

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/loginapp/login/components"
	"github.com/loginapp/login/internal/management"
	"github.com/loginapp/login/internal/profile"
	"github.com/loginapp/login/internal/session"
)

// Profile editing at the provider (Auth0's Management API; the dev
// provider serves the same subset). What is saved there comes back on the
// next login, in every app of the tenant; the session's copy of the
// userinfo is updated at once so the card shows it without a login.
//
// Nothing the user typed is lost on any error: a refused field comes back
// with its message and the typed values, a provider in trouble with a
// message and the typed values, and a save that needs a re-authentication
// keeps the draft in a sealed cookie until the user is back.

const (
	editPath = "/profile/edit"
	// draftCookie holds the typed edit across a re-authentication.
	draftCookie = "profile-draft"
	draftTTL    = 15 * time.Minute
	// emailEvery is how often one user may have an email sent
	// (verification, password change).
	emailEvery = time.Minute
)

// newDraftCodec seals drafts: encrypted and signed, with a key of their
// own, and big enough for a 2 KB picture address.
func newDraftCodec(secret []byte) (*securecookie.SecureCookie, error) {
	c, err := session.NewCodec(secret, draftCookie, draftTTL)
	if err != nil {
		return nil, err
	}
	c.MaxLength(4000)
	return c, nil
}

// accountUser returns the signed-in user for an account action, or
// answers (404 without a management client; the login for the anonymous)
// and returns nil.
func (s *Server) accountUser(w http.ResponseWriter, r *http.Request) *user {
	if s.accounts == nil {
		s.notFound(w, r)
		return nil
	}
	return s.requireUser(w, r, true)
}

// editProfile is GET /profile/edit: the form in place of the name area
// (htmx), or the whole page with it. Opening it asks for a recent
// authentication first, so that the user types after, not before, going
// to the provider.
func (s *Server) editProfile(w http.ResponseWriter, r *http.Request) {
	u := s.accountUser(w, r)
	if u == nil || !s.requireRecentAuth(w, r, u, editPath) {
		return
	}
	cur, err := s.accounts.User(r.Context(), u.rec.Subject)
	if err != nil {
		s.accountFailure(w, r, u, nil, err)
		return
	}
	f := s.profileForm(u, cur, editFromUser(cur))
	if draft, ok := s.takeDraft(w, r, u); ok {
		f = s.profileForm(u, cur, draft)
		f.Notice = "You confirmed it is you. Check your changes, then save them."
	}
	s.renderEdit(w, r, u, f, http.StatusOK)
}

// saveProfile is POST /profile/edit.
func (s *Server) saveProfile(w http.ResponseWriter, r *http.Request) {
	u := s.accountUser(w, r)
	if u == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, badRequest("The form could not be read.", err))
		return
	}
	edit := profile.Edit{
		Name: r.PostForm.Get("name"), Nickname: r.PostForm.Get("nickname"), Picture: r.PostForm.Get("picture"),
		Locale: r.PostForm.Get("locale"), Timezone: r.PostForm.Get("timezone"),
	}.Trimmed()
	if !s.recentlyAuthenticated(u) {
		// Keep what was typed while the user confirms it is them.
		s.saveDraft(w, u, edit)
		s.requireRecentAuth(w, r, u, editPath)
		return
	}
	cur, err := s.accounts.User(r.Context(), u.rec.Subject)
	if err != nil {
		s.accountFailure(w, r, u, &edit, err)
		return
	}
	f := s.profileForm(u, cur, edit)
	fixed := fixedFields(cur)
	if problems := profile.Validate(edit, editFromUser(cur), fixedSet(fixed)); len(problems) > 0 {
		f.Problems = problems
		s.renderEdit(w, r, u, f, http.StatusUnprocessableEntity)
		return
	}
	want := management.Profile{Name: edit.Name, Nickname: edit.Nickname, Picture: edit.Picture, Locale: edit.Locale, Timezone: edit.Timezone}
	for field := range fixed {
		switch field {
		case profile.FieldName:
			want.Name = cur.Name
		case profile.FieldNickname:
			want.Nickname = cur.Nickname
		case profile.FieldPicture:
			want.Picture = cur.Picture
		}
	}
	up := cur.Changes(want)
	saved := cur
	if !up.IsZero() {
		saved, err = s.accounts.UpdateUser(r.Context(), u.rec.Subject, up)
		if err != nil {
			s.accountFailure(w, r, u, &edit, err)
			return
		}
	}
	if err := s.refreshStoredProfile(w, r, u, saved); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(w, r, slog.LevelInfo, "profile_updated", slog.String("sub", u.rec.Subject))
	if !isHTMX(r) {
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return
	}
	p := s.profileCardView(u.rec.UserInfo)
	p.Notice = "Saved."
	if up.IsZero() {
		p.Notice = "Nothing had changed."
	}
	s.render(w, r, http.StatusOK, components.ProfileHead(p))
}

// sendVerificationEmail is POST /profile/verify-email.
func (s *Server) sendVerificationEmail(w http.ResponseWriter, r *http.Request) {
	u := s.accountUser(w, r)
	if u == nil {
		return
	}
	p := s.profileCardView(u.rec.UserInfo)
	if !p.EmailVerifiedKnown || p.EmailVerified {
		p.Notice = "Your email address is already verified."
		s.answerProfileHead(w, r, p)
		return
	}
	if !s.emailAllowed(w, r, u, "verify") {
		return
	}
	if _, err := s.accounts.SendVerificationEmail(r.Context(), u.rec.Subject); err != nil {
		s.accountFailure(w, r, u, nil, err)
		return
	}
	s.audit(w, r, slog.LevelInfo, "verification_email_sent", slog.String("sub", u.rec.Subject))
	p.Notice = "We sent a verification email to " + p.Email + "."
	s.answerProfileHead(w, r, p)
}

// changePassword is POST /profile/password: the provider emails a link to
// choose a new password (database users only).
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	u := s.accountUser(w, r)
	if u == nil {
		return
	}
	cur, err := s.accounts.User(r.Context(), u.rec.Subject)
	if err != nil {
		s.accountFailure(w, r, u, nil, err)
		return
	}
	if !cur.CanChangePassword() || cur.Email == "" {
		s.fail(w, r, &statusError{status: http.StatusConflict, view: components.ErrorView{
			Title: "There is no password to change", Message: "You sign in with " + providerName(cur.Primary()) + ", so your password is kept there.",
			ActionURL: "/profile", Action: "Back to your profile",
		}})
		return
	}
	if !s.emailAllowed(w, r, u, "password") {
		return
	}
	if err := s.accounts.ChangePassword(r.Context(), cur.Email, cur.Primary().Connection); err != nil {
		s.accountFailure(w, r, u, nil, err)
		return
	}
	s.audit(w, r, slog.LevelInfo, "password_email_sent", slog.String("sub", u.rec.Subject))
	msg := "We sent you an email with a link to choose a new password."
	if isHTMX(r) {
		s.render(w, r, http.StatusOK, components.PasswordRegion(msg))
		return
	}
	f := s.profileForm(u, cur, editFromUser(cur))
	f.PasswordNotice = msg
	s.renderEdit(w, r, u, f, http.StatusOK)
}

// emailAllowed lets one email of a kind through per user per minute, on
// every instance (the shared backend's Once), and otherwise answers 429.
func (s *Server) emailAllowed(w http.ResponseWriter, r *http.Request, u *user, kind string) bool {
	first, err := s.sessions.Backend().Once(r.Context(), "email:"+kind+":"+u.rec.Subject, s.cfg.Now().Add(emailEvery))
	if err != nil {
		s.fail(w, r, errors.Join(session.ErrUnavailable, err))
		return false
	}
	if !first {
		w.Header().Set("Retry-After", "60")
		s.fail(w, r, &statusError{status: http.StatusTooManyRequests, view: components.ErrorView{
			Title: "We sent one a moment ago", Message: "Please check your inbox (and spam folder). You can ask for another in a minute.",
			ActionURL: "/profile", Action: "Back to your profile",
		}})
		return false
	}
	return true
}

// answerProfileHead answers an action of the profile head: the head again
// for htmx, the page otherwise.
func (s *Server) answerProfileHead(w http.ResponseWriter, r *http.Request, p components.Profile) {
	if isHTMX(r) {
		s.render(w, r, http.StatusOK, components.ProfileHead(p))
		return
	}
	s.render(w, r, http.StatusOK, components.ProfilePage(p, components.Details{}, components.Sessions{}))
}

// accountFailure answers a failed call to the Management API with a clear
// message and, when there is a form, the form with what was typed. A
// rate limit says how long to wait; nothing is ever a 500.
func (s *Server) accountFailure(w http.ResponseWriter, r *http.Request, u *user, edit *profile.Edit, err error) {
	status, msg := http.StatusBadGateway, "We could not reach the sign-in service to save this. Nothing was saved; please try again in a minute."
	var me *management.Error
	errors.As(err, &me)
	level := slog.LevelWarn
	switch {
	case errors.Is(err, management.ErrRateLimited):
		status, msg = http.StatusTooManyRequests, "The sign-in service is busy. Please try again in a moment."
		if me != nil && me.RetryAfter > 0 {
			secs := int((me.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			msg = "The sign-in service is busy. Please try again in " + strconv.Itoa(secs) + " s."
		}
	case errors.Is(err, management.ErrTokenRefused), errors.Is(err, management.ErrForbidden):
		status, msg = http.StatusServiceUnavailable, "Profile editing is not set up for this app yet. Nothing was saved."
		level = slog.LevelError // the tenant does not grant the Management API: see the README
	case errors.Is(err, management.ErrNotFound):
		status, msg = http.StatusNotFound, "The sign-in service does not know your account any more."
	case errors.Is(err, management.ErrBadRequest):
		status, msg = http.StatusUnprocessableEntity, "The sign-in service refused this change."
		if me != nil && me.API != nil && me.API.Message != "" {
			msg = "The sign-in service refused this change: " + shorten(me.API.Message, 200)
		}
	}
	s.log.Log(r.Context(), level, "management API call failed", "request_id", requestID(w), "sub", u.rec.Subject, "err", shorten(err.Error(), maxLoggedError))
	if edit == nil {
		s.fail(w, r, &statusError{status: status, err: err, view: components.ErrorView{
			Title: "That did not work", Message: msg, ActionURL: "/profile", Action: "Back to your profile",
		}})
		return
	}
	f := s.profileForm(u, nil, *edit)
	f.Error = msg
	if errors.Is(err, management.ErrBadRequest) && me != nil && me.API != nil {
		// Auth0 names the property it refused: say it next to the field.
		for _, field := range []string{profile.FieldName, profile.FieldNickname, profile.FieldPicture} {
			if strings.Contains(strings.ToLower(me.API.Message), field) {
				f.Problems = map[string]string{field: "The sign-in service would not save this field."}
			}
		}
	}
	s.renderEdit(w, r, u, f, status)
}

// renderEdit writes the form: for htmx in place of the name area (aimed
// there by HX-Retarget, so an error status swaps too), otherwise the page.
func (s *Server) renderEdit(w http.ResponseWriter, r *http.Request, u *user, f components.ProfileForm, status int) {
	if isHTMX(r) {
		setHXRetarget(w, "#profile-head", "outerHTML")
		s.render(w, r, status, components.ProfileEditForm(f))
		return
	}
	s.render(w, r, status, components.ProfileEditPage(s.profileCardView(u.rec.UserInfo), f))
}

// profileForm is the form for edit, with cur (nil when the provider could
// not be asked) deciding what can change and offering the password email.
func (s *Server) profileForm(u *user, cur *management.User, edit profile.Edit) components.ProfileForm {
	f := components.ProfileForm{
		Avatar: s.profileCardView(u.rec.UserInfo),
		Name:   edit.Name, Nickname: edit.Nickname, Picture: edit.Picture, Locale: edit.Locale, Timezone: edit.Timezone,
		Locales:   localeOptions(),
		TimeZones: timeZoneGroups(),
	}
	if cur != nil {
		f.Fixed = fixedFields(cur)
		f.CanChangePassword = cur.CanChangePassword() && cur.Email != ""
	}
	return f
}

func editFromUser(u *management.User) profile.Edit {
	p := u.Profile()
	return profile.Edit{Name: p.Name, Nickname: p.Nickname, Picture: p.Picture, Locale: p.Locale, Timezone: p.Timezone}
}

// fixedFields are the fields the provider replaces at every login for this
// user (a social account's name, nickname and picture come from the
// social provider), with what to tell the user.
func fixedFields(u *management.User) map[string]string {
	id := u.Primary()
	if !id.IsSocial {
		return nil
	}
	why := "Comes from " + providerName(id) + " and is replaced each time you sign in; change it there."
	return map[string]string{profile.FieldName: why, profile.FieldNickname: why, profile.FieldPicture: why}
}

func fixedSet(fixed map[string]string) map[string]bool {
	out := make(map[string]bool, len(fixed))
	for k := range fixed {
		out[k] = true
	}
	return out
}

// providerName names a social or enterprise provider for people.
func providerName(id management.Identity) string {
	names := map[string]string{
		"google-oauth2": "Google", "github": "GitHub", "facebook": "Facebook", "apple": "Apple",
		"windowslive": "Microsoft", "linkedin": "LinkedIn", "twitter": "X", "auth0": "your password",
	}
	if n, ok := names[id.Provider]; ok {
		return n
	}
	if id.Provider != "" {
		return id.Provider
	}
	return "another service"
}

func localeOptions() []components.Option {
	src := profile.Locales()
	out := make([]components.Option, len(src))
	for i, o := range src {
		out[i] = components.Option{Value: o.Value, Label: o.Label}
	}
	return out
}

// timeZoneGroups groups the time zones by region (the part before the
// first slash), UTC on its own.
func timeZoneGroups() []components.OptionGroup {
	var groups []components.OptionGroup
	for _, z := range profile.TimeZones() {
		region, city, ok := strings.Cut(z, "/")
		if !ok {
			region, city = "Universal", z
		}
		label := strings.ReplaceAll(city, "_", " ")
		if n := len(groups); n == 0 || groups[n-1].Label != region {
			groups = append(groups, components.OptionGroup{Label: region})
		}
		g := &groups[len(groups)-1]
		g.Options = append(g.Options, components.Option{Value: z, Label: strings.ReplaceAll(label, "/", " / ")})
	}
	return groups
}

// refreshStoredProfile puts what the provider saved into the session's
// userinfo, so the card shows it at once; the next login brings the same
// from the provider.
func (s *Server) refreshStoredProfile(w http.ResponseWriter, r *http.Request, u *user, saved *management.User) error {
	var info map[string]json.RawMessage
	if err := json.Unmarshal(u.rec.UserInfo, &info); err != nil || info == nil {
		info = map[string]json.RawMessage{}
	}
	set := func(k, v string) {
		if b, err := json.Marshal(v); err == nil {
			info[k] = b
		}
	}
	set("name", saved.Name)
	set("nickname", saved.Nickname)
	if saved.Picture != "" {
		set("picture", saved.Picture)
	}
	if saved.UserMetadata.Locale != "" {
		set("locale", saved.UserMetadata.Locale)
	}
	if saved.UserMetadata.Timezone != "" {
		set("zoneinfo", saved.UserMetadata.Timezone)
	}
	if !saved.UpdatedAt.IsZero() {
		set("updated_at", saved.UpdatedAt.UTC().Format(time.RFC3339Nano))
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	next := *u.rec
	next.UserInfo = b
	if err := s.sessions.Replace(w, r, u.sess, &next); err != nil {
		return err
	}
	u.rec = &next
	return nil
}

// saveDraft keeps the typed edit in a sealed cookie for the way through
// the provider; a draft too big for a cookie keeps all but the picture.
func (s *Server) saveDraft(w http.ResponseWriter, u *user, e profile.Edit) {
	d := draft{Sub: u.rec.Subject, Edit: e}
	for range 2 {
		raw, _ := json.Marshal(d)
		name := session.CookieName(draftCookie, s.secure)
		if v, err := s.drafts.Encode(name, raw); err == nil {
			http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: editPath, MaxAge: int(draftTTL / time.Second), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
			return
		}
		d.Edit.Picture = ""
	}
}

// takeDraft returns the draft this user left before re-authenticating, and
// clears it.
func (s *Server) takeDraft(w http.ResponseWriter, r *http.Request, u *user) (profile.Edit, bool) {
	name := session.CookieName(draftCookie, s.secure)
	c, err := r.Cookie(name)
	if err != nil {
		return profile.Edit{}, false
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: editPath, MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	var raw []byte
	var d draft
	if s.drafts.Decode(name, c.Value, &raw) != nil || json.Unmarshal(raw, &d) != nil || d.Sub != u.rec.Subject {
		return profile.Edit{}, false
	}
	return d.Edit, true
}

type draft struct {
	Sub  string       `json:"s"`
	Edit profile.Edit `json:"e"`
}
