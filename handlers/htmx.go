package handlers

import (
	"net/http"

	"github.com/loginapp/login/internal/auth"
)

// The htmx request and response headers this app uses, in one place.
const (
	hxRequest  = "HX-Request"
	hxRedirect = "HX-Redirect"
	hxRetarget = "HX-Retarget"
	hxReswap   = "HX-Reswap"
)

// alertsTarget is the page's region for messages about an htmx request
// (components.layout).
const alertsTarget = "#alerts"

// isHTMX reports whether htmx sent the request (and so will swap the
// response into the page rather than navigate).
func isHTMX(r *http.Request) bool { return r.Header.Get(hxRequest) == "true" }

// setHXRedirect tells htmx to navigate the whole page to path instead of
// swapping the response. htmx follows the header to any URL, so it only
// ever carries a path on this site: anything else becomes the start page.
func setHXRedirect(w http.ResponseWriter, path string) {
	if !auth.SameOriginPath(path) {
		path = "/"
	}
	w.Header().Set(hxRedirect, path)
}

// setHXRetarget tells htmx to swap the response into target (a selector of
// the app's own page) with the given swap style.
func setHXRetarget(w http.ResponseWriter, target, swap string) {
	w.Header().Set(hxRetarget, target)
	w.Header().Set(hxReswap, swap)
}
