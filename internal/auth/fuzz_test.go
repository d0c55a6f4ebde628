package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSameOriginPath: whatever returnTo SameOriginPath accepts, the
// redirect the callback makes with it stays on the site, also for a client
// that reads the Location as loosely as a browser does (tabs and newlines
// dropped, backslashes as slashes) and after one more percent-decoding.
// Seeds: testdata/fuzz/FuzzSameOriginPath.
func FuzzSameOriginPath(f *testing.F) {
	f.Add("/profile")
	f.Add("//evil.example")
	base, _ := url.Parse("https://app.example/callback?code=c&state=s")
	f.Fuzz(func(t *testing.T, returnTo string) {
		if !SameOriginPath(returnTo) {
			return
		}
		if returnTo[0] != '/' || strings.HasPrefix(returnTo, "//") || strings.ContainsAny(returnTo, "\\") {
			t.Fatalf("accepted %q", returnTo)
		}
		for i := 0; i < len(returnTo); i++ {
			if returnTo[i] < 0x20 || returnTo[i] == 0x7f {
				t.Fatalf("accepted %q with a control character", returnTo)
			}
		}
		// The Location http.Redirect writes, as the callback does.
		w := httptest.NewRecorder()
		http.Redirect(w, &http.Request{Method: http.MethodGet, URL: base}, returnTo, http.StatusSeeOther)
		loc := w.Header().Get("Location")
		decoded, err := url.PathUnescape(loc)
		if err != nil {
			decoded = loc
		}
		for _, read := range []string{loc, decoded} {
			loose := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(read)
			u, err := base.Parse(loose)
			if err != nil {
				continue // a browser would not follow it either
			}
			if u.Host != base.Host || u.Scheme != base.Scheme || u.User != nil {
				t.Fatalf("returnTo %q: Location %q is read as %s://%s", returnTo, loc, u.Scheme, u.Host)
			}
		}
	})
}

// FuzzParseCallback: any query either parses into values that are each
// given once, at most 4096 bytes and printable ASCII, or is refused as an
// invalid callback (a 400, never a 500). Seeds:
// testdata/fuzz/FuzzParseCallback.
func FuzzParseCallback(f *testing.F) {
	f.Add("code=abc&state=xyz")
	f.Add("code=a&code=b&state=s")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery) // as r.URL.Query() does, errors dropped
		c, err := ParseCallback(q)
		repeated := false
		for _, k := range []string{"code", "state", "iss", "error", "error_description"} {
			if len(q[k]) > 1 {
				repeated = true
			}
		}
		if err != nil {
			if KindOf(err) != KindInvalid {
				t.Fatalf("error of kind %v for %q, want KindInvalid: %v", KindOf(err), rawQuery, err)
			}
			return
		}
		if repeated {
			t.Fatalf("accepted a repeated parameter in %q", rawQuery)
		}
		for name, v := range map[string]string{"code": c.Code, "state": c.State, "iss": c.Iss, "error": c.Error, "error_description": c.ErrorDescription} {
			if v != q.Get(name) {
				t.Fatalf("%s = %q, the query has %q", name, v, q.Get(name))
			}
			if len(v) > 4096 {
				t.Fatalf("accepted a %d-byte %s", len(v), name)
			}
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("accepted %s %q with byte %#x", name, v, v[i])
				}
			}
		}
		if c.hasCode != q.Has("code") || c.hasIss != q.Has("iss") || c.hasErrorID != q.Has("error") {
			t.Fatalf("presence flags wrong for %q", rawQuery)
		}
	})
}
