package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// realisticRecord is a session as a real provider makes it: the large
// Auth0 userinfo of testdata (a social user with roles, organisation, app
// and user metadata), a 2 KB RS256 ID token carrying the profile and the
// namespaced claims that an Auth0 Action adds to both, an opaque access
// token and a refresh token.
func realisticRecord(t testing.TB) *Record {
	t.Helper()
	return newRecordGen(t).next()
}

// recordGen makes realistic records, each of another user with fresh
// random ids, nonce, signature and tokens, as 100,000 real sessions would
// have.
type recordGen struct {
	userinfo []byte
	claims   map[string]any // of the ID token
	header   string
}

func newRecordGen(t testing.TB) *recordGen {
	t.Helper()
	userinfo, err := os.ReadFile("testdata/auth0-userinfo-large.json")
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(userinfo, &claims); err != nil {
		t.Fatal(err)
	}
	g := &recordGen{
		userinfo: userinfo,
		claims:   map[string]any{"iss": "https://login-example.eu.auth0.com/", "aud": "kX9mP2qR7sT4vW9yZ1aB3cD5eF6gH0jL"},
		header:   b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"nZ3fQ8xK2mP7vR4tY9wB1cD6eF0gH5jL"}`)),
	}
	for _, k := range []string{"given_name", "family_name", "nickname", "name", "picture", "locale", "updated_at", "email", "email_verified", "https://app.example.com/roles", "https://app.example.com/org"} {
		g.claims[k] = claims[k]
	}
	// Fill up to 2 KB with the app metadata's flags, as an Action would.
	meta, _ := claims["https://app.example.com/app_metadata"].(map[string]any)
	flags, _ := meta["feature_flags"].(map[string]any)
	picked := map[string]any{}
	g.claims["https://app.example.com/flags"] = picked
	// In the flags' order, so that every run measures the same record.
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		if len(g.token("google-oauth2|000000000000000000000", "x")) >= 2048 {
			break
		}
		picked[k] = flags[k]
	}
	return g
}

// token signs (with random bytes) an ID token of the generator's claims.
func (g *recordGen) token(sub, sid string) string {
	now := time.Now()
	g.claims["sub"], g.claims["sid"] = sub, sid
	g.claims["iat"], g.claims["exp"] = now.Unix(), now.Add(10*time.Hour).Unix()
	g.claims["nonce"], g.claims["at_hash"] = b64(randBytes(32)), b64(randBytes(16))
	payload, _ := json.Marshal(g.claims)
	return g.header + "." + b64(payload) + "." + b64(randBytes(256))
}

func (g *recordGen) next() *Record {
	sub := fmt.Sprintf("google-oauth2|1%020d", mrand.Int64N(1e18))
	sid := b64(randBytes(24))
	// The userinfo's own sub is the user's.
	userinfo := bytes.Replace(g.userinfo, []byte("google-oauth2|104729385610293847561"), []byte(sub), 1)
	now := time.Now()
	return &Record{
		Subject:      sub,
		SID:          sid,
		UserInfo:     userinfo,
		IDToken:      g.token(sub, sid),
		AccessToken:  b64(randBytes(24)),
		RefreshToken: "v1." + b64(randBytes(64)),
		TokenExpiry:  now.Add(10 * time.Hour).Truncate(time.Second),
		CreatedAt:    now,
		LastSeen:     now,
		// Another browser than the audit trail's in the userinfo, so that
		// the user agent does not compress against it.
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		ClientIP:  fmt.Sprintf("198.51.100.%d", mrand.IntN(255)),
		AuthTime:  now.Add(-time.Duration(mrand.IntN(3600)) * time.Second).Truncate(time.Second),
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	real := realisticRecord(t)
	if n := len(real.IDToken); n < 2048 || n > 2200 {
		t.Fatalf("test ID token is %d bytes, want about 2 KB", n)
	}
	tests := map[string]*Record{
		"realistic": real,
		"minimal":   {Subject: "s", UserInfo: json.RawMessage(`{"sub":"s"}`), IDToken: "a.b.c"},
		"opaque and odd tokens": {
			Subject: "auth0|123", SID: "x", UserInfo: json.RawMessage(`{}`),
			IDToken:      "not a jwt",
			AccessToken:  "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv_iv_iv.cipher.tag", // JWE with an empty segment
			RefreshToken: "v1.MRrT",                                                      // a dot, but not base64url canonically
			TokenExpiry:  time.Unix(1700000000, 0),
		},
		"padding and non-canonical base64": {
			Subject: "s", UserInfo: json.RawMessage(`{"a":1}`),
			IDToken:     "eyJ=.e30.c2ln", // padding is not raw base64url
			AccessToken: "AB.AC",         // 'B' has low bits set: not canonical
		},
		"six segments": {Subject: "s", IDToken: "a.b.c.d.e.f"},
		"empty":        {},
		"sign-in details": {
			Subject: "s", UserInfo: json.RawMessage(`{}`), IDToken: "a.b.c",
			UserAgent: "curl/8.11.0", ClientIP: "2001:db8::1", AuthTime: time.UnixMilli(1798758000123),
		},
	}
	for name, rec := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := encodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRecord(data)
			if err != nil {
				t.Fatal(err)
			}
			want := *rec
			want.Subject, want.SID = "", "" // kept by the backend, not in the record
			if len(want.UserInfo) > 0 {
				var buf bytes.Buffer
				json.Compact(&buf, want.UserInfo)
				want.UserInfo = buf.Bytes()
			}
			// Times are kept to the millisecond.
			for _, p := range []*Record{&want, got} {
				for _, t := range []*time.Time{&p.TokenExpiry, &p.CreatedAt, &p.LastSeen, &p.AuthTime} {
					*t = t.Truncate(time.Millisecond).UTC()
				}
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, &want)
			}
		})
	}
}

func TestRecordKeepsUserinfoKeyOrder(t *testing.T) {
	rec := &Record{UserInfo: json.RawMessage(`{"z": 1, "a": {"y": 2, "b": 3}}`)}
	data, _ := encodeRecord(rec)
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.UserInfo) != `{"z":1,"a":{"y":2,"b":3}}` {
		t.Fatalf("userinfo = %s, want the provider's key order", got.UserInfo)
	}
}

// TestRecordTruncatesSignInDetails: the request headers that a record keeps
// are bounded, and cut on a character boundary.
func TestRecordTruncatesSignInDetails(t *testing.T) {
	ua := strings.Repeat("é", 200) // 400 bytes
	data, err := encodeRecord(&Record{UserAgent: ua, ClientIP: strings.Repeat("1", 100)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.UserAgent) != 256 || got.UserAgent != ua[:256] || !utf8.ValidString(got.UserAgent) {
		t.Errorf("user agent of %d bytes kept as %d bytes (valid UTF-8 %v), want the first 256", len(ua), len(got.UserAgent), utf8.ValidString(got.UserAgent))
	}
	if len(got.ClientIP) != 64 {
		t.Errorf("client address kept as %d bytes, want 64", len(got.ClientIP))
	}
	odd := strings.Repeat("a", 255) + "é" // the cut falls inside é
	data, _ = encodeRecord(&Record{UserAgent: odd})
	if got, _ := decodeRecord(data); got.UserAgent != odd[:255] {
		t.Errorf("user agent cut to %d bytes, want 255 (before the split character)", len(got.UserAgent))
	}
}

// TestRecordReadsV1: records stored in the first compact format (committed
// as testdata/record-v1.bin by the version that wrote it) still decode,
// to the nanosecond.
func TestRecordReadsV1(t *testing.T) {
	data, err := os.ReadFile("testdata/record-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != recordV1 {
		t.Fatalf("sample starts with %#x, want the v1 format byte", data[0])
	}
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{
		UserInfo:     json.RawMessage(`{"sub":"auth0|5f7c8ec7c33c6c004bbafe82","name":"Ada Lovelace","email":"ada@example.com","email_verified":true,"picture":"https://s.gravatar.com/avatar/0a1b2c3d.png"}`),
		IDToken:      "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhdXRoMHw1ZjdjOGVjN2MzM2M2YzAwNGJiYWZlODIiLCJzaWQiOiJvcC1zaWQtMSJ9.c2lnbmF0dXJl",
		AccessToken:  "opaque-access-token",
		RefreshToken: "v1.refresh-token",
		TokenExpiry:  time.Unix(1798761600, 0),
		CreatedAt:    time.Unix(1798758000, 123456789),
		LastSeen:     time.Unix(1798758060, 987654321),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 sample decoded to\n %+v\nwant\n %+v", got, want)
	}
}

func TestRecordReadsJSON(t *testing.T) {
	// The first format: JSON. Sessions stored by it still load.
	old := Record{Subject: "s", SID: "d", UserInfo: json.RawMessage(`{"sub":"s"}`), IDToken: "x.y.z", CreatedAt: time.Unix(1700000000, 0).UTC()}
	data, _ := json.Marshal(old)
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "s" || got.SID != "d" || got.IDToken != "x.y.z" || !got.CreatedAt.Equal(old.CreatedAt) {
		t.Fatalf("decoded %+v", got)
	}
}

func TestRecordCorrupt(t *testing.T) {
	good, _ := encodeRecord(realisticRecord(t))
	tests := map[string][]byte{
		"empty":          nil,
		"unknown format": {0x7f, 1, 2, 3},
		"bad json":       []byte(`{"sub":`),
		"truncated":      good[:len(good)/2],
		"flipped bytes":  flip(good),
		"v1 no frame":    {recordV1},
		"v2 no frame":    {recordV2},
		"v1 frame as v2": append([]byte{recordV1}, good[1:]...),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord(data); !errors.Is(err, errCorruptRecord) {
				t.Fatalf("err = %v, want errCorruptRecord", err)
			}
		})
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	for i := len(c) / 3; i < len(c)/3+16 && i < len(c); i++ {
		c[i] ^= 0x5a
	}
	return c
}

// FuzzDecodeRecord: no input makes decoding panic or allocate without
// bound.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := encodeRecord(&Record{Subject: "s", UserInfo: json.RawMessage(`{"a":1}`), IDToken: "a.b.c"})
	f.Add(good)
	f.Add([]byte(`{"sub":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeRecord(data)
	})
}

func TestRecordSize(t *testing.T) {
	rec := realisticRecord(t)
	plain, _ := json.Marshal(rec)
	data, err := encodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("realistic session: %d bytes as JSON, %d stored", len(plain), len(data))
	// The budget of a typical Auth0 session's record, with the sign-in's
	// user agent and address, is 1.5 KB (see docs/BENCHMARKS.md).
	if len(data) > 1536 {
		t.Fatalf("stored record is %d bytes, want at most 1536", len(data))
	}
	if data[0] != recordV2 {
		t.Fatalf("stored record starts with %#x, want the v2 format byte", data[0])
	}
}
