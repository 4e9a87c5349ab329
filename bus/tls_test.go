package bus_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// startTLSServer runs a JetStream server whose TLS certificate is certFile/keyFile (none when
// certFile is empty) and returns its nats:// URL: the client's mode, not the scheme, decides TLS.
func startTLSServer(tb testing.TB, certFile, keyFile string, allowPlaintext bool) string {
	tb.Helper()
	cfg := bus.ServerConfig{StoreDir: tb.TempDir(), Logger: bustest.Logger(tb)}
	if certFile != "" {
		tc, err := bus.ServerTLS(certFile, keyFile)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Customize = bus.ServerTLSOptions{Config: tc, AllowPlaintext: allowPlaintext}.Apply
	}
	s, err := bus.StartServer(tb.Context(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return fmt.Sprintf("nats://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// connectTLS dials url in mode and returns the connection or the explained error.
func connectTLS(tb testing.TB, url string, mode bus.EncryptMode, caFile, fp string) (*nats.Conn, error) {
	tb.Helper()
	opts, err := bus.ClientTLS(mode, caFile, fp, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: url, Logger: bustest.Logger(tb), Options: opts})
	if err != nil {
		return nil, bus.ExplainTLS(err, url)
	}
	tb.Cleanup(nc.Close)
	return nc, nil
}

// issue writes a certificate for names, valid from notBefore to notAfter, into a new directory.
func issue(tb testing.TB, ca *bus.CA, names []string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	tb.Helper()
	certPEM, keyPEM, err := ca.IssueServerCert(names, notBefore, notAfter)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := bus.WriteKeyPair(certFile, keyFile, certPEM, keyPEM); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

func ensureCA(tb testing.TB) *bus.CA {
	tb.Helper()
	ca, err := bus.EnsureCA(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

func TestTLSModes(t *testing.T) {
	ca, other := ensureCA(t), ensureCA(t)
	now := time.Now()
	expiredAt := now.Add(-48 * time.Hour).Truncate(time.Second)

	goodCert, goodKey, err := ca.EnsureServerCert(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := other.EnsureServerCert(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	nameCert, nameKey := issue(t, ca, []string{"db.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	oldCert, oldKey := issue(t, ca, []string{"127.0.0.1", "localhost"}, now.Add(-72*time.Hour), expiredAt)
	validFrom := now.Add(48 * time.Hour).Truncate(time.Second)
	earlyCert, earlyKey := issue(t, ca, []string{"127.0.0.1", "localhost"}, validFrom, now.Add(72*time.Hour))

	servers := map[string]string{
		"good":       startTLSServer(t, goodCert, goodKey, false),
		"other CA":   startTLSServer(t, otherCert, otherKey, false),
		"wrong name": startTLSServer(t, nameCert, nameKey, false),
		"expired":    startTLSServer(t, oldCert, oldKey, false),
		"not yet":    startTLSServer(t, earlyCert, earlyKey, false),
		"plaintext":  startTLSServer(t, goodCert, goodKey, true),
		"no TLS":     startTLSServer(t, "", "", false),
	}

	tests := []struct {
		name    string
		server  string
		host    string // dialled instead of 127.0.0.1
		mode    bus.EncryptMode
		caFile  string
		fp      string
		wantErr error
		want    []string // in the error message
	}{
		{name: "verify with CA file", server: "good", mode: bus.ModeVerify, caFile: ca.CertFile},
		{name: "default mode is verify", server: "good", mode: "", caFile: ca.CertFile},
		{name: "verify by host name", server: "good", host: "localhost", mode: bus.ModeVerify, caFile: ca.CertFile},
		{name: "verify another CA", server: "other CA", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrUnknownAuthority,
			want: []string{"--ca FILE", "token", other.Cert.Subject.CommonName, other.Fingerprint()}},
		{name: "verify wrong IP", server: "wrong name", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrNameMismatch,
			want: []string{`"db.example"`, `dialled "127.0.0.1"`, "--tls-name"}},
		{name: "verify wrong host name", server: "wrong name", host: "localhost", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrNameMismatch,
			want: []string{`"db.example"`, `dialled "localhost"`, "--tls-name"}},
		{name: "verify expired", server: "expired", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrExpired,
			want: []string{"expired at " + expiredAt.UTC().Format(time.RFC3339), "renews"}},
		{name: "verify not yet valid", server: "not yet", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrExpired,
			want: []string{"not valid until " + validFrom.UTC().Format(time.RFC3339), "clock"}},
		{name: "encrypt good", server: "good", mode: bus.ModeEncrypt},
		{name: "encrypt another CA", server: "other CA", mode: bus.ModeEncrypt},
		{name: "encrypt wrong name", server: "wrong name", mode: bus.ModeEncrypt},
		{name: "encrypt expired", server: "expired", mode: bus.ModeEncrypt},
		{name: "fingerprint", server: "good", mode: bus.ModeVerify, fp: ca.Fingerprint()},
		{name: "short fingerprint", server: "good", mode: bus.ModeVerify, fp: ca.ShortFingerprint()},
		{name: "fingerprint by host name", server: "good", host: "localhost", mode: bus.ModeVerify, fp: ca.ShortFingerprint()},
		{name: "CA file and fingerprint", server: "good", mode: bus.ModeVerify, caFile: ca.CertFile, fp: ca.Fingerprint()},
		{name: "wrong fingerprint", server: "good", mode: bus.ModeVerify, fp: other.Fingerprint(), wantErr: bus.ErrFingerprint,
			want: []string{other.Fingerprint(), ca.Fingerprint(), "token"}},
		{name: "fingerprint another CA", server: "other CA", mode: bus.ModeVerify, fp: ca.ShortFingerprint(), wantErr: bus.ErrFingerprint},
		{name: "fingerprint wrong IP", server: "wrong name", mode: bus.ModeVerify, fp: ca.Fingerprint(), wantErr: bus.ErrNameMismatch,
			want: []string{`"db.example"`, "--tls-name"}},
		{name: "fingerprint wrong host name", server: "wrong name", host: "localhost", mode: bus.ModeVerify, fp: ca.Fingerprint(), wantErr: bus.ErrNameMismatch,
			want: []string{`"db.example"`, `dialled "localhost"`}},
		{name: "fingerprint expired", server: "expired", mode: bus.ModeVerify, fp: ca.Fingerprint(), wantErr: bus.ErrExpired},
		{name: "none against TLS required", server: "good", mode: bus.ModeNone, wantErr: bus.ErrModeMismatch,
			want: []string{"--encrypt", "--allow-plaintext"}},
		{name: "none against plaintext allowed", server: "plaintext", mode: bus.ModeNone},
		{name: "verify against plaintext allowed", server: "plaintext", mode: bus.ModeVerify, caFile: ca.CertFile},
		{name: "verify against no TLS", server: "no TLS", mode: bus.ModeVerify, caFile: ca.CertFile, wantErr: bus.ErrModeMismatch,
			want: []string{"--encrypt none"}},
		{name: "none against no TLS", server: "no TLS", mode: bus.ModeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := servers[tt.server]
			if tt.host != "" {
				url = strings.Replace(url, "127.0.0.1", tt.host, 1)
			}
			nc, err := connectTLS(t, url, tt.mode, tt.caFile, tt.fp)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				_, tlsErr := nc.TLSConnectionState()
				if isTLS := tlsErr == nil; isTLS == (tt.mode == bus.ModeNone || tt.server == "no TLS") {
					t.Errorf("connection uses TLS: %v, want %v", isTLS, !isTLS)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("connect: %v, want %v", err, tt.wantErr)
			}
			t.Log(err)
			if again := bus.ExplainTLS(err, url); again != err {
				t.Errorf("ExplainTLS is not idempotent: %v", again)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q: %v", w, err)
				}
			}
		})
	}
}

func TestTLSReloadsCertificate(t *testing.T) {
	ca := ensureCA(t)
	dir := t.TempDir()
	certFile, keyFile, err := ca.EnsureServerCert(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := startTLSServer(t, certFile, keyFile, false)

	serial := func() string {
		t.Helper()
		nc, err := connectTLS(t, url, bus.ModeVerify, ca.CertFile, "")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		cs, err := nc.TLSConnectionState()
		if err != nil {
			t.Fatal(err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	before := serial()

	now := time.Now()
	certPEM, keyPEM, err := ca.IssueServerCert([]string{"127.0.0.1", "localhost"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.WriteKeyPair(certFile, keyFile, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	issued, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	after := serial()
	if after == before {
		t.Fatalf("serial %s unchanged after replacing the certificate files", after)
	}
	if want := issued.SerialNumber.String(); after != want {
		t.Errorf("serial %s, want the new certificate's %s", after, want)
	}
}

func TestTLSServerKeepsLastPairWhileFilesChange(t *testing.T) {
	ca := ensureCA(t)
	certFile, keyFile, err := ca.EnsureServerCert(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := bus.ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	// A new key without its certificate: the pair does not match yet.
	_, keyPEM, err := ca.IssueServerCert([]string{"localhost"}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || got != first {
		t.Fatalf("GetCertificate during a half-written replacement = %p, %v; want the previous pair %p", got, err, first)
	}
	if _, err := bus.ServerTLS(certFile, keyFile); err == nil {
		t.Error("ServerTLS accepted a key that does not match the certificate")
	}
}

func TestTLSEnsureCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := bus.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := bus.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Fingerprint() != again.Fingerprint() {
		t.Errorf("second EnsureCA made a new CA: %s, want %s", again.Fingerprint(), ca.Fingerprint())
	}
	if fi, err := os.Stat(filepath.Join(dir, bus.CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	c := ca.Cert
	if !c.IsCA || c.NotAfter.Sub(c.NotBefore) < 9*365*24*time.Hour {
		t.Errorf("CA certificate: IsCA %v, valid %s", c.IsCA, c.NotAfter.Sub(c.NotBefore))
	}
	if fp := ca.Fingerprint(); len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Errorf("Fingerprint %q: want 64 lower-case hex digits", fp)
	}
	long, err := bus.ParseFingerprint(ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	short, err := bus.ParseFingerprint(ca.ShortFingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(long, short) || len(ca.ShortFingerprint()) >= len(ca.Fingerprint()) {
		t.Errorf("ShortFingerprint %q is not a shorter form of %q", ca.ShortFingerprint(), ca.Fingerprint())
	}

	if err := os.Remove(filepath.Join(dir, bus.CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.EnsureCA(dir); err == nil {
		t.Error("EnsureCA replaced a CA whose key is missing")
	}
}

func TestTLSEnsureServerCert(t *testing.T) {
	ca := ensureCA(t)
	dir := t.TempDir()
	load := func() []*x509.Certificate {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, bus.ServerCertFile))
		if err != nil {
			t.Fatal(err)
		}
		var certs []*x509.Certificate
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, c)
		}
		return certs
	}
	if _, _, err := ca.EnsureServerCert(dir, []string{"master.example"}); err != nil {
		t.Fatal(err)
	}
	chain := load()
	if len(chain) != 2 || !chain[1].Equal(ca.Cert) {
		t.Fatalf("certificate file holds %d certificates, want the leaf and then the CA", len(chain))
	}
	leaf := chain[0]
	for _, n := range []string{"master.example", "localhost"} {
		if !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("DNS names %v lack %q", leaf.DNSNames, n)
		}
	}
	if host, err := os.Hostname(); err == nil && !slices.Contains(leaf.DNSNames, strings.ToLower(host)) {
		t.Errorf("DNS names %v lack the host name %q", leaf.DNSNames, host)
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("IP addresses %v lack %s", leaf.IPAddresses, ip)
		}
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity %s, want a year", d)
	}
	if info, err := os.Stat(filepath.Join(dir, bus.ServerKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("server key file mode: %v, want 0600", err)
	}

	tests := []struct {
		name    string
		prepare func(t *testing.T)
		names   []string
		rewrite bool
	}{
		{name: "unchanged", names: []string{"master.example"}},
		{name: "same names in another case and order", names: []string{"MASTER.example", "localhost"}},
		{name: "names changed", names: []string{"master.example", "bus.example"}, rewrite: true},
		{name: "expires within 30 days", names: []string{"master.example"}, rewrite: true, prepare: func(t *testing.T) {
			certPEM, keyPEM, err := ca.IssueServerCert(leaf.DNSNames, time.Now().Add(-time.Hour), time.Now().Add(10*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := bus.WriteKeyPair(filepath.Join(dir, bus.ServerCertFile), filepath.Join(dir, bus.ServerKeyFile), certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "issued by another CA", names: []string{"master.example"}, rewrite: true, prepare: func(t *testing.T) {
			if _, _, err := ensureCA(t).EnsureServerCert(dir, []string{"master.example"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare(t)
			}
			before := load()[0]
			if _, _, err := ca.EnsureServerCert(dir, tt.names); err != nil {
				t.Fatal(err)
			}
			after := load()[0]
			if rewritten := !after.Equal(before); rewritten != tt.rewrite {
				t.Errorf("rewritten = %v, want %v", rewritten, tt.rewrite)
			}
			if after.CheckSignatureFrom(ca.Cert) != nil || time.Until(after.NotAfter) < 300*24*time.Hour {
				t.Errorf("after EnsureServerCert the certificate is not a fresh one from this CA")
			}
		})
	}

	if _, _, err := ca.EnsureServerCert(dir, []string{"master.example:4222"}); err == nil {
		t.Error("EnsureServerCert accepted a name with a port")
	}
}

func TestTLSParseEncryptMode(t *testing.T) {
	tests := []struct {
		in      string
		want    bus.EncryptMode
		wantErr error
	}{
		{in: "", want: bus.ModeVerify},
		{in: "verify", want: bus.ModeVerify},
		{in: "2", want: bus.ModeVerify},
		{in: "Encrypt", want: bus.ModeEncrypt},
		{in: "1", want: bus.ModeEncrypt},
		{in: " none ", want: bus.ModeNone},
		{in: "0", want: bus.ModeNone},
		{in: "off", wantErr: bus.ErrInvalidEncryptMode},
		{in: "3", wantErr: bus.ErrInvalidEncryptMode},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := bus.ParseEncryptMode(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseEncryptMode(%q) error %v, want %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				for _, v := range []string{"verify", "encrypt", "none"} {
					if !strings.Contains(err.Error(), v) {
						t.Errorf("error does not name %q: %v", v, err)
					}
				}
			}
			if got != tt.want {
				t.Errorf("ParseEncryptMode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if _, err := bus.ClientTLS("sometimes", "", "", nil); !errors.Is(err, bus.ErrInvalidEncryptMode) {
		t.Errorf("ClientTLS with a bad mode: %v", err)
	}
	if _, err := bus.ClientTLS(bus.ModeVerify, "", "abc", nil); !errors.Is(err, bus.ErrFingerprint) {
		t.Errorf("ClientTLS with a bad fingerprint: %v", err)
	}
	ca, other := ensureCA(t), ensureCA(t)
	if _, err := bus.ClientTLS(bus.ModeVerify, ca.CertFile, other.Fingerprint(), nil); !errors.Is(err, bus.ErrFingerprint) {
		t.Errorf("ClientTLS with a CA file that does not match the fingerprint: %v", err)
	}
}

func TestTLSExplainPassesOtherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{name: "nil"},
		{name: "unrelated", err: nats.ErrNoServers, want: nats.ErrNoServers},
		{name: "secure connection required", err: fmt.Errorf("connect: %w", nats.ErrSecureConnRequired), want: bus.ErrModeMismatch},
		{name: "server TLS required message", err: errors.New("nats: secure connection - tls required"), want: bus.ErrModeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bus.ExplainTLS(tt.err, "nats://m:4222")
			if tt.want == nil {
				if got != nil {
					t.Fatalf("ExplainTLS(nil) = %v", got)
				}
				return
			}
			if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
				t.Errorf("ExplainTLS(%v) = %v, want it to match %v and keep the original", tt.err, got, tt.want)
			}
			if again := bus.ExplainTLS(got, "nats://m:4222"); again != got {
				t.Errorf("ExplainTLS is not idempotent: %v", again)
			}
		})
	}
}

func FuzzParseFingerprint(f *testing.F) {
	for _, s := range []string{"", "abc", "sha256:" + strings.Repeat("ab", 32), strings.Repeat("AB:", 31) + "AB", strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := bus.ParseFingerprint(s)
		if err == nil && len(b) != 32 {
			t.Fatalf("ParseFingerprint(%q) = %d bytes", s, len(b))
		}
		if err != nil && !errors.Is(err, bus.ErrFingerprint) {
			t.Fatalf("ParseFingerprint(%q): %v is not ErrFingerprint", s, err)
		}
	})
}

func FuzzParseEncryptMode(f *testing.F) {
	for _, s := range []string{"", "verify", "encrypt", "none", "0", "1", "2", "off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := bus.ParseEncryptMode(s)
		if err != nil {
			if !errors.Is(err, bus.ErrInvalidEncryptMode) {
				t.Fatalf("ParseEncryptMode(%q): %v", s, err)
			}
			return
		}
		if again, err := bus.ParseEncryptMode(m.String()); err != nil || again != m {
			t.Fatalf("round trip of %q: %q, %v", m, again, err)
		}
	})
}
