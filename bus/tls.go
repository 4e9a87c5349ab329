package bus

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerTLS returns the TLS configuration of the bus server for a certificate file (leaf first,
// then any intermediates and the CA) and its key. The files are read now, and read again on the
// first handshake after either one's modification time or size changes, so a renewed or
// replaced certificate is served without a restart. While a replacement is half written (a new
// key with the old certificate), handshakes keep the pair loaded last. It fails when the files
// cannot be loaded now.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.certificate(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.certificate() },
	}, nil
}

// certReloader holds the key pair loaded last and the stamps of the files it came from.
type certReloader struct {
	certFile, keyFile string

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (r *certReloader) certificate() (*tls.Certificate, error) {
	stamp, statErr := r.stat()
	r.mu.Lock()
	defer r.mu.Unlock()
	if statErr == nil && r.cert != nil && stamp == r.stamp {
		return r.cert, nil
	}
	var err error
	if statErr != nil {
		err = statErr
	} else {
		var c tls.Certificate
		if c, err = tls.LoadX509KeyPair(r.certFile, r.keyFile); err == nil {
			r.cert, r.stamp = &c, stamp
			return r.cert, nil
		}
	}
	if r.cert != nil {
		// Files being replaced: serve the previous pair and look again on the next handshake.
		return r.cert, nil
	}
	return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
}

func (r *certReloader) stat() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

// ServerTLSOptions turn TLS on for the embedded bus server. Use Apply as, or inside,
// ServerConfig.Customize.
type ServerTLSOptions struct {
	// Config is the server's TLS configuration, normally from ServerTLS. Required.
	Config *tls.Config
	// AllowPlaintext also accepts clients that do not use TLS (encryption mode none). Default
	// false: TLS is required and a client in mode none is refused.
	AllowPlaintext bool
	// HandshakeTimeout bounds the TLS handshake; default 5s.
	HandshakeTimeout time.Duration
}

// Apply sets the TLS fields of the server options. It fails without a Config.
func (o ServerTLSOptions) Apply(opts *server.Options) error {
	if o.Config == nil {
		return fmt.Errorf("bus TLS: a TLS configuration is required (see bus.ServerTLS)")
	}
	timeout := o.HandshakeTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	opts.TLS = true
	opts.TLSConfig = o.Config
	opts.TLSTimeout = timeout.Seconds()
	opts.AllowNonTLS = o.AllowPlaintext
	return nil
}

// EncryptMode is how a client protects its connection to the bus. The modes mirror SQL Server
// Agent's MsxEncryptChannelOptions: 2 verify, 1 encrypt, 0 none.
type EncryptMode string

const (
	// ModeVerify is TLS with full certificate validation, the default.
	ModeVerify EncryptMode = "verify"
	// ModeEncrypt is TLS without certificate validation: encrypted, but the server is not
	// authenticated, so a man in the middle goes unnoticed.
	ModeEncrypt EncryptMode = "encrypt"
	// ModeNone is plaintext; the server must allow it (ServerTLSOptions.AllowPlaintext).
	ModeNone EncryptMode = "none"
)

// ParseEncryptMode reads an encryption mode: verify, encrypt or none (any case), or the
// MsxEncryptChannelOptions numbers 2, 1 or 0. An empty string is ModeVerify. Other values fail
// with ErrInvalidEncryptMode.
func ParseEncryptMode(s string) (EncryptMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "verify", "2":
		return ModeVerify, nil
	case "encrypt", "1":
		return ModeEncrypt, nil
	case "none", "0":
		return ModeNone, nil
	}
	return "", fmt.Errorf("encryption mode %q: want verify (the default, full validation), encrypt (TLS without validation) or none: %w", s, ErrInvalidEncryptMode)
}

// String returns the mode's name; the zero value is "verify".
func (m EncryptMode) String() string {
	if m == "" {
		return string(ModeVerify)
	}
	return string(m)
}

// Set parses a mode, so an *EncryptMode is a flag.Value.
func (m *EncryptMode) Set(s string) error {
	v, err := ParseEncryptMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// UnmarshalText parses a mode in JSON and YAML configuration.
// Type names the flag value type (pflag.Value).
func (m *EncryptMode) Type() string { return "mode" }

// UnmarshalText reads a mode.
func (m *EncryptMode) UnmarshalText(b []byte) error { return m.Set(string(b)) }

// MarshalText writes the mode's name.
func (m EncryptMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ClientTLS returns the nats.go options (for ConnConfig.Options) that connect in mode:
//
//   - verify with caFile: the server's chain must lead to a CA in caFile, and its certificate
//     must name the host in the URL. If caFingerprint is given too, caFile must hold that CA.
//   - verify with only caFingerprint (hex or base64url, as in an enlistment token): the server
//     must present the CA with that SHA-256 fingerprint in its chain, and its certificate must
//     verify against that CA alone and name the host dialled. When the URL holds an IP address
//     (TLS sends no name then), the certificate must be valid for an IP address in the URLs.
//   - verify with neither: the system's trusted roots.
//   - encrypt: TLS without any validation; a warning goes to log.
//   - none: no TLS. If the server requires TLS the connection fails with an error that
//     ExplainTLS reports as ErrModeMismatch (nats.go would otherwise switch to TLS by itself).
//
// Pass connection errors through ExplainTLS. ClientTLS fails with ErrInvalidEncryptMode,
// ErrFingerprint, or when caFile cannot be read. A nil log means slog.Default().
func ClientTLS(mode EncryptMode, caFile, caFingerprint string, log *slog.Logger) ([]nats.Option, error) {
	if log == nil {
		log = slog.Default()
	}
	mode, err := ParseEncryptMode(string(mode))
	if err != nil {
		return nil, err
	}
	switch mode {
	case ModeNone:
		return []nats.Option{plaintextOnly()}, nil
	case ModeEncrypt:
		log.Warn("bus connection is encrypted but the master's certificate is not validated (encryption mode encrypt): anyone on the path can pose as the master; use --encrypt verify with --ca FILE or an enlistment token",
			"component", "bus.tls")
		return []nats.Option{nats.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // mode encrypt is, by definition, TLS without validation
		})}, nil
	}
	var fp []byte
	if caFingerprint != "" {
		if fp, err = ParseFingerprint(caFingerprint); err != nil {
			return nil, err
		}
	}
	if caFile == "" && fp != nil {
		return []nats.Option{pinnedCA(fp)}, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		certs, err := loadCerts(caFile)
		if err != nil {
			return nil, fmt.Errorf("bus CA file: %w", err)
		}
		if fp != nil && findFingerprint(certs, fp) == nil {
			return nil, fmt.Errorf("bus CA file %s does not hold the CA with fingerprint %s: %w", caFile, caFingerprint, ErrFingerprint)
		}
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range certs {
			cfg.RootCAs.AddCert(c)
		}
	}
	// ServerName stays empty: nats.go fills it per server from the URL.
	return []nats.Option{nats.Secure(cfg)}, nil
}

// plaintextOnly keeps nats.go from upgrading to TLS on its own when the server requires it: the
// TLS configuration it would use refuses every handshake with errServerWantsTLS.
func plaintextOnly() nats.Option {
	return func(o *nats.Options) error {
		o.Secure = false
		o.TLSConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // VerifyConnection refuses every server
			VerifyConnection:   func(tls.ConnectionState) error { return errServerWantsTLS },
		}
		return nil
	}
}

// pinnedCA verifies the server against the one CA whose fingerprint the client knows. The URLs
// are read when the option is applied, because a handshake with an IP address carries no name.
func pinnedCA(fp []byte) nats.Option {
	return func(o *nats.Options) error {
		ips := hostIPs(append([]string{o.Url}, o.Servers...))
		o.Secure = true
		o.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Standard verification needs the CA up front; VerifyConnection does the same checks
			// with the CA taken from the presented chain by its fingerprint.
			InsecureSkipVerify: true,
			VerifyConnection:   func(cs tls.ConnectionState) error { return verifyPinned(cs, fp, ips) },
		}
		return nil
	}
}

func verifyPinned(cs tls.ConnectionState, fp []byte, ips []string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("the server presented no certificate: %w", ErrFingerprint)
	}
	root := findFingerprint(certs, fp)
	if root == nil {
		return &fingerprintError{want: fp, chain: certs}
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	opts.Roots.AddCert(root)
	for _, c := range certs[1:] {
		if c != root {
			opts.Intermediates.AddCert(c)
		}
	}
	hosts := []string{cs.ServerName}
	if cs.ServerName == "" {
		hosts = ips
	}
	if len(hosts) == 0 {
		return fmt.Errorf("cannot check the server's certificate against the host dialled: connect by host name or IP address")
	}
	var first error
	for _, h := range hosts {
		opts.DNSName = h
		_, err := certs[0].Verify(opts)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: first}
}

func findFingerprint(certs []*x509.Certificate, fp []byte) *x509.Certificate {
	for _, c := range certs {
		if sum := sha256.Sum256(c.Raw); bytes.Equal(sum[:], fp) {
			return c
		}
	}
	return nil
}

// hostIPs returns the IP addresses among the hosts of NATS server URLs.
func hostIPs(urls []string) []string {
	var ips []string
	for _, u := range urls {
		h := u
		if i := strings.Index(h, "://"); i >= 0 {
			h = h[i+3:]
		}
		if i := strings.LastIndex(h, "@"); i >= 0 {
			h = h[i+1:]
		}
		h = strings.TrimRight(h, "/")
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.Trim(h, "[]")
		if net.ParseIP(h) != nil {
			ips = append(ips, h)
		}
	}
	return ips
}

// RouteTLS returns the TLS configuration of a cluster node's routes (ClusterConfig.TLS): the
// node presents the certificate in certFile (reloaded as ServerTLS does) both when it accepts
// a route and when it dials one, and accepts a peer only with a certificate issued by the CA in
// caFile, checked both ways. The certificate must allow client authentication too (those bus.CA
// issues do). It fails when a file cannot be loaded now.
func RouteTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cfg, err := ServerTLS(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("route TLS: %w", err)
	}
	certs, err := loadCerts(caFile)
	if err != nil {
		return nil, fmt.Errorf("route TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	getCert := cfg.GetCertificate
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return getCert(nil) }
	cfg.RootCAs, cfg.ClientCAs = pool, pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}
