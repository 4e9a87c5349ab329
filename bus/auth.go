package bus

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Auth decides, inside the embedded NATS server, who may connect and what each connection may
// do. Identities are nkeys: a client proves it holds the private key by signing the server's
// nonce. The master's key gets every permission; a target's key (registered at enlistment) gets
// exactly its own subjects (TargetPermissions); a client without a key may only enlist
// (EnlistPermissions). The permissions are enforced by the server, not by convention.
//
// Auth works only with the embedded server. With an external NATS cluster the operator
// configures the same permissions there (deploy/ has an example).
type Auth struct {
	// MasterKey is the master's public nkey.
	MasterKey string
	// Lookup returns the subject token of the target that owns a public nkey; nil while no
	// target is registered (every target key is refused).
	Lookup func(nkey string) (token string, ok bool)
	// Logger records refusals.
	Logger *slog.Logger

	mu    sync.Mutex
	srv   *server.Server
	conns map[string]map[uint64]bool // nkey -> client ids
}

var _ server.Authentication = (*Auth)(nil)

// EnlistInboxPrefix is the reply inbox prefix of clients that are not enlisted yet. Replies to
// enlistment requests carry nothing secret: a target's private key never leaves it.
const EnlistInboxPrefix = "_INBOX_ENLIST"

// Check is called by the server for every new client connection.
func (a *Auth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if c.Kind() != server.CLIENT {
		return false
	}
	if o.Nkey == "" {
		c.RegisterUser(&server.User{Username: "enlist", Permissions: EnlistPermissions()})
		return true
	}
	if !verifyNonce(o.Nkey, o.Sig, c.GetNonce()) {
		a.refuse(c, "signature does not match the nkey")
		return false
	}
	if o.Nkey == a.MasterKey {
		c.RegisterUser(&server.User{Username: "master"})
		a.track(o.Nkey, c.GetID())
		return true
	}
	var tok string
	ok := false
	if a.Lookup != nil {
		tok, ok = a.Lookup(o.Nkey)
	}
	if !ok {
		a.refuse(c, "nkey is not registered to any enlisted target (defected, deleted, or never enlisted)")
		return false
	}
	c.RegisterUser(&server.User{Username: "target:" + tok, Permissions: TargetPermissions(tok)})
	a.track(o.Nkey, c.GetID())
	return true
}

func (a *Auth) refuse(c server.ClientAuthentication, why string) {
	if a.Logger != nil {
		a.Logger.Warn("connection refused", "remote", c.RemoteAddress().String(), "reason", why)
	}
}

func (a *Auth) track(nkey string, id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil {
		a.conns = map[string]map[uint64]bool{}
	}
	if a.conns[nkey] == nil {
		a.conns[nkey] = map[uint64]bool{}
	}
	a.conns[nkey][id] = true
}

// Revoke disconnects every connection of a key at once. The caller has already removed the key
// from Lookup, so a reconnect is refused.
func (a *Auth) Revoke(nkey string) {
	a.mu.Lock()
	ids := a.conns[nkey]
	delete(a.conns, nkey)
	srv := a.srv
	a.mu.Unlock()
	if srv == nil {
		return
	}
	for id := range ids {
		_ = srv.DisconnectClientByID(id)
	}
}

func (a *Auth) attach(s *server.Server) {
	a.mu.Lock()
	a.srv = s
	a.mu.Unlock()
}

func verifyNonce(pub, sig string, nonce []byte) bool {
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	return kp.Verify(nonce, raw) == nil
}

// EnlistPermissions is what a client without a key may do: ask to enlist, and read replies.
func EnlistPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{SubjectEnlist}},
		Subscribe: &server.SubjectPermission{Allow: []string{EnlistInboxPrefix + ".>"}},
	}
}

// TargetPermissions is what target t may do: read its own instructions through a consumer it
// creates filtered to its own subject (pulling and deleting need the consumer's random name,
// which no other target can list), publish its own status, reports, results and events, enlist
// again and defect, and receive on its own inbox. It can create no other consumer, and read no
// stream or consumer information.
func TargetPermissions(t string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			StatusSubject(t), AppliedSubject(t), subjResult + "." + t + ".*", subjEvent + "." + t + ".*",
			SubjectEnlist, SubjectDefect,
			"$JS.API.CONSUMER.CREATE." + StreamInstr + ".*." + InstrSubject(t),
			"$JS.API.CONSUMER.MSG.NEXT." + StreamInstr + ".*",
			"$JS.API.CONSUMER.DELETE." + StreamInstr + ".*",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(t) + ".>"}},
	}
}

// LoadOrCreateKey loads the nkey seed in file, creating a new user key (file mode 0600) when the
// file does not exist.
func LoadOrCreateKey(file string) (nkeys.KeyPair, error) {
	if b, err := os.ReadFile(file); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", file, err)
		}
		return kp, nil
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(file, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write key %s: %w", file, err)
	}
	return kp, nil
}

// NkeyOption authenticates a connection with kp.
func NkeyOption(kp nkeys.KeyPair) (nats.Option, error) {
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	return nats.Nkey(pub, kp.Sign), nil
}
