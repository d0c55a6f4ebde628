package auth

import (
	"net/url"
	"strings"
)

// SameOriginPath reports whether returnTo is a path on this site that is safe
// to redirect to: it starts with exactly one "/", has no backslash, no scheme
// or host once parsed, and no control characters.
func SameOriginPath(returnTo string) bool {
	if returnTo == "" || len(returnTo) > 2048 || returnTo[0] != '/' {
		return false
	}
	if strings.HasPrefix(returnTo, "//") || strings.ContainsAny(returnTo, "\\") {
		return false
	}
	for i := 0; i < len(returnTo); i++ {
		if returnTo[i] < 0x20 || returnTo[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(returnTo)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	// A decoded path that starts with // or /\ would be read as another host
	// by some browsers or proxies after one more decoding.
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return false
	}
	// So would one with control characters: URL parsers drop tabs and
	// newlines anywhere, so "/%09/evil.example" decoded is "//evil.example".
	for i := 0; i < len(u.Path); i++ {
		if u.Path[i] < 0x20 || u.Path[i] == 0x7f {
			return false
		}
	}
	return true
}
