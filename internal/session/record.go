package session

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// A record is stored as one version byte and a zstd frame of the fields,
// not as JSON: a real provider's session (Auth0 userinfo with metadata, a
// 2 KB ID token) is 5 to 7 KB of JSON, which would put 100,000 sessions far
// over the budget of 200 MB, and decoding that JSON costs more than the
// whole rest of an authenticated request. Tokens that are JWTs are kept
// base64-decoded inside the frame, so that their JSON compresses together
// with the userinfo (the same claims appear in both) instead of as base64
// text, and the frame is compressed with a dictionary of what every OpenID
// Connect session contains, which a frame of a few KB can not learn from
// itself. The subject and sid are not in the frame: the backend keeps them
// for its indexes and returns them with the entry. docs/BENCHMARKS.md has
// the figures.
//
// Version 2 adds the sign-in's user agent, client address and auth_time,
// keeps times in milliseconds (nanoseconds cost three bytes more each and
// say nothing more of a session), and compresses with dictV2, which also
// knows common user agents. Records of the earlier formats still decode.
const (
	recordJSON = '{' // the first format: a JSON object, still read
	recordV1   = 0x01
	recordV2   = 0x02
)

// maxUserAgent and maxClientIP bound what a record keeps of the sign-in's
// request headers, which the client chooses: a user agent longer than any
// real browser's must not make every request's record larger.
const (
	maxUserAgent = 256
	maxClientIP  = 64
)

// maxRecord bounds a decompressed record, so that a corrupt or hostile
// entry can not make the server allocate without limit.
const maxRecord = 4 << 20

var errCorruptRecord = errors.New("corrupt session record")

var (
	// The fastest level: with a dictionary most of an encoding is the
	// reset of the dictionary's tables, which at the default level cost a
	// sixth of a login's CPU; the fastest costs half as much for about 10
	// more bytes a record (docs/BENCHMARKS.md).
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderDictRaw(dictV2ID, []byte(dictV2)),
			zstd.WithWindowSize(1<<16),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderCRC(true), // so that a corrupt record is noticed, not misread
		)
		if err != nil {
			panic(err) // only for invalid options, which are constant
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(maxRecord),
			zstd.WithDecoderMaxWindow(1<<20),
			zstd.WithDecoderDictRaw(dictV1ID, []byte(dictV1)),
			zstd.WithDecoderDictRaw(dictV2ID, []byte(dictV2)),
		)
		if err != nil {
			panic(err)
		}
		return d
	})
)

// encodeRecord returns the stored form of rec, without its Subject and SID.
func encodeRecord(rec *Record) ([]byte, error) {
	userinfo := rec.UserInfo
	if len(userinfo) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, userinfo); err != nil {
			return nil, fmt.Errorf("userinfo is not JSON: %w", err)
		}
		userinfo = buf.Bytes()
	}
	b := make([]byte, 0, 96+len(userinfo)+len(rec.IDToken)+len(rec.AccessToken)+len(rec.RefreshToken)+len(rec.UserAgent))
	b = appendBytes(b, userinfo)
	b = appendToken(b, rec.IDToken)
	b = appendToken(b, rec.AccessToken)
	b = appendToken(b, rec.RefreshToken)
	b = appendMillis(b, rec.TokenExpiry)
	b = appendMillis(b, rec.CreatedAt)
	b = appendMillis(b, rec.LastSeen)
	b = appendBytes(b, []byte(truncateUTF8(rec.UserAgent, maxUserAgent)))
	b = appendBytes(b, []byte(truncateUTF8(rec.ClientIP, maxClientIP)))
	b = appendMillis(b, rec.AuthTime)
	return zstdEncoder().EncodeAll(b, []byte{recordV2}), nil
}

// decodeRecord reads every stored form. Only the first has the Subject
// and SID.
func decodeRecord(data []byte) (*Record, error) {
	if len(data) == 0 {
		return nil, errCorruptRecord
	}
	rec := new(Record)
	version := data[0]
	switch version {
	case recordJSON:
		if err := json.Unmarshal(data, rec); err != nil {
			return nil, fmt.Errorf("%w: %v", errCorruptRecord, err)
		}
		return rec, nil
	case recordV1, recordV2:
	default:
		return nil, fmt.Errorf("%w: unknown format %#x", errCorruptRecord, data[0])
	}
	raw, err := zstdDecoder().DecodeAll(data[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorruptRecord, err)
	}
	r := reader{b: raw}
	if ui := r.bytes(); len(ui) > 0 {
		rec.UserInfo = json.RawMessage(ui)
	}
	rec.IDToken = r.token()
	rec.AccessToken = r.token()
	rec.RefreshToken = r.token()
	if version == recordV1 {
		rec.TokenExpiry = r.time()
		rec.CreatedAt = r.time()
		rec.LastSeen = r.time()
	} else {
		rec.TokenExpiry = r.millis()
		rec.CreatedAt = r.millis()
		rec.LastSeen = r.millis()
		rec.UserAgent = string(r.bytes())
		rec.ClientIP = string(r.bytes())
		rec.AuthTime = r.millis()
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errCorruptRecord
	}
	return rec, nil
}

// truncateUTF8 cuts s to at most n bytes, on a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendToken stores a token as its dot-separated segments, each
// base64url-decoded, when every segment decodes canonically (so that the
// token is rebuilt byte for byte); otherwise as it is.
func appendToken(b []byte, tok string) []byte {
	segs := strings.Split(tok, ".")
	if len(segs) < 2 || len(segs) > 5 {
		b = append(b, 0)
		return appendBytes(b, []byte(tok))
	}
	mark := len(b)
	b = append(b, byte(len(segs)))
	for _, s := range segs {
		n := base64.RawURLEncoding.DecodedLen(len(s))
		b = binary.AppendUvarint(b, uint64(n))
		start := len(b)
		b = append(b, make([]byte, n)...)
		m, err := base64.RawURLEncoding.Strict().Decode(b[start:], []byte(s))
		if err != nil || m != n {
			b = append(b[:mark], 0)
			return appendBytes(b, []byte(tok))
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// appendMillis stores t in milliseconds since 1970, 0 for the zero time.
func appendMillis(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixMilli())
}

// reader reads the fields appended above; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errCorruptRecord
		return nil
	}
	v := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return v
}

func (r *reader) token() string {
	if r.err != nil || len(r.b) == 0 {
		r.err = errCorruptRecord
		return ""
	}
	segs := int(r.b[0])
	r.b = r.b[1:]
	switch {
	case segs == 0:
		return string(r.bytes())
	case segs > 5:
		r.err = errCorruptRecord
		return ""
	}
	var parts [5][]byte
	size := segs - 1
	for i := range segs {
		parts[i] = r.bytes()
		size += base64.RawURLEncoding.EncodedLen(len(parts[i]))
	}
	buf := make([]byte, 0, size)
	for i, p := range parts[:segs] {
		if i > 0 {
			buf = append(buf, '.')
		}
		buf = base64.RawURLEncoding.AppendEncode(buf, p)
	}
	return string(buf)
}

func (r *reader) time() time.Time {
	n := r.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (r *reader) millis() time.Time {
	n := r.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errCorruptRecord
		return 0
	}
	r.b = r.b[k:]
	return n
}

// dictV1 primes the compression of every record with what OpenID Connect
// sessions have in common: JWT headers, the standard claims, the subject
// prefixes and picture hosts of the common identity providers. The most
// frequent strings come last, where matches are cheapest. Records name the
// dictionary by id, so it must never change: a better one is dictV2 with
// another id, and the decoder keeps both.
const (
	dictV1ID = 0x4c6f6731 // "Log1"
	dictV1   = `"phone_number":"+","phone_number_verified":false,"address":{"formatted":"","street_address":"","locality":"","region":"","postal_code":"","country":""},` +
		`"middle_name":"","profile":"","website":"","gender":"","birthdate":"","zoneinfo":"Europe/","acr":"","amr":["pwd","mfa"],"azp":"","auth_time":1700000000,` +
		`"https://graph.microsoft.com/v1.0/me/photo/$value","https://avatars.githubusercontent.com/u/","https://cdn.auth0.com/avatars/","https://s.gravatar.com/avatar/","https://lh3.googleusercontent.com/a/",` +
		`"windowslive|","github|","samlp|","oidc|","email|","sms|","apple|","facebook|","linkedin|","auth0|","google-oauth2|",` +
		`"permissions":[],"groups":[],"roles":["admin","user"],"org_id":"org_","org_name":"","app_metadata":{},"user_metadata":{},"https://",` +
		`{"alg":"ES256","typ":"JWT","kid":"{"alg":"PS256","typ":"JWT","kid":"{"alg":"RS256","typ":"JWT","kid":"` +
		`{"iss":"https://","sub":"","aud":"","iat":1700000000,"exp":1700000000,"nonce":"","at_hash":"","sid":"",` +
		`"given_name":"","family_name":"","nickname":"","preferred_username":"","name":"","picture":"https://","locale":"en","updated_at":"2025-01-01T00:00:00.000Z",` +
		`"email":"@gmail.com","email_verified":true,"email_verified":false,null,true,false,`
)

// dictV2 is dictV1 with the user agents of the common browsers and
// systems before it (each record now keeps its sign-in's user agent), so
// that the OpenID Connect strings keep the cheap positions at the end.
const (
	dictV2ID = 0x4c6f6732 // "Log2"
	dictV2   = `Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1` +
		`Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36` +
		`Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0` +
		`Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0` +
		`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15` +
		`Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1` +
		`Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36` +
		`Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36` +
		`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36` +
		`Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0` +
		`Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36` +
		dictV1
)
