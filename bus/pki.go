package bus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names in the directories given to EnsureCA and EnsureServerCert.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry EnsureServerCert replaces a certificate, so a master
	// restarted at least monthly never serves an expired one.
	renewBefore = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so a target whose clock runs a little behind accepts a
	// certificate issued a moment ago.
	clockSkew = 5 * time.Minute
)

// CA is the master's own certificate authority: it signs the bus server's certificate, and
// targets trust it either through its certificate file (--ca) or through its fingerprint carried
// in an enlistment token.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// CertFile is the path of the PEM file holding Cert (give it to targets with --ca).
	CertFile string
	key      *ecdsa.PrivateKey
}

// EnsureCA loads the CA kept in dir (ca.pem and ca-key.pem), or creates one the first time: an
// ECDSA P-256 key valid for 10 years. The key file is written with mode 0600 and the directory
// is created with mode 0700. It fails, rather than replace anything, when only one of the two
// files exists or they do not belong together: a new CA would cut off every enlisted target.
func EnsureCA(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	switch {
	case certErr == nil && keyErr == nil:
		return loadCA(certFile, keyFile)
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createCA(dir, certFile, keyFile)
	case certErr == nil:
		return nil, fmt.Errorf("load CA: %s exists but its key %s does not: restore the key, or remove both to create a new CA (every target must then trust the new one)", certFile, keyFile)
	case keyErr == nil:
		return nil, fmt.Errorf("load CA: %s exists but its certificate %s does not: restore the certificate, or remove both to create a new CA (every target must then trust the new one)", keyFile, certFile)
	default:
		return nil, fmt.Errorf("load CA from %s: %w", dir, errors.Join(certErr, keyErr))
	}
}

func createCA(dir, certFile, keyFile string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	now := time.Now()
	// The serial in the name tells apart two CAs made on one machine (a master set up twice):
	// without it, both are "msx CA host" and an unknown-authority error names the trusted one.
	id := fmt.Sprintf("%x", serial.Bytes()[:4])
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"msx"}, CommonName: strings.Join(strings.Fields("msx CA "+host+" "+id), " ")},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// The key goes first: a certificate without its key is the state EnsureCA refuses to repair.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	if err := writeFileAtomic(certFile, encodeCert(der), 0o644); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{Cert: cert, CertFile: certFile, key: key}, nil
}

func loadCA(certFile, keyFile string) (*CA, error) {
	certs, err := loadCerts(certFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key %s: %w", keyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: the key in %s does not belong to the certificate in %s", keyFile, certFile)
	}
	return &CA{Cert: cert, CertFile: certFile, key: key}, nil
}

// Fingerprint is the SHA-256 of the CA certificate's DER in lower-case hex (64 characters), the
// form operators compare by eye and openssl prints (without colons).
func (ca *CA) Fingerprint() string { return CertFingerprint(ca.Cert) }

// ShortFingerprint is the same SHA-256 in unpadded base64url (43 characters), the form carried
// in enlistment tokens. ParseFingerprint reads both forms.
func (ca *CA) ShortFingerprint() string { return shortFingerprint(ca.Cert) }

// SelfSigned makes (or loads) a CA in dir and a server certificate it issues for names there,
// and returns the server TLS options built on them: what a master uses when the operator gives
// no certificate of their own. The CA comes back too, for targets to trust.
func SelfSigned(dir string, names []string) (ServerTLSOptions, *CA, error) {
	ca, err := EnsureCA(dir)
	if err != nil {
		return ServerTLSOptions{}, nil, err
	}
	cert, key, err := ca.EnsureServerCert(dir, names)
	if err != nil {
		return ServerTLSOptions{}, nil, err
	}
	cfg, err := ServerTLS(cert, key)
	if err != nil {
		return ServerTLSOptions{}, nil, err
	}
	return ServerTLSOptions{Config: cfg}, ca, nil
}

// ShortFingerprintFile is the ShortFingerprint of the first certificate in a PEM file (an
// operator's own CA given with --ca).
func ShortFingerprintFile(file string) (string, error) {
	certs, err := loadCerts(file)
	if err != nil {
		return "", err
	}
	return shortFingerprint(certs[0]), nil
}

func shortFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertFingerprint is the SHA-256 of a certificate's DER in lower-case hex.
func CertFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint decodes a SHA-256 certificate fingerprint given as hex (upper or lower case,
// colons allowed, optional "sha256:" prefix) or as unpadded base64url (ShortFingerprint).
func ParseFingerprint(s string) ([]byte, error) {
	v := strings.TrimSpace(s)
	v = strings.TrimPrefix(strings.TrimPrefix(v, "sha256:"), "SHA256:")
	if h := strings.ReplaceAll(v, ":", ""); len(h) == 2*sha256.Size {
		if b, err := hex.DecodeString(h); err == nil {
			return b, nil
		}
	}
	if b, err := base64.RawURLEncoding.DecodeString(v); err == nil && len(b) == sha256.Size {
		return b, nil
	}
	return nil, fmt.Errorf("CA fingerprint %q: want a SHA-256 in hex (64 characters) or base64url (43 characters): %w", s, ErrFingerprint)
}

// EnsureServerCert returns the bus server's certificate and key files in dir (server.pem and
// server-key.pem), issuing them with this CA when they are missing, were not issued by this CA,
// name other hosts than wanted, or expire within 30 days. A master calls it on every start, which
// is how its certificate renews itself. The certificate is valid for one year for names plus
// "localhost", 127.0.0.1, ::1 and this machine's host name; the file holds the leaf followed by
// the CA certificate, so a client can find the CA in the chain by its fingerprint.
func (ca *CA) EnsureServerCert(dir string, names []string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	want, err := sanList(defaultNames(names))
	if err != nil {
		return "", "", fmt.Errorf("server certificate: %w", err)
	}
	if ca.serverCertCurrent(certFile, keyFile, want) {
		return certFile, keyFile, nil
	}
	now := time.Now()
	// The first name the caller gave becomes the subject's common name, which tools display.
	certPEM, keyPEM, err := ca.IssueServerCert(want, now.Add(-clockSkew), now.Add(serverValidity))
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("server certificate: %w", err)
	}
	if err := WriteKeyPair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// serverCertCurrent reports whether the files hold a certificate from this CA, for exactly the
// wanted names, with its key, that does not expire soon. Any doubt means "issue a new one".
func (ca *CA) serverCertCurrent(certFile, keyFile string, want []string) bool {
	certs, err := loadCerts(certFile)
	if err != nil {
		return false
	}
	leaf := certs[0]
	if leaf.CheckSignatureFrom(ca.Cert) != nil || time.Until(leaf.NotAfter) < renewBefore || time.Now().Before(leaf.NotBefore) {
		return false
	}
	have := append(slices.Clone(leaf.DNSNames), ipStrings(leaf.IPAddresses)...)
	slices.Sort(have)
	if !slices.Equal(have, slices.Sorted(slices.Values(want))) {
		return false
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return false
	}
	key, err := decodeKey(keyPEM)
	return err == nil && key.PublicKey.Equal(leaf.PublicKey)
}

// IssueServerCert signs a server certificate valid from notBefore to notAfter for exactly the
// names given (host names or IP addresses, no defaults added) and returns the certificate chain
// (leaf, then CA) and a new ECDSA P-256 key, both in PEM. EnsureServerCert is the usual way in;
// this is for tests and for tools that place the files themselves (see WriteKeyPair).
func (ca *CA) IssueServerCert(names []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("issue server certificate: at least one host name or IP address is required")
	}
	if !notAfter.After(notBefore) {
		return nil, nil, fmt.Errorf("issue server certificate: not-after %s is not after not-before %s", notAfter, notBefore)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"msx"}, CommonName: names[0]},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, nil, fmt.Errorf("issue server certificate: %w", err)
		}
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return append(encodeCert(der), encodeCert(ca.Cert.Raw)...), keyPEM, nil
}

// WriteKeyPair replaces a certificate file and its key file, each atomically (a reader sees the
// old file or the new one, never half of one); the key gets mode 0600. A server using ServerTLS
// picks the new pair up on its next handshake.
func WriteKeyPair(certFile, keyFile string, certPEM, keyPEM []byte) error {
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// loadCerts parses every certificate in a PEM file, in order.
func loadCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read certificates from %s: %w", file, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("read certificates: %s holds no PEM certificate", file)
	}
	return certs, nil
}

// defaultNames adds the names every master certificate carries, so local targets and tools
// connect without flags.
func defaultNames(names []string) []string {
	all := append(slices.Clone(names), "localhost", "127.0.0.1", "::1")
	if host, err := os.Hostname(); err == nil && checkName(host) == nil {
		all = append(all, host)
	}
	return all
}

// sanList normalises names the way they come back out of a certificate: lower-case host names,
// canonical IP text, no blanks, no duplicates, in the order given.
func sanList(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if err := checkName(n); err != nil {
			return nil, err
		}
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		} else {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func checkName(n string) error {
	if net.ParseIP(n) != nil {
		return nil
	}
	if n == "" || strings.ContainsAny(n, " \t/\\@:") {
		if _, _, err := net.SplitHostPort(n); err == nil {
			return fmt.Errorf("certificate name %q: want a host name or IP address without a port", n)
		}
		return fmt.Errorf("certificate name %q: want a host name or IP address", n)
	}
	return nil
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return serial, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want ECDSA", key)
	}
	return ec, nil
}

// writeFileAtomic writes to a temporary file in the same directory and renames it over name.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
