package bus

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Auth decides, inside the embedded NATS server, who may connect, in which account, and what
// each connection may do. Identities are nkeys: a client proves it holds the private key by
// signing the server's nonce.
//
//	who              account                  may
//	master's key     $G (streams, KV)         everything
//	target t's key   MSX_T_<t>, its own       its own subjects, imported from $G (TargetPermissions)
//	no key           MSX_ENLIST               msx.rpc.enlist, imported from $G (EnlistPermissions)
//
// Requests cross from a target's or the enlist account into $G only through service imports,
// and the server routes every answer (a PubAck, an RPC reply, a pulled instruction) back into the
// requester's own account: a reply subject a caller picks can never name a stream, a bucket or
// another target's subjects. SECURITY.md explains the structure.
//
// Auth works only with the embedded server. With an external NATS cluster the operator
// configures the same accounts there (deploy/nats has the static part).
type Auth struct {
	// MasterKey is the master's public nkey.
	MasterKey string
	// Lookup returns the subject token of the target that owns a public nkey; nil while no
	// target is registered (every target key is refused). A token Lookup returns is checked
	// (CheckToken) before use: a bad one refuses the connection. Set it before the server
	// starts; once it runs, use SetLookup (which wins over this field).
	Lookup func(nkey string) (token string, ok bool)
	// Logger records refusals.
	Logger *slog.Logger

	lookup atomic.Pointer[func(string) (string, bool)] // SetLookup's

	mu    sync.Mutex
	conns map[string]*keyConns // nkey -> its live connections
	// tracked counts connections in conns; swept is its value after the last sweep of closed
	// ones (see track).
	tracked, swept int
	servers        map[*serverAuth]bool // the running servers that use this Auth
}

// keyConns is what Auth knows of one admitted key: the target's token (empty for the master)
// and its connections. Closed ones are dropped as new ones arrive (see track), the whole entry
// when the key is revoked.
type keyConns struct {
	token string
	refs  map[connRef]bool
}

// SetLookup replaces Lookup safely while servers using a run and check connections (a
// master sets it when it starts, after its server may already admit clients).
func (a *Auth) SetLookup(f func(nkey string) (token string, ok bool)) { a.lookup.Store(&f) }

func (a *Auth) lookupKey(nkey string) (string, bool) {
	if f := a.lookup.Load(); f != nil {
		return (*f)(nkey)
	}
	if a.Lookup != nil {
		return a.Lookup(nkey)
	}
	return "", false
}

// connRef is one client connection on one server (nodes of a test cluster share an Auth).
type connRef struct {
	on *serverAuth
	id uint64
}

// EnlistInboxPrefix is the reply inbox prefix of clients that are not enlisted yet. Replies to
// enlistment requests carry nothing secret: a target's private key never leaves it.
const EnlistInboxPrefix = "_INBOX_ENLIST"

// check decides on a new client connection of the server sa. It never panics: a panic in
// anything it calls (Lookup included) refuses the connection with the reason logged, since a
// panic here would end the server and, with it, the master.
func (a *Auth) check(sa *serverAuth, c server.ClientAuthentication) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			a.refuse(c, fmt.Sprintf("authenticator failed: %v", r))
			ok = false
		}
	}()
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	if o.Nkey == "" {
		acc, err := sa.account(AccountEnlist, []string{SubjectEnlist})
		if err != nil {
			a.refuse(c, err.Error())
			return false
		}
		c.RegisterUser(&server.User{Username: "enlist", Account: acc, Permissions: EnlistPermissions()})
		return true
	}
	if !verifyNonce(o.Nkey, o.Sig, c.GetNonce()) {
		a.refuse(c, "signature does not match the nkey")
		return false
	}
	if o.Nkey == a.MasterKey {
		c.RegisterUser(&server.User{Username: "master"})
		a.track(o.Nkey, "", connRef{sa, c.GetID()})
		return true
	}
	tok, ok := a.lookupKey(o.Nkey)
	if !ok {
		a.refuse(c, "nkey is not registered to any enlisted target (defected, deleted, or never enlisted)")
		return false
	}
	perms, err := TargetPermissions(tok)
	if err != nil {
		a.refuse(c, fmt.Sprintf("the registry holds an unusable token for this nkey (repair or delete the target): %v", err))
		return false
	}
	imports, _ := targetImports(tok) // the token was checked by TargetPermissions
	acc, err := sa.account(TargetAccount(tok), imports)
	if err != nil {
		a.refuse(c, err.Error())
		return false
	}
	c.RegisterUser(&server.User{Username: "target:" + tok, Account: acc, Permissions: perms})
	a.track(o.Nkey, tok, connRef{sa, c.GetID()})
	return true
}

func (a *Auth) refuse(c server.ClientAuthentication, why string) {
	if a.Logger != nil {
		a.Logger.Warn("connection refused", "remote", c.RemoteAddress().String(), "reason", why)
	}
}

// track records a new connection of nkey. Auth hears of no disconnection, so closed
// connections are dropped here: those of the same key at once (a target that reconnects leaves
// one behind each time), and those of every key whenever the count has doubled since the last
// sweep (a target that stops for good), which keeps the work per connection constant.
func (a *Auth) track(nkey, tok string, ref connRef) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil {
		a.conns = map[string]*keyConns{}
	}
	kc := a.conns[nkey]
	if kc == nil {
		kc = &keyConns{refs: map[connRef]bool{}}
		a.conns[nkey] = kc
	}
	kc.token = tok
	a.tracked -= kc.dropClosed()
	kc.refs[ref] = true
	a.tracked++
	if a.tracked > 2*a.swept+64 {
		for _, kc := range a.conns {
			a.tracked -= kc.dropClosed()
		}
		a.swept = a.tracked
	}
}

// dropClosed removes the connections that are no longer on their server and returns how many.
// A connection being checked is already on it: the server registers a client before it reads
// the client's CONNECT.
func (kc *keyConns) dropClosed() int {
	n := 0
	for ref := range kc.refs {
		if srv := ref.on.server(); srv == nil || srv.GetClient(ref.id) == nil {
			delete(kc.refs, ref)
			n++
		}
	}
	return n
}

// Connections returns how many connections of nkey Auth holds (closed ones not dropped yet
// included): for tests and diagnostics.
func (a *Auth) Connections(nkey string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if kc := a.conns[nkey]; kc != nil {
		return len(kc.refs)
	}
	return 0
}

// Revoke disconnects every connection of a key at once, on every server using a, and forgets
// the key's target account there (see serverAuth.drop). The caller has already removed the key
// from Lookup, so a reconnect is refused.
func (a *Auth) Revoke(nkey string) {
	a.mu.Lock()
	kc := a.conns[nkey]
	delete(a.conns, nkey)
	var servers []*serverAuth
	for sa := range a.servers {
		servers = append(servers, sa)
	}
	if kc != nil {
		a.tracked -= len(kc.refs)
	}
	a.mu.Unlock()
	if kc == nil {
		return
	}
	for ref := range kc.refs {
		if srv := ref.on.server(); srv != nil {
			_ = srv.DisconnectClientByID(ref.id)
		}
	}
	if kc.token != "" {
		for _, sa := range servers {
			sa.drop(TargetAccount(kc.token))
		}
	}
}

// attach and detach keep the list of running servers that use a.
func (a *Auth) attach(sa *serverAuth) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servers == nil {
		a.servers = map[*serverAuth]bool{}
	}
	a.servers[sa] = true
}

func (a *Auth) detach(sa *serverAuth) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.servers, sa)
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

// TargetPermissions is what target t may do, on top of what its account imports (the two
// lists are the same subjects): publish its own status, reports, results and events, enlist
// again, defect, ask the master for its instruction consumer, pull from that one consumer and
// read its info; and receive on its own inbox. It can create, list or delete no consumer and
// read no stream. It fails when t is not a valid token (a record read from storage may hold
// anything), and never panics.
func TargetPermissions(t string) (*server.Permissions, error) {
	allow, err := targetImports(t)
	if err != nil {
		return nil, fmt.Errorf("target permissions: %w", err)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow},
		Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(t) + ".>"}},
	}, nil
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
