package bus

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrUnknownAuthority is returned (through ExplainTLS) when the bus server's certificate was
// issued by a CA this client does not trust.
var ErrUnknownAuthority = errors.New("certificate signed by an unknown authority")

// ErrNameMismatch is returned (through ExplainTLS) when the bus server's certificate is not
// valid for the host name or address the client dialled.
var ErrNameMismatch = errors.New("certificate is for another host name")

// ErrExpired is returned (through ExplainTLS) when a certificate in the bus server's chain has
// expired or is not valid yet.
var ErrExpired = errors.New("certificate expired or not yet valid")

// ErrModeMismatch is returned (through ExplainTLS) when one side wants TLS and the other does
// not: a client in mode none against a server that requires TLS, or a client that wants TLS
// against a server without it.
var ErrModeMismatch = errors.New("encryption mode mismatch")

// ErrFingerprint is returned when a CA fingerprint cannot be parsed, when a CA file does not
// match the fingerprint given with it, and (through ExplainTLS) when no certificate presented by
// the bus server has the expected CA fingerprint.
var ErrFingerprint = errors.New("CA fingerprint mismatch")

// ErrInvalidEncryptMode is returned by ParseEncryptMode and ClientTLS for an unknown mode.
var ErrInvalidEncryptMode = errors.New("invalid encryption mode")

// errServerWantsTLS is what a client in mode none reports when the server asks for TLS: nats.go
// would otherwise upgrade silently and fail later with a confusing certificate error.
var errServerWantsTLS = errors.New("the server requires TLS and this client's encryption mode is none")

// fingerprintError says which certificates a server presented when none had the pinned CA
// fingerprint.
type fingerprintError struct {
	want  []byte
	chain []*x509.Certificate
}

func (e *fingerprintError) Error() string {
	return fmt.Sprintf("no certificate presented has SHA-256 fingerprint %s", hex.EncodeToString(e.want))
}

func (e *fingerprintError) Unwrap() error { return ErrFingerprint }

// ExplainTLS turns a failed connection to the bus at url into an error that says what is wrong
// and how to fix it, matching ErrUnknownAuthority, ErrNameMismatch, ErrExpired, ErrModeMismatch
// or ErrFingerprint with errors.Is and still wrapping err. Other errors, and errors already
// explained, come back unchanged; nil stays nil.
func ExplainTLS(err error, url string) error {
	if err == nil {
		return nil
	}
	var done *explained
	if errors.As(err, &done) {
		return err
	}
	if e := explain(err, Redact(url)); e != nil {
		return &explained{e}
	}
	return err
}

// explained marks an error ExplainTLS has already rewritten.
type explained struct{ error }

func (e *explained) Unwrap() error { return e.error }

// explain returns the rewritten error, or nil when err is not one ExplainTLS knows.
func explain(err error, url string) error {
	var (
		fpErr    *fingerprintError
		nameErr  x509.HostnameError
		validErr x509.CertificateInvalidError
		authErr  x509.UnknownAuthorityError
		lower    = strings.ToLower(err.Error())
	)
	switch {
	case errors.As(err, &fpErr):
		var seen []string
		for _, c := range fpErr.chain {
			seen = append(seen, fmt.Sprintf("%q sha256 %s", certName(c), CertFingerprint(c)))
		}
		return fmt.Errorf("connect to %s: %w: none of the certificates the master presented has the CA fingerprint %s from the enlistment token (it presented %s); the token was created on another master or this master's CA was replaced: create a new token on the master you mean to join, or give its CA with --ca FILE: %w",
			url, ErrFingerprint, hex.EncodeToString(fpErr.want), strings.Join(seen, ", "), err)

	case errors.As(err, &nameErr):
		have := certNames(nameErr.Certificate)
		host := nameErr.Host
		return fmt.Errorf("connect to %s: %w: the master's certificate is valid for %s but this target dialled %q: connect with one of those names, or have the master issue its certificate for this name with --tls-name %s: %w",
			url, ErrNameMismatch, strings.Join(have, ", "), host, host, err)

	case errors.As(err, &validErr) && validErr.Reason == x509.Expired:
		c := validErr.Cert
		what := fmt.Sprintf("the certificate %q", certName(c))
		if c.IsCA {
			what = fmt.Sprintf("the CA certificate %q", certName(c))
		}
		now := time.Now()
		if now.Before(c.NotBefore) {
			return fmt.Errorf("connect to %s: %w: %s is not valid until %s (in %s): check the clock on this machine and on the master: %w",
				url, ErrExpired, what, c.NotBefore.UTC().Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second), err)
		}
		return fmt.Errorf("connect to %s: %w: %s expired at %s (%s ago): a master that made its own certificate renews it when it starts, so restart the master; if the operator supplied the certificate, replace its file with a current one (the master picks it up without a restart): %w",
			url, ErrExpired, what, c.NotAfter.UTC().Format(time.RFC3339), now.Sub(c.NotAfter).Round(time.Second), err)

	case errors.As(err, &authErr):
		issuer := "an unknown issuer"
		if authErr.Cert != nil {
			issuer = fmt.Sprintf("%q", nameOf(authErr.Cert.Issuer))
		}
		fp := ""
		if ca := presentedCA(err, authErr.Cert); ca != nil {
			fp = fmt.Sprintf(" (CA fingerprint sha256 %s)", CertFingerprint(ca))
		}
		return fmt.Errorf("connect to %s: %w: the master's certificate was issued by %s%s, which this target does not trust: give the master's CA with --ca FILE (its ca.pem), or enlist with a token created on that master, which carries its CA fingerprint: %w",
			url, ErrUnknownAuthority, issuer, fp, err)

	case errors.Is(err, errServerWantsTLS), errors.Is(err, nats.ErrSecureConnRequired),
		strings.Contains(lower, "secure connection - tls required"):
		return fmt.Errorf("connect to %s: %w: the master requires TLS (or the URL is tls://) but this target's encryption mode is none: run the target with --encrypt verify (the default) or --encrypt encrypt, or start the master with --allow-plaintext: %w",
			url, ErrModeMismatch, err)

	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("connect to %s: %w: this target wants TLS (encryption mode verify or encrypt) but the master does not offer it: enable TLS on the master, or run the target with --encrypt none: %w",
			url, ErrModeMismatch, err)
	}
	return nil
}

// presentedCA finds, among the certificates the server presented, the CA that issued cert.
func presentedCA(err error, cert *x509.Certificate) *x509.Certificate {
	var vErr *tls.CertificateVerificationError
	if cert == nil || !errors.As(err, &vErr) {
		return nil
	}
	for _, c := range vErr.UnverifiedCertificates {
		if c.IsCA && cert.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

func certName(c *x509.Certificate) string { return nameOf(c.Subject) }

func nameOf(n pkix.Name) string {
	if n.CommonName != "" {
		return n.CommonName
	}
	return n.String()
}

func certNames(c *x509.Certificate) []string {
	if c == nil {
		return []string{"no names"}
	}
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, fmt.Sprintf("%q", n))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, fmt.Sprintf("%q", ip.String()))
	}
	if len(names) == 0 {
		return []string{"no host names (only the common name " + fmt.Sprintf("%q", c.Subject.CommonName) + ", which TLS clients ignore)"}
	}
	return names
}
