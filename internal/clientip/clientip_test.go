package clientip

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParse(t *testing.T) {
	good := []string{"", " ", "10.0.0.0/8", "10.0.0.1", "10.0.0.0/8, 192.168.1.7 ,fd00::/8", "::1", "2001:db8::1", "10.1.2.3/8"}
	for _, s := range good {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q) = %v, want ok", s, err)
		}
	}
	bad := []string{"10.0.0.0/33", "10.0.0", "example.com", "10.0.0.1:80", "fe80::1%eth0", "10.0.0.0/8;192.168.0.0/16", "*"}
	for _, s := range bad {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = nil error, want an error", s)
		}
	}
	tr, _ := Parse("10.1.2.3/8")
	if got := tr.String(); got != "10.0.0.0/8" {
		t.Errorf("String() = %q, want the masked prefix 10.0.0.0/8", got)
	}
}

func TestAddr(t *testing.T) {
	proxies, err := Parse("10.0.0.0/8, 2001:db8:ffff::/48, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted Trusted
		peer    string
		headers [][2]string
		want    string
	}{
		{"no proxies trusted: the peer", Trusted{}, "203.0.113.9:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer: headers ignored", proxies, "203.0.113.9:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer: Forwarded ignored", proxies, "203.0.113.9:4000", [][2]string{{"Forwarded", "for=198.51.100.1"}}, "203.0.113.9"},
		{"trusted peer without headers: the peer", proxies, "10.0.0.5:4000", nil, "10.0.0.5"},
		{"one proxy", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1"}}, "198.51.100.1"},
		{"client spoofs the left of the list", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "1.2.3.4, 198.51.100.1"}}, "198.51.100.1"},
		{"two trusted hops", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "1.2.3.4, 198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"several header lines are one list", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-For", "198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"entry with a port", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1:5555"}}, "198.51.100.1"},
		{"IPv6 entry with a port", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "[2001:db8::7]:5555"}}, "2001:db8::7"},
		{"garbage stops at the last trusted hop", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1, nonsense, 10.9.9.9"}}, "10.9.9.9"},
		{"garbage right after the peer: the peer", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "unknown"}}, "10.0.0.5"},
		{"all trusted: the left-most", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "10.1.1.1, 10.2.2.2"}}, "10.1.1.1"},
		{"empty entries skipped", proxies, "10.0.0.5:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1,, "}}, "198.51.100.1"},
		{"IPv4-mapped IPv6 peer", proxies, "[::ffff:10.0.0.5]:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1"}}, "198.51.100.1"},
		{"a single trusted address", proxies, "192.0.2.1:4000", [][2]string{{"X-Forwarded-For", "198.51.100.1"}}, "198.51.100.1"},
		{"IPv6 proxy", proxies, "[2001:db8:ffff::2]:443", [][2]string{{"X-Forwarded-For", "2001:db8:1::9"}}, "2001:db8:1::9"},
		{"Forwarded", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "for=198.51.100.1;proto=https;by=10.0.0.5"}}, "198.51.100.1"},
		{"Forwarded quoted IPv6 with port", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"Forwarded chain", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "for=1.2.3.4, for=198.51.100.1, for=10.3.3.3"}}, "198.51.100.1"},
		{"Forwarded case-insensitive name", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "For=198.51.100.1"}}, "198.51.100.1"},
		{"Forwarded obfuscated node: the proxy", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "for=_hidden"}}, "10.0.0.5"},
		{"Forwarded unbracketed IPv6 is invalid", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "for=2001:db8::1"}}, "10.0.0.5"},
		{"X-Forwarded-For wins over a client's Forwarded", proxies, "10.0.0.5:4000", [][2]string{{"Forwarded", "for=1.2.3.4"}, {"X-Forwarded-For", "198.51.100.1"}}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			if got := tt.trusted.Addr(r).String(); got != tt.want {
				t.Errorf("Addr = %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzAddr(f *testing.F) {
	proxies, _ := Parse("10.0.0.0/8,::1")
	f.Add("10.0.0.1:1", "198.51.100.1, 10.2.2.2", "for=1.2.3.4")
	f.Add("[::1]:1", "[2001:db8::1]:80", `for="[::1]"`)
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		r.Header.Set("Forwarded", fwd)
		a := proxies.Addr(r)
		p := peerAddr(peer)
		if p.IsValid() && !proxies.Contains(p) && a != p {
			t.Fatalf("untrusted peer %s gave client %s", p, a)
		}
	})
}
