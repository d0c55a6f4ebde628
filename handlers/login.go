package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/loginapp/login/components"
	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/session"
)

// maxAttempts is how many login attempts one browser may have open at once
// (one per tab); the oldest beyond that are dropped.
const maxAttempts = 5

// maxReturnTo bounds the returnTo kept in a login attempt. The sealed attempt
// must fit the cookie codec's 1024 bytes, which holds a returnTo of about 330
// bytes; a longer one made /login fail with a 500. Longer paths are dropped,
// like unsafe ones, and the login lands on /profile.
const maxReturnTo = 256

// attemptPrefix starts the name of every login attempt cookie.
const attemptPrefix = "login-"

// attemptCookieName is the cookie of the attempt with this state. Each
// attempt has its own cookie, so two tabs logging in at once do not
// overwrite each other's state, nonce and PKCE verifier.
func (s *Server) attemptCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return session.CookieName(attemptPrefix+hex.EncodeToString(sum[:8]), s.secure)
}

// login starts a login attempt: fresh state, nonce and PKCE verifier, sealed
// into a cookie bound to this browser, then 303 to the provider.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	returnTo := r.URL.Query().Get("returnTo")
	if len(returnTo) > maxReturnTo || !auth.SameOriginPath(returnTo) {
		returnTo = ""
	}
	a := s.rp.NewAttempt(returnTo)
	stepUp, err := s.stepUpAttempt(w, r, returnTo)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if stepUp != nil {
		a = *stepUp
	}
	target, err := s.rp.AuthCodeURL(r.Context(), a)
	if err != nil {
		s.fail(w, r, serviceUnavailable(err))
		return
	}
	data, err := json.Marshal(a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := s.attemptCookieName(a.State)
	value, err := s.attempts.Encode(name, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dropOldAttempts(w, r)
	s.metrics.loginsStart.Inc()
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(attemptTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// dropOldAttempts expires the oldest attempt cookies so that at most
// maxAttempts-1 remain before a new one is added.
func (s *Server) dropOldAttempts(w http.ResponseWriter, r *http.Request) {
	type open struct {
		name    string
		created time.Time
	}
	var attempts []open
	prefix := session.CookieName(attemptPrefix, s.secure)
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, prefix) {
			continue
		}
		var created time.Time
		if a, err := s.decodeAttempt(c); err == nil {
			created = a.Created
		}
		attempts = append(attempts, open{c.Name, created})
	}
	if len(attempts) < maxAttempts {
		return
	}
	sort.Slice(attempts, func(i, j int) bool { return attempts[i].created.Before(attempts[j].created) })
	drop := attempts[:len(attempts)-maxAttempts+1]
	// A request can carry thousands of junk cookies with our prefix; the
	// answer expires a bounded number of them (the unreadable and oldest
	// first), not one Set-Cookie line per cookie it was sent.
	if len(drop) > maxClearedAttempts {
		drop = drop[:maxClearedAttempts]
	}
	for _, a := range drop {
		s.clearCookie(w, a.name)
	}
}

// maxClearedAttempts bounds the attempt cookies one response expires.
const maxClearedAttempts = 2 * maxAttempts

func (s *Server) decodeAttempt(c *http.Cookie) (auth.Attempt, error) {
	var a auth.Attempt
	var raw []byte
	if err := s.attempts.Decode(c.Name, c.Value, &raw); err != nil {
		return a, err
	}
	err := json.Unmarshal(raw, &a)
	return a, err
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

var (
	errNoState      = errors.New("callback without state")
	errNoAttempt    = errors.New("no login attempt for this state in this browser")
	errStateReplay  = errors.New("state already used")
	errAttemptStale = errors.New("login attempt expired")
)

// callback finishes a login. Whatever happens, the attempt is used up, and
// nothing but a fully verified login creates a session.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	// fail records the failed login, of the given kind, and answers.
	fail := func(outcome string, err error) {
		s.loginFailed(w, r, outcome, err)
		s.fail(w, r, err)
	}
	cb, err := auth.ParseCallback(r.URL.Query())
	if err != nil {
		fail(loginInvalidRequest, err)
		return
	}
	if cb.State == "" {
		fail(loginState, badRequest("The sign-in response was incomplete.", errNoState))
		return
	}
	name := s.attemptCookieName(cb.State)
	c, err := r.Cookie(name)
	if err != nil {
		fail(loginState, badRequest("This sign-in link has expired or was started in another browser.", errNoAttempt))
		return
	}
	s.clearCookie(w, name)
	a, err := s.decodeAttempt(c)
	if err != nil || subtle.ConstantTimeCompare([]byte(a.State), []byte(cb.State)) != 1 {
		fail(loginState, badRequest("This sign-in link has expired or was started in another browser.", errNoAttempt))
		return
	}
	if s.cfg.Now().Sub(a.Created) > attemptTTL {
		fail(loginState, badRequest("This sign-in took too long and has expired.", errAttemptStale))
		return
	}
	// The attempt cookie is gone from this browser now, but a copy of the
	// request could be replayed: every state is good for one callback
	// only. A used state is refused here, before the code goes to the
	// provider; the state is marked used with the new session, in the same
	// write (one transaction per login), which also refuses a replay that
	// raced this one.
	stateMark := session.OnceMark{Key: "state:" + name, Until: a.Created.Add(attemptTTL)}
	used, err := s.sessions.Backend().Used(r.Context(), stateMark.Key)
	if err != nil {
		fail(loginUnavailable, errors.Join(session.ErrUnavailable, err))
		return
	}
	if used {
		fail(loginState, badRequest("This sign-in response was already used.", errStateReplay))
		return
	}
	login, err := s.rp.Finish(r.Context(), a, cb)
	if err != nil {
		if s.stepUpFailed(w, r, a, err) {
			return
		}
		outcome := finishOutcome(err)
		if a.StepUp != nil && auth.KindOf(err) != auth.KindUnavailable {
			outcome = loginStepUpRefused
		}
		fail(outcome, err)
		return
	}
	rec := &session.Record{
		Subject:      login.Subject,
		SID:          login.SID,
		UserInfo:     login.UserInfo,
		IDToken:      login.IDToken,
		AccessToken:  login.AccessToken,
		RefreshToken: login.RefreshToken,
		TokenExpiry:  login.TokenExpiry,
		AuthTime:     login.AuthTime,
		// What the session list shows: the browser and the address it
		// signed in from, derived as the rate limits derive it.
		UserAgent: shorten(r.UserAgent(), maxStoredUserAgent),
		ClientIP:  s.clientAddr(r).String(),
	}
	if err := s.sessions.Login(w, r, rec, stateMark); err != nil {
		if errors.Is(err, session.ErrUsed) {
			fail(loginState, badRequest("This sign-in response was already used.", errStateReplay))
			return
		}
		fail(loginUnavailable, err)
		return
	}
	s.loginSucceeded(w, r, login.Subject)
	if a.StepUp != nil {
		s.metrics.stepUps.WithLabelValues("success").Inc()
		s.audit(w, r, slog.LevelInfo, eventStepUp, slog.String("outcome", "success"), slog.String("sub", login.Subject))
	}
	target := "/profile"
	if a.ReturnTo != "" && auth.SameOriginPath(a.ReturnTo) {
		target = a.ReturnTo
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// finishOutcome is the kind of a failed auth.RP.Finish.
func finishOutcome(err error) string {
	switch auth.KindOf(err) {
	case auth.KindDenied:
		return loginProviderError
	case auth.KindUnavailable:
		return loginUnavailable
	}
	if auth.StepOf(err) == auth.StepUserinfo {
		return loginUserinfo
	}
	return loginTokenCheck
}

// logout ends the session here (the record is deleted, so a copied cookie is
// dead at once) and then at the provider.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Get(r, s.sessions.Name())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hint, sub := "", ""
	if rec := session.RecordOf(sess); rec != nil {
		hint, sub = rec.IDToken, rec.Subject
	}
	if err := s.sessions.Logout(w, r, sess); err != nil {
		s.fail(w, r, err)
		return
	}
	if sub != "" {
		s.sessionEnded(w, r, endLogout, sub, 1)
	}
	w.Header().Set("Clear-Site-Data", `"cache"`)
	s.setSignedOutNotice(w)
	http.Redirect(w, r, s.rp.LogoutURL(hint), http.StatusSeeOther)
}

// signedOutCookie marks a browser that has just logged out, so that the
// index it lands on after the provider's logout says so once. The contract
// fixes post_logout_redirect_uri to APP_BASE_URL/, so the note can not
// travel in the URL. The value means nothing and holds nothing.
const signedOutCookie = "signed-out"

// signedOutNoticeTTL is how long the note waits for the browser to come
// back from the provider's logout page.
const signedOutNoticeTTL = 5 * time.Minute

func (s *Server) setSignedOutNotice(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: session.CookieName(signedOutCookie, s.secure), Value: "1", Path: "/", MaxAge: int(signedOutNoticeTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// takeSignedOutNotice reports whether the browser has just logged out, and
// clears the note so that it shows once.
func (s *Server) takeSignedOutNotice(w http.ResponseWriter, r *http.Request) bool {
	name := session.CookieName(signedOutCookie, s.secure)
	if _, err := r.Cookie(name); err != nil {
		return false
	}
	s.clearCookie(w, name)
	return true
}

// logoutPage is GET /logout: no side effect, only a page with the button.
func (s *Server) logoutPage(w http.ResponseWriter, r *http.Request) {
	u, _ := s.currentUser(w, r)
	s.render(w, r, http.StatusOK, components.LogoutPage(u != nil))
}

// backchannelLogout ends every session that a valid logout token names.
func (s *Server) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		backchannelError(w, "invalid_request", "body is not a form")
		return
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" || len(r.PostForm["logout_token"]) != 1 {
		backchannelError(w, "invalid_request", "exactly one logout_token is required")
		return
	}
	tok, err := s.rp.VerifyLogoutToken(r.Context(), raw)
	if err != nil {
		if auth.KindOf(err) == auth.KindUnavailable {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		// The token is anyone's text: what it makes us log is cut short.
		s.log.Info("back-channel logout refused", "request_id", requestID(w), "client", s.clientAddr(r).String(), "err", shorten(err.Error(), maxLoggedError))
		backchannelError(w, "invalid_request", "logout_token is not valid")
		return
	}
	// The jti is marked used only once the sessions are gone: a logout the
	// store could not carry out (503) must work when the provider retries
	// the same token, not be refused as a replay. Two copies of one token
	// arriving together may both delete, which ends nothing twice.
	backend := s.sessions.Backend()
	jti := "jti:" + tok.JTI
	used, err := backend.Used(r.Context(), jti)
	if err != nil {
		s.log.Error("back-channel logout: replay check", "request_id", requestID(w), "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if used {
		backchannelError(w, "invalid_request", "logout_token was already used")
		return
	}
	var n int
	if tok.SID != "" {
		n, err = backend.DeleteSID(r.Context(), tok.SID)
	} else {
		n, err = backend.DeleteSubject(r.Context(), tok.Subject)
	}
	if err != nil {
		s.log.Error("back-channel logout", "request_id", requestID(w), "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if _, err := backend.Once(r.Context(), jti, tok.Expires); err != nil {
		// The sessions are gone; a retry would find none and mark it.
		s.log.Error("back-channel logout: mark the token used", "request_id", requestID(w), "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	kind := endBackchannelSub
	if tok.SID != "" {
		kind = endBackchannelSID
	}
	s.sessionEnded(w, r, kind, tok.Subject, n)
	w.WriteHeader(http.StatusOK)
}

// backchannelTooMany answers a client over the back-channel rate limit.
func (s *Server) backchannelTooMany(w http.ResponseWriter, r *http.Request) {
	s.rateLimited(w, r)
	w.Header().Set("Retry-After", "60")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	json.NewEncoder(w).Encode(map[string]string{"error": "too_many_requests", "error_description": "too many back-channel logout requests from this address"})
}

// maxStoredUserAgent bounds the User-Agent kept with a session (real ones
// are a few hundred bytes; the header is the client's text).
const maxStoredUserAgent = 512

// maxLoggedError bounds an error text that carries a client's input (a
// claim of a forged token, say).
const maxLoggedError = 300

func backchannelError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
