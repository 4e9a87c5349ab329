package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Webhook allow-list. A webhook URL is an SSRF vector: an administrator (or whoever stole an
// admin token) could point one at the cloud metadata service (169.254.169.254), at the
// master's own loopback ports or at an internal service, and read what it answers in the
// delivery log. So the master posts webhooks only to the destinations Config.WebhookAllow
// (`--webhook-allow`) admits:
//
//	public            any public unicast address: not loopback, private (RFC 1918, fc00::/7),
//	                  link-local (169.254/16, fe80::/10), CGNAT (100.64/10), unspecified,
//	                  multicast, documentation or benchmarking ranges. The default.
//	10.0.0.0/8        an address in the CIDR (any port)
//	10.1.2.3          that address (any port); [::1] or ::1 for IPv6
//	hooks.corp        that host name, whatever it resolves to (any port)
//	*.corp.example    any name under corp.example
//	hooks.corp:8443   that host name or address on that port only
//
// An empty list means "public". Giving a list replaces the default: add "public" to keep it.
// The list is checked twice: when an operator is added or updated (an address, or a name the
// list names; a name resolved later is checked then), and when the webhook is sent, on the
// address the connection is actually made to (so a name that resolves to 169.254.169.254, or
// rebinds to it after the check, is refused). Redirects are not followed, and no HTTP proxy
// is used, so that the address checked is the address posted to.

// ErrWebhookNotAllowed: a webhook URL's destination is outside the allow-list.
var ErrWebhookNotAllowed = errors.New("webhook destination not allowed by --webhook-allow")

// allowPublic is the list entry for any public address, and the default.
const allowPublic = "public"

// webhookAllow is a parsed allow-list.
type webhookAllow struct {
	public bool
	nets   []allowNet
	names  []allowName
	raw    string
}

type allowNet struct {
	prefix netip.Prefix
	port   int // 0: any
}

type allowName struct {
	name     string // lower case; "*.x" for names under x
	port     int
	wildcard bool
}

// CheckWebhookAllow returns a clear error naming --webhook-allow when an entry of list is not
// one it takes.
func CheckWebhookAllow(list []string) error {
	_, err := parseWebhookAllow(list)
	return err
}

// parseWebhookAllow parses --webhook-allow entries; an empty list is "public".
func parseWebhookAllow(list []string) (*webhookAllow, error) {
	a := &webhookAllow{}
	var kept []string
	for _, e := range list {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		kept = append(kept, e)
		if strings.EqualFold(e, allowPublic) {
			a.public = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			a.nets = append(a.nets, allowNet{prefix: p.Masked()})
			continue
		}
		const how = "use public, a CIDR (10.0.0.0/8), an address, a host name (hooks.corp, *.corp.example), each with an optional :port"
		if strings.ContainsAny(e, "/ @?#") {
			return nil, fmt.Errorf("--webhook-allow %q: %s", e, how)
		}
		host, port := e, 0
		if h, p, err := net.SplitHostPort(e); err == nil {
			n, perr := strconv.Atoi(p)
			if perr != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("--webhook-allow %q: the port %q is not a number from 1 to 65535", e, p)
			}
			host, port = h, n
		}
		if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil { // 10.1.2.3, ::1, [::1]
			ip = ip.Unmap()
			a.nets = append(a.nets, allowNet{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: port})
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(host, "."))
		wild := strings.HasPrefix(name, "*.")
		if wild {
			name = name[2:]
		}
		if name == "" || strings.Contains(name, "*") {
			return nil, fmt.Errorf("--webhook-allow %q: %s", e, how)
		}
		a.names = append(a.names, allowName{name: name, port: port, wildcard: wild})
	}
	if len(kept) == 0 {
		a.public = true
		kept = []string{allowPublic}
	}
	a.raw = strings.Join(kept, ",")
	return a, nil
}

// String is the list as the flag takes it.
func (a *webhookAllow) String() string { return a.raw }

// nameAllowed reports whether a host name (not an address) on port is listed by name.
func (a *webhookAllow) nameAllowed(host string, port int) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, n := range a.names {
		if n.port != 0 && n.port != port {
			continue
		}
		if host == n.name || (n.wildcard && strings.HasSuffix(host, "."+n.name)) {
			return true
		}
	}
	return false
}

// addrAllowed reports whether an address on port is admitted.
func (a *webhookAllow) addrAllowed(ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	for _, n := range a.nets {
		if (n.port == 0 || n.port == port) && n.prefix.Contains(ip) {
			return true
		}
	}
	return a.public && isPublic(ip)
}

// nonPublic are the ranges "public" excludes beyond what netip's predicates say.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach IPv4 internals
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

func isPublic(ip netip.Addr) bool {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// checkURL is the check at operator add or update: an address in the URL must be admitted; a
// name must be listed, or "public" must be on the list (its addresses are checked at send
// time). localhost is a name for loopback, refused unless listed.
func (a *webhookAllow) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil // Validate reports the URL itself
	}
	host, port := u.Hostname(), portOf(u)
	if ip, err := netip.ParseAddr(host); err == nil {
		if a.addrAllowed(ip, port) {
			return nil
		}
		return fmt.Errorf("%w: %s is not a public address and --webhook-allow (%s) does not list it; add it (or its network, e.g. %s) to --webhook-allow on every master if this webhook is meant",
			ErrWebhookNotAllowed, net.JoinHostPort(host, strconv.Itoa(port)), a, suggestPrefix(ip))
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case a.nameAllowed(host, port):
		return nil
	case a.public && lower != "localhost" && !strings.HasSuffix(lower, ".localhost"):
		return nil
	}
	return fmt.Errorf("%w: host %s is not listed in --webhook-allow (%s); add %s (or its address) to --webhook-allow on every master if this webhook is meant",
		ErrWebhookNotAllowed, net.JoinHostPort(host, strconv.Itoa(port)), a, host)
}

func suggestPrefix(ip netip.Addr) string {
	if ip.Is4() {
		p, _ := ip.Prefix(24)
		return p.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

func portOf(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// httpClient returns the client webhooks are sent with: every connection it makes is checked
// against the list on the address actually dialled, no proxy, no redirects.
func (a *webhookAllow) httpClient(timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(p)
		byName := a.nameAllowed(host, port)
		d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
			if byName {
				return nil // the name is listed: trusted wherever it resolves
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot read the address %q dialled", ErrWebhookNotAllowed, address)
			}
			if !a.addrAllowed(ap.Addr(), int(ap.Port())) {
				return fmt.Errorf("%w: %s resolved to %s, which --webhook-allow (%s) does not admit", ErrWebhookNotAllowed, host, ap.Addr(), a)
			}
			return nil
		}}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{Proxy: nil, DialContext: dial, ForceAttemptHTTP2: true, MaxIdleConns: 100, MaxIdleConnsPerHost: 8,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect could lead anywhere: not followed
	}}
}
