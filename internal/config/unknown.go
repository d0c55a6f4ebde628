package config

import (
	"fmt"
	"sort"
	"strings"
)

// settingPrefixes are the prefixes of our settings' names; a variable with
// one of them that is not a setting is most likely a typo.
var settingPrefixes = []string{"OIDC_", "AUTH0_", "SESSION_", "APP_", "DEV_", "LOGIN_"}

// Unknown is a variable that looks like a setting but is not one.
type Unknown struct {
	Name    string
	Closest string // the setting (or alias) with the most similar name
	Source  string // "environment" or ".env"
}

func (u Unknown) String() string {
	return fmt.Sprintf("%s (in the %s) is not a setting; did you mean %s?", u.Name, u.Source, u.Closest)
}

// unknownSettings lists the variables of the environment and .env that
// start like a setting but are none, sorted by name.
func unknownSettings(environ, dotenv map[string]string) []Unknown {
	known := map[string]bool{}
	var names []string
	for _, s := range settings {
		for _, n := range append([]string{s.name}, s.aliases...) {
			known[n] = true
			names = append(names, n)
		}
	}
	var out []Unknown
	seen := map[string]bool{}
	check := func(vars map[string]string, source string) {
		for k := range vars {
			if known[k] || seen[k] || !hasSettingPrefix(k) {
				continue
			}
			seen[k] = true
			out = append(out, Unknown{Name: k, Closest: closest(k, names), Source: source})
		}
	}
	check(environ, "environment")
	check(dotenv, ".env")
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func hasSettingPrefix(name string) bool {
	for _, p := range settingPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// misspeltIssuer returns the first unknown variable that most likely meant
// to name a provider: one close to OIDC_ISSUER_URL or AUTH0_DOMAIN, or one
// whose name speaks of an issuer or a domain (AUTH0_ISSUER_BASE_URL, as an
// older Auth0 quickstart writes it). Dev mode must not start over it.
func misspeltIssuer(unknown []Unknown) *Unknown {
	for _, u := range unknown {
		switch {
		case strings.Contains(u.Name, "ISSUER") || levenshtein(u.Name, "OIDC_ISSUER_URL") <= 3:
			u.Closest = "OIDC_ISSUER_URL"
		case strings.Contains(u.Name, "DOMAIN") || levenshtein(u.Name, "AUTH0_DOMAIN") <= 3:
			u.Closest = "AUTH0_DOMAIN"
		default:
			continue
		}
		return &u
	}
	return nil
}

// closest returns the name among names most like s: the least edit
// distance, where a name cut short (LOGIN_RATE for LOGIN_RATE_LIMIT) counts
// as one edit; among equals, the longest common prefix, then the first in
// the settings table.
func closest(s string, names []string) string {
	best, bestD, bestP := "", -1, -1
	for _, n := range names {
		d := levenshtein(s, n)
		if strings.HasPrefix(n, s) || strings.HasPrefix(s, n) {
			d = min(d, 1)
		}
		p := commonPrefix(s, n)
		if bestD < 0 || d < bestD || (d == bestD && p > bestP) {
			best, bestD, bestP = n, d, p
		}
	}
	return best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// levenshtein is the edit distance between a and b, with a transposition
// of two neighbours counted as one edit (DOMIAN is one typo of DOMAIN).
func levenshtein(a, b string) int {
	// Optimal string alignment distance over bytes: setting names are ASCII.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
