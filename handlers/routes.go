package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/loginapp/login/assets"
)

// routes is the whole URL surface of the app.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.frame)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/", s.index)
	r.With(s.loginLimit).Get("/login", s.login)
	r.With(s.loginLimit).Get("/callback", s.callback)
	r.Get("/profile", s.profile)
	r.Get("/profile/userinfo", s.userinfo)
	r.Get("/logout", s.logoutPage)
	r.With(s.sameOrigin).Post("/logout", s.logout)
	r.Post("/backchannel-logout", s.backchannelLogout)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Handle(assets.Prefix+"*", assets.Handler())
	return r
}
