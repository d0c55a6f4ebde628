package assets

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerRanges(t *testing.T) {
	h := Handler()
	path := Path("js/htmx.min.js")
	full := get(t, h, path, "")
	if full.Code != http.StatusOK || full.Body.Len() < 10000 {
		t.Fatalf("GET %s = %d, %d bytes", path, full.Code, full.Body.Len())
	}
	size := full.Body.Len()

	one := get(t, h, path, "bytes=0-99")
	if one.Code != http.StatusPartialContent || one.Body.Len() != 100 {
		t.Errorf("one range: %d, %d bytes; want 206 with 100 bytes", one.Code, one.Body.Len())
	}

	// 400 overlapping ranges would be ~400x the file in multipart parts.
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-,", 400), ",")
	multi := get(t, h, path, many)
	if multi.Code != http.StatusOK || multi.Body.Len() != size {
		t.Errorf("multi-range: %d, %d bytes; want the whole file (200, %d bytes) and nothing more", multi.Code, multi.Body.Len(), size)
	}
	if ct := multi.Header().Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
		t.Errorf("multi-range answered %s", ct)
	}

	two := get(t, h, path, "bytes=0-1, 5-6")
	if two.Code != http.StatusOK || two.Body.Len() != size {
		t.Errorf("two ranges: %d, %d bytes; want the whole file", two.Code, two.Body.Len())
	}
}

func TestHandlerUnknown(t *testing.T) {
	for _, p := range []string{Prefix + "js/htmx.min.js", Prefix + "nope.css", Prefix + "../assets.go"} {
		if rec := get(t, Handler(), p, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
}

func get(t *testing.T, h http.Handler, path, rng string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if rng != "" {
		r.Header.Set("Range", rng)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}
