package auth_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loginapp/login/internal/auth"
	"github.com/loginapp/login/internal/oidctest"
)

// userinfoLimit is the documented bound on a userinfo response: 1 MiB.
const userinfoLimit = 1 << 20

// TestUserInfoLimits: the userinfo response (Core 5.3.2) is used only when it
// is application/json, a JSON object and at most 1 MiB; a 5xx is an outage.
// The ID token of every login here is good, and the bodies that must be
// refused for their type or size carry the right sub, so only the check
// under test can refuse them. want is a word of the reason in the error (the
// part that goes to the log), so that a refusal for another reason fails.
func TestUserInfoLimits(t *testing.T) {
	p := oidctest.New(t, oidctest.Config{})
	rp := newTestRP(t, p, "openid", "profile", "email")
	const sub = "oidctest|alice"
	obj := `{"sub":"oidctest|alice","name":"Alice"}`

	// answer serves body with this Content-Type ("" for no header at all).
	answer := func(status int, contentType, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if contentType == "" {
				w.Header()["Content-Type"] = nil // no sniffing either
			} else {
				w.Header().Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	jsonOK := func(body string) http.HandlerFunc { return answer(http.StatusOK, "application/json", body) }
	// padded is obj grown to n bytes inside the object (a "pad" member).
	padded := func(n int) string {
		head := `{"sub":"oidctest|alice","pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}

	tests := []struct {
		name string
		h    http.HandlerFunc
		// want is empty when the login must succeed, else a word of the
		// reason it is refused.
		want string
		kind auth.Kind
	}{
		{"application/json", jsonOK(obj), "", 0},
		{"application/json; charset=utf-8", answer(200, "application/json; charset=utf-8", obj), "", 0},
		{"Application/JSON (media types are case-insensitive)", answer(200, "Application/JSON", obj), "", 0},
		{"no Content-Type at all (tolerated)", answer(200, "", obj), "", 0},
		{"exactly 1 MiB", jsonOK(padded(userinfoLimit)), "", 0},

		{"1 MiB + 1 byte inside the object", jsonOK(padded(userinfoLimit + 1)), "larger than", auth.KindInvalid},
		// A bounded read without the size check would see a complete object
		// here (the cut falls in the trailing whitespace) and accept it.
		{"1 MiB + 1 byte, the object followed by spaces", jsonOK(obj + strings.Repeat(" ", userinfoLimit+1-len(obj))), "larger than", auth.KindInvalid},
		{"10 MiB", jsonOK(padded(10 * userinfoLimit)), "larger than", auth.KindInvalid},

		{"text/html", answer(200, "text/html; charset=utf-8", obj), "content type", auth.KindInvalid},
		{"application/jwt", answer(200, "application/jwt", obj), "content type", auth.KindInvalid},
		{"text/plain", answer(200, "text/plain", obj), "content type", auth.KindInvalid},
		{"application/problem+json", answer(200, "application/problem+json", obj), "content type", auth.KindInvalid},
		{"application/jsonx", answer(200, "application/jsonx", obj), "content type", auth.KindInvalid},
		{"unparseable: application/json, text/html", answer(200, "application/json, text/html", obj), "content type", auth.KindInvalid},
		{"unparseable: /json", answer(200, "/json", obj), "content type", auth.KindInvalid},

		{"array holding the object", jsonOK(`[` + obj + `]`), "not a JSON object", auth.KindInvalid},
		{"string", jsonOK(`"` + sub + `"`), "not a JSON object", auth.KindInvalid},
		{"number", jsonOK(`42`), "not a JSON object", auth.KindInvalid},
		{"true", jsonOK(`true`), "not a JSON object", auth.KindInvalid},
		{"null", jsonOK(`null`), "not a JSON object", auth.KindInvalid},
		{"empty body", jsonOK(``), "not a JSON object", auth.KindInvalid},
		{"object then garbage", jsonOK(obj + `{}`), "not a JSON object", auth.KindInvalid},
		{"truncated object", jsonOK(obj[:len(obj)-1]), "not a JSON object", auth.KindInvalid},

		{"401", answer(401, "application/json", `{"error":"invalid_token"}`), "401", auth.KindInvalid},
		{"302 is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p.Issuer+oidctest.UserinfoPath, http.StatusFound)
		}, "302", auth.KindInvalid},
		{"500 is an outage", answer(500, "application/json", obj), "500", auth.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.SetScenario(oidctest.Scenario{UserInfoResponse: tt.h})
			login, err := testLogin(t, rp)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Finish: %v", err)
				}
				if login.Subject != sub || !bytes.Contains(login.UserInfo, []byte(`"sub":"`+sub+`"`)) {
					t.Errorf("login for %q with userinfo of %d bytes", login.Subject, len(login.UserInfo))
				}
				return
			}
			if err == nil {
				t.Fatalf("Finish accepted the userinfo (%d bytes)", len(login.UserInfo))
			}
			if login != nil {
				t.Errorf("a refused login returned a Login")
			}
			if got := auth.KindOf(err); got != tt.kind {
				t.Errorf("kind = %d, want %d (%v)", got, tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("refused for another reason: %v (want %q)", err, tt.want)
			}
		})
	}

	// The body is read only up to the limit: a provider that sends without
	// end is cut off, instead of filling our memory until the timeout.
	t.Run("endless body: reading stops at the limit", func(t *testing.T) {
		const most = 64 << 20
		sent := make(chan int, 1)
		p.SetScenario(oidctest.Scenario{UserInfoResponse: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			n, _ := w.Write([]byte(`{"sub":"oidctest|alice","pad":"`))
			chunk := bytes.Repeat([]byte("x"), 32<<10)
			for n < most {
				k, err := w.Write(chunk)
				n += k
				if err != nil {
					break
				}
			}
			sent <- n
		}})
		_, err := testLogin(t, rp)
		if auth.KindOf(err) != auth.KindInvalid || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("Finish = %v, want refused as larger than the limit", err)
		}
		select {
		case n := <-sent:
			if n >= most {
				t.Errorf("the provider sent all of its %d MiB: the body was read past the limit", n>>20)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the provider is still sending 20 s after the login was refused")
		}
	})
}
