// Package clientip derives a request's client address behind reverse
// proxies, believing X-Forwarded-For and RFC 7239 Forwarded only from peers
// the operator trusts (TRUSTED_PROXIES).
//
// A proxy appends the address it saw to the headers, so the entries at the
// right were written by trusted proxies and everything to the left of the
// first untrusted entry was written by the client and can be anything.
// The client is therefore the right-most address that is not itself a
// trusted proxy; an entry that does not parse ends the walk at the last
// trusted hop, which is conservative: a garbled header costs a shared rate
// limit bucket, never a spoofed address.
//
// X-Forwarded-For wins over Forwarded when a request carries both, because
// the proxies in common use (nginx, HAProxy, Envoy, cloud load balancers)
// append to X-Forwarded-For and pass a client's own Forwarded header through
// untouched. A proxy that writes only Forwarded must drop an incoming
// X-Forwarded-For (docs/SECURITY.md).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is the set of proxies whose forwarding headers are believed. The
// zero value trusts nobody: the client is always the peer.
type Trusted struct {
	prefixes []netip.Prefix
}

// Parse reads a comma-separated list of CIDRs ("10.0.0.0/8", "fd00::/8")
// and addresses ("192.0.2.1"). Spaces around entries are ignored; an empty
// list trusts nobody.
func Parse(s string) (Trusted, error) {
	var t Trusted
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return Trusted{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
			}
			t.prefixes = append(t.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return Trusted{}, fmt.Errorf("%q is not an IP address or CIDR", f)
		}
		a = a.Unmap()
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// Empty reports whether no proxy is trusted.
func (t Trusted) Empty() bool { return len(t.prefixes) == 0 }

// Contains reports whether a is a trusted proxy.
func (t Trusted) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// String lists the trusted prefixes, for the start-up log.
func (t Trusted) String() string {
	s := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Addr returns the client address of r: the peer, or, when the peer is a
// trusted proxy, the right-most untrusted address of the forwarding
// headers. It returns the zero Addr only for a RemoteAddr that is not an
// IP address (never the case for a TCP listener).
func (t Trusted) Addr(r *http.Request) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if len(t.prefixes) == 0 || !peer.IsValid() || !t.Contains(peer) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		return t.walk(peer, xff, parseXFFEntry)
	}
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		return t.walk(peer, fwd, parseForwardedElement)
	}
	return peer
}

// walk goes through the comma-separated entries of the header lines from
// the right, skipping trusted proxies, and returns the first untrusted
// address. An entry that parse rejects stops the walk at the last trusted
// hop. When every entry is trusted, the left-most one is the client.
func (t Trusted) walk(peer netip.Addr, lines []string, parse func(string) (netip.Addr, bool)) netip.Addr {
	last := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			entry = strings.TrimSpace(entry)
			if entry != "" {
				a, ok := parse(entry)
				if !ok {
					return last
				}
				if !t.Contains(a) {
					return a
				}
				last = a
			}
			if line == "" {
				break
			}
		}
	}
	return last
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// parseXFFEntry reads one X-Forwarded-For entry: an address, optionally
// with a port ("192.0.2.1:5678", "[2001:db8::1]:5678").
func parseXFFEntry(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// parseForwardedElement reads the for= parameter of one RFC 7239
// forwarded-element ("for=192.0.2.60;proto=http;by=203.0.113.43",
// `for="[2001:db8:cafe::17]:4711"`). Obfuscated and "unknown" nodes
// (section 6) are not addresses.
func parseForwardedElement(s string) (netip.Addr, bool) {
	for _, pair := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if strings.HasPrefix(v, "[") {
			end := strings.IndexByte(v, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			a, err := netip.ParseAddr(v[1:end])
			if err != nil || !a.Is6() || a.Zone() != "" {
				return netip.Addr{}, false
			}
			return a, true
		}
		if host, _, err := net.SplitHostPort(v); err == nil {
			v = host
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			// RFC 7239 6.1: IPv6 must be in brackets.
			return netip.Addr{}, false
		}
		return a, true
	}
	return netip.Addr{}, false
}
