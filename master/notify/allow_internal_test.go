package notify

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWebhookAllowParse: bad entries are refused with a message saying what an entry may be;
// an empty list is "public".
func TestWebhookAllowParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    []string
		wantErr string
	}{
		{"empty is public", nil, ""},
		{"all forms", []string{"public", "10.0.0.0/8", "10.1.2.3", "::1", "[fe80::1]", "hooks.corp", "*.corp.example", "hooks.corp:8443", "127.0.0.1:9000"}, ""},
		{"bad port", []string{"hooks.corp:99999"}, "port"},
		{"not a port", []string{"hooks.corp:http"}, "port"},
		{"url", []string{"http://hooks.corp/x"}, "use public"},
		{"wildcard in the middle", []string{"hooks.*.corp"}, "use public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseWebhookAllow(tc.list)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(tc.list) == 0 && (!a.public || a.String() != "public") {
					t.Errorf("empty list: %+v", a)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--webhook-allow") {
				t.Errorf("error %v, want one naming --webhook-allow and %q", err, tc.wantErr)
			}
		})
	}
}

// TestWebhookAllowCheckURL: the check at operator add or update, with the default list and
// with a list naming internal destinations. The SSRF classics are refused by default.
func TestWebhookAllowCheckURL(t *testing.T) {
	def, _ := parseWebhookAllow(nil)
	corp, _ := parseWebhookAllow([]string{"public", "10.20.0.0/16", "hooks.corp:8443", "*.svc.internal"})
	only, _ := parseWebhookAllow([]string{"hooks.corp"})
	for _, tc := range []struct {
		name string
		a    *webhookAllow
		url  string
		ok   bool
	}{
		{"metadata service", def, "http://169.254.169.254/latest/meta-data/", false},
		{"loopback", def, "http://127.0.0.1:8222/varz", false},
		{"loopback v6", def, "http://[::1]:4222/", false},
		{"v4-mapped loopback", def, "http://[::ffff:127.0.0.1]/", false},
		{"private", def, "https://10.0.0.5/hook", false},
		{"CGNAT", def, "https://100.64.1.1/hook", false},
		{"unspecified", def, "http://0.0.0.0:8080/", false},
		{"localhost name", def, "http://localhost:8080/", false},
		{"localhost subdomain", def, "http://api.localhost/", false},
		{"public address", def, "https://8.8.8.8/hook", true},
		{"public name: checked at send", def, "https://hooks.slack.com/services/T0/B0/x", true},
		{"listed network", corp, "https://10.20.3.4/hook", true},
		{"other private network", corp, "https://10.21.3.4/hook", false},
		{"listed name and port", corp, "https://hooks.corp:8443/x", true},
		{"listed name, wrong port", corp, "https://hooks.corp/x", true}, // public is on the list: a name is checked at send
		{"wildcard", corp, "http://a.svc.internal/x", true},
		{"only a name: others refused", only, "https://hooks.slack.com/x", false},
		{"only a name: it passes", only, "https://hooks.corp/x", true},
		{"only a name: no public address", only, "https://8.8.8.8/x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.checkURL(tc.url)
			if tc.ok != (err == nil) {
				t.Fatalf("checkURL(%s) with %s = %v, want ok=%v", tc.url, tc.a, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrWebhookNotAllowed) || !strings.Contains(err.Error(), "--webhook-allow")) {
				t.Errorf("error %v does not name the flag", err)
			}
		})
	}
}

// TestWebhookAllowAtSend: the send-time check is made on the address dialled. A name that
// resolves to loopback (localhost here; DNS rebinding in the wild) is refused when only
// public addresses are admitted, and a redirect to another host is not followed.
func TestWebhookAllowAtSend(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	def, _ := parseWebhookAllow(nil)
	err := postWebhook(t.Context(), def.httpClient(5*time.Second), "http://localhost"+port+"/hook", []byte(`{}`))
	if !errors.Is(err, ErrWebhookNotAllowed) || hits != 0 {
		t.Fatalf("a name resolving to loopback: err %v, %d hits; want refused before connecting", err, hits)
	}
	lo, _ := parseWebhookAllow([]string{"127.0.0.1"})
	if err := postWebhook(t.Context(), lo.httpClient(5*time.Second), srv.URL+"/hook", []byte(`{}`)); err != nil || hits != 1 {
		t.Fatalf("listed loopback: err %v, %d hits", err, hits)
	}
	err = postWebhook(t.Context(), lo.httpClient(5*time.Second), srv.URL+"/redirect", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "redirects are not followed") || hits != 2 {
		t.Fatalf("redirect: err %v, %d hits", err, hits)
	}
	if !isPublic(netip.MustParseAddr("1.1.1.1")) || isPublic(netip.MustParseAddr("fd00::1")) || isPublic(netip.MustParseAddr("64:ff9b::a9fe:a9fe")) {
		t.Error("isPublic")
	}
}

// FuzzWebhookAllow: no list or URL panics the parser or the check, and "public" alone never
// admits a loopback, private or link-local address.
func FuzzWebhookAllow(f *testing.F) {
	for _, s := range []string{"public", "10.0.0.0/8", "hooks.corp:8443", "*.corp", "[::1]:80", "", "a:b:c", "1.2.3.4/33"} {
		f.Add(s, "http://169.254.169.254/x")
	}
	def, _ := parseWebhookAllow(nil)
	f.Fuzz(func(t *testing.T, entry, raw string) {
		if a, err := parseWebhookAllow(strings.Split(entry, ",")); err == nil {
			_ = a.checkURL(raw)
		}
		if ip, err := netip.ParseAddr(entry); err == nil {
			ip = ip.Unmap()
			if (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()) && def.addrAllowed(ip, 80) {
				t.Fatalf("public admits %s", ip)
			}
		}
	})
}
