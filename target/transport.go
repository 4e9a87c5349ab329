package target

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
)

// caFileName is where a target keeps the master's CA certificate once it trusts it.
const caFileName = "ca.pem"

// SplitToken separates an enlistment token into the secret the master checks and the
// fingerprint of the master's CA that it carries ("SECRET~FINGERPRINT"), which lets a new target
// verify the bus fully with nothing else given.
func SplitToken(token string) (secret, caFingerprint string) {
	secret, caFingerprint, _ = strings.Cut(strings.TrimSpace(token), "~")
	return secret, caFingerprint
}

// tlsOptions returns the NATS options for the configured encryption mode. In verify mode the
// trust anchor is, in order: --ca, the CA saved at enlistment, the fingerprint in the token,
// the system roots.
func (a *Agent) tlsOptions() ([]nats.Option, error) {
	ca := trustedCA(a.cfg.CAFile, a.cfg.DataDir)
	fp := ""
	if ca == "" {
		_, fp = SplitToken(a.cfg.Token)
	}
	return bus.ClientTLS(a.cfg.Encrypt, ca, fp, a.log)
}

// trustedCA returns the CA file to verify the bus with: the one given, else the one saved in
// the data directory at enlistment, else "".
func trustedCA(given, dataDir string) string {
	if given != "" {
		return given
	}
	saved := filepath.Join(dataDir, caFileName)
	if _, err := os.Stat(saved); err == nil {
		return saved
	}
	return ""
}

// connect dials the bus with TLS options, extra options and, once enlisted, the target's key.
func (a *Agent) connect(ctx context.Context, inbox string, kp nkeys.KeyPair) (*nats.Conn, error) {
	tlsOpts, err := a.tlsOptions()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return dial(ctx, bus.ConnConfig{URL: a.cfg.NATSURL, Name: "msx-target " + a.cfg.Name, Logger: a.log,
		InboxPrefix: inbox, Options: append(tlsOpts, a.cfg.ConnOptions...)}, kp)
}

// dial connects to the bus with cfg and, when kp is set, the target's key; TLS failures come back
// explained (what is wrong and how to fix it).
func dial(ctx context.Context, cfg bus.ConnConfig, kp nkeys.KeyPair) (*nats.Conn, error) {
	if kp != nil {
		o, err := bus.NkeyOption(kp)
		if err != nil {
			return nil, err
		}
		cfg.Options = append(cfg.Options, o)
	}
	nc, err := bus.Connect(ctx, cfg)
	if err != nil {
		return nil, bus.ExplainTLS(err, cfg.URL)
	}
	return nc, nil
}

// saveCA keeps the CA that the token's fingerprint pinned, so later connections verify the bus
// against it like any CA file.
func (a *Agent) saveCA(nc *nats.Conn) error {
	_, fp := SplitToken(a.cfg.Token)
	if fp == "" || a.cfg.CAFile != "" {
		return nil
	}
	want, err := bus.ParseFingerprint(fp)
	if err != nil {
		return err
	}
	cs, err := nc.TLSConnectionState()
	if err != nil {
		return fmt.Errorf("save the master's CA: %w", err)
	}
	for _, c := range cs.PeerCertificates {
		if bus.CertFingerprint(c) == fmt.Sprintf("%x", want) {
			return writeCert(filepath.Join(a.cfg.DataDir, caFileName), c)
		}
	}
	return errors.New("save the master's CA: the bus did not present the CA of the token's fingerprint")
}

func writeCert(path string, c *x509.Certificate) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
}
