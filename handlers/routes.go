package handlers

import (
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/loginapp/login/assets"
)

// routes is the whole URL surface of the app. Every GET route answers HEAD
// too; any other method gets 405 with Allow (methodNotAllowed).
func (s *Server) routes() *chi.Mux {
	r := chi.NewRouter()
	r.Use(s.frame, middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/", s.index)
	r.With(s.loginLimit).Get("/login", s.login)
	r.With(s.loginLimit).Get("/callback", s.callback)
	r.Get("/profile", s.profile)
	r.Get("/profile/userinfo", s.userinfo)
	r.Get("/profile/sessions", s.profileSessions)
	r.With(s.sameOrigin).Post("/profile/sessions/{handle}/end", s.endSession)
	r.With(s.sameOrigin).Post("/profile/sessions/end-others", s.endOtherSessions)
	r.Get("/profile/edit", s.editProfile)
	r.With(s.sameOrigin).Post("/profile/edit", s.saveProfile)
	r.With(s.sameOrigin).Post("/profile/verify-email", s.sendVerificationEmail)
	r.With(s.sameOrigin).Post("/profile/password", s.changePassword)
	r.Get("/logout", s.logoutPage)
	r.With(s.sameOrigin).Post("/logout", s.logout)
	r.With(s.backchannelLimit).Post("/backchannel-logout", s.backchannelLogout)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get(assets.Prefix+"*", assets.Handler().ServeHTTP)
	return r
}
