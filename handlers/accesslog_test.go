package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAccessLine(t *testing.T) {
	var out bytes.Buffer
	a := newAccessLine(&out, slog.LevelInfo, false)
	at := time.Date(2026, 11, 28, 1, 2, 3, 456e6, time.UTC)
	a.write(at, slog.LevelInfo, "abc-1", "GET", "/profile", netip.MustParseAddr("198.51.100.7"), 200, 2048, 1500*time.Microsecond)
	want := "time=2026-11-28T01:02:03.456Z level=INFO msg=request request_id=abc-1 method=GET path=/profile client=198.51.100.7 status=200 bytes=2048 duration=1.5ms\n"
	if got := out.String(); got != want {
		t.Errorf("line:\n got %q\nwant %q", got, want)
	}

	// A client's path can not forge fields or lines.
	out.Reset()
	a.write(at, slog.LevelInfo, "abc-2", "GET", "/x status=500\nlevel=ERROR", netip.Addr{}, 404, 0, time.Millisecond)
	line := out.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `path="/x status=500\nlevel=ERROR"`) {
		t.Errorf("hostile path not quoted: %q", line)
	}
	for _, p := range []string{"", "/a b", "/\"q\"", "/\xff", "/\u202e"} {
		out.Reset()
		a.write(at, slog.LevelInfo, "id", "GET", p, netip.Addr{}, 200, 0, 0)
		if !strings.Contains(out.String(), "path=\"") {
			t.Errorf("path %q not quoted: %q", p, out.String())
		}
	}

	// A long path is written once, cut.
	out.Reset()
	a.write(at, slog.LevelInfo, "id", "GET", "/"+strings.Repeat("a", 200<<10), netip.Addr{}, 404, 0, 0)
	if n := out.Len(); n > 600 || !strings.Contains(out.String(), "...(204801 bytes)") {
		t.Errorf("a 200 KB path made a %d-byte line: %.300q", n, out.String())
	}

	// Probes are at debug level: not written at info.
	out.Reset()
	a.write(at, slog.LevelDebug, "id", "GET", "/healthz", netip.Addr{}, 200, 3, 0)
	if out.Len() != 0 {
		t.Errorf("debug line written at info level: %q", out.String())
	}
}

// TestAccessLineJSON: with LOG_FORMAT=json the access line is one JSON
// object with the fields of the text line, whatever the path holds.
func TestAccessLineJSON(t *testing.T) {
	var out bytes.Buffer
	a := newAccessLine(&out, slog.LevelInfo, true)
	at := time.Date(2026, 11, 28, 1, 2, 3, 456e6, time.UTC)
	for _, p := range []string{"/profile", "/x\"\n}{\"level\":\"ERROR\"", "/\xff\x00\u2028", "/" + strings.Repeat("a", 5000)} {
		out.Reset()
		a.write(at, slog.LevelInfo, "abc-1", "GET", p, netip.MustParseAddr("2001:db8::1"), 404, 12, 1500*time.Microsecond)
		line := out.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("not JSON: %v: %q", err, line)
		}
		for k, want := range map[string]any{"level": "INFO", "msg": "request", "request_id": "abc-1", "method": "GET", "client": "2001:db8::1", "status": 404.0, "bytes": 12.0, "duration": 1.5e6, "time": "2026-11-28T01:02:03.456000000Z"} {
			if got[k] != want {
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
		}
		if path, _ := got["path"].(string); len(path) > 300 || (len(p) < 100 && utf8.ValidString(p) && path != p) {
			t.Errorf("path %.80q came out as %.80q", p, path)
		}
	}
}

// TestTimestamps: the cached second gives what time.Format gives, across
// seconds, zones and both precisions.
func TestTimestamps(t *testing.T) {
	var ts timestamps
	berlin := time.FixedZone("CET", 3600)
	base := time.Date(2026, 12, 31, 23, 59, 58, 7_000_123, time.UTC)
	for i := range 3000 {
		now := base.Add(time.Duration(i) * 997 * time.Microsecond)
		if i%700 == 0 {
			now = now.In(berlin)
		}
		for _, nanos := range []bool{false, true} {
			layout := "2006-01-02T15:04:05.000Z07:00"
			if nanos {
				layout = "2006-01-02T15:04:05.000000000Z07:00"
			}
			if got, want := string(ts.append(nil, now, nanos)), now.Format(layout); got != want {
				t.Fatalf("%v: got %s, want %s", now, got, want)
			}
		}
	}
}
