package handlers

import (
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// accessLine formats one access line in the shape of slog's text handler
// (time=... level=INFO msg=request key=value ...) without going through
// slog: under load, slog's generic formatting was a sixth of the handler's
// CPU for a line whose shape never changes.
type accessLine struct {
	out  io.Writer
	min  slog.Level // lines below this level are not written
	json bool       // in the shape of slog's JSON handler instead
	pool sync.Pool
	// stamp caches the formatted second: formatting the whole time on
	// every line was a tenth of the anonymous index's CPU.
	stamp timestamps
}

// timestamps formats times as slog does (RFC 3339 with milliseconds, or
// nanoseconds for JSON), formatting the date and time of day once per
// second and zone.
type timestamps struct {
	cur atomic.Pointer[stampSecond]
}

type stampSecond struct {
	unix   int64
	loc    *time.Location
	prefix string // "2006-01-02T15:04:05"
	zone   string // "Z" or "+01:00"
}

func (t *timestamps) append(b []byte, now time.Time, nanos bool) []byte {
	sec := now.Unix()
	c := t.cur.Load()
	if c == nil || c.unix != sec || c.loc != now.Location() {
		c = &stampSecond{
			unix: sec, loc: now.Location(),
			prefix: now.Format("2006-01-02T15:04:05"),
			zone:   now.Format("Z07:00"),
		}
		t.cur.Store(c)
	}
	b = append(b, c.prefix...)
	b = append(b, '.')
	if nanos {
		b = appendPadded(b, now.Nanosecond(), 9)
	} else {
		b = appendPadded(b, now.Nanosecond()/1e6, 3)
	}
	return append(b, c.zone...)
}

// appendPadded appends n in exactly width digits, zero-padded.
func appendPadded(b []byte, n, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

func newAccessLine(out io.Writer, min slog.Level, json bool) *accessLine {
	return &accessLine{out: out, min: min, json: json, pool: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}}
}

func (a *accessLine) write(now time.Time, level slog.Level, id, method, path string, client netip.Addr, status, bytes int, d time.Duration) {
	if level < a.min {
		return
	}
	bp := a.pool.Get().(*[]byte)
	b := (*bp)[:0]
	if a.json {
		b = appendJSONLine(b, &a.stamp, now, level, id, method, path, client, status, bytes, d)
		a.out.Write(b)
		*bp = b
		a.pool.Put(bp)
		return
	}
	b = append(b, "time="...)
	b = a.stamp.append(b, now, false)
	b = append(b, " level="...)
	b = append(b, level.String()...)
	b = append(b, " msg=request request_id="...)
	b = appendValue(b, id)
	b = append(b, " method="...)
	b = appendValue(b, method)
	b = append(b, " path="...)
	b = appendValue(b, logPath(path))
	b = append(b, " client="...)
	if client.IsValid() {
		b = client.AppendTo(b)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, int64(bytes), 10)
	b = append(b, " duration="...)
	b = append(b, d.String()...)
	b = append(b, '\n')
	a.out.Write(b)
	*bp = b
	a.pool.Put(bp)
}

// appendValue quotes s when slog's text handler would: when it is empty or
// has spaces, quotes, '=', control characters or invalid UTF-8 (a path is
// the client's text and must not be able to forge fields or lines).
func appendValue(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '"' || c == '=' || c == 0x7f {
				return strconv.AppendQuote(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.AppendQuote(b, s)
		}
		i += size
	}
	return append(b, s...)
}

// appendJSONLine is the access line as slog's JSON handler writes it
// (durations in nanoseconds, as slog encodes a time.Duration).
func appendJSONLine(b []byte, stamp *timestamps, now time.Time, level slog.Level, id, method, path string, client netip.Addr, status, bytes int, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = stamp.append(b, now, true)
	b = append(b, `","level":"`...)
	b = append(b, level.String()...)
	b = append(b, `","msg":"request","request_id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, logPath(path))
	b = append(b, `,"client":"`...)
	if client.IsValid() {
		b = client.AppendTo(b)
	}
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(bytes), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(d), 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced, so that a client's
// path can never break the line or the object.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
