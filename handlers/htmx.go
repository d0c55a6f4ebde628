package handlers

import "net/http"

// The htmx request and response headers this app uses, in one place.
const (
	hxRequest  = "HX-Request"
	hxRedirect = "HX-Redirect"
)

// isHTMX reports whether htmx sent the request (and so will swap the
// response into the page rather than navigate).
func isHTMX(r *http.Request) bool { return r.Header.Get(hxRequest) == "true" }

// setHXRedirect tells htmx to navigate the whole page to url instead of
// swapping the response.
func setHXRedirect(w http.ResponseWriter, url string) { w.Header().Set(hxRedirect, url) }
