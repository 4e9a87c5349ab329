package bustest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
)

// Secure is a JetStream server as msx runs it by default: TLS with a generated CA and
// certificate, and nkey authentication with least-privilege target permissions.
type Secure struct {
	*bus.Server
	// CAFile is the CA certificate targets verify the server with.
	CAFile string
	// Auth is the server's authenticator; give it to master.Config.Auth.
	Auth *bus.Auth
	// MasterKey is the master's identity.
	MasterKey nkeys.KeyPair
}

// RunSecureServer starts a secure single node with its store in a new temp dir.
func RunSecureServer(tb testing.TB) *Secure {
	tb.Helper()
	dir := tb.TempDir()
	tlsOpts, ca, err := bus.SelfSigned(filepath.Join(dir, "tls"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	s := &Secure{CAFile: ca.CertFile, MasterKey: kp,
		Auth: &bus.Auth{MasterKey: pub, Logger: Logger(tb)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Server, err = bus.StartServer(ctx, bus.ServerConfig{StoreDir: filepath.Join(dir, "store"), Logger: Logger(tb), Auth: s.Auth,
		Customize: tlsOpts.Apply})
	if err != nil {
		tb.Fatalf("start secure JetStream server: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// ConnectMaster connects with the master's identity, verifying the server with the CA.
func (s *Secure) ConnectMaster(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	opts, err := bus.ClientTLS(bus.ModeVerify, s.CAFile, "", Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	nk, err := bus.NkeyOption(s.MasterKey)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), append(opts, nk, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))...)
	if err != nil {
		tb.Fatalf("connect as master: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
