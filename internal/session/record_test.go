package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
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
	for k, v := range flags {
		if len(g.token("google-oauth2|000000000000000000000", "x")) >= 2048 {
			break
		}
		picked[k] = v
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
			for _, p := range []*Record{&want, got} {
				p.TokenExpiry, p.CreatedAt, p.LastSeen = p.TokenExpiry.UTC(), p.CreatedAt.UTC(), p.LastSeen.UTC()
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
	// The budget is 100,000 sessions in 200 MB, indexes and store overhead
	// included (see docs/BENCHMARKS.md); the record itself must stay well
	// under 2 KB.
	if len(data) > 1600 {
		t.Fatalf("stored record is %d bytes, want at most 1600", len(data))
	}
	if !strings.HasPrefix(string(data), string([]byte{recordV1})) {
		t.Fatalf("stored record does not start with the format byte")
	}
}
