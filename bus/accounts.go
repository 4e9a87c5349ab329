package bus

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// Account names in the embedded server when Auth is set. The master and every stream and KV
// bucket stay in the global account ($G), so a store made before accounts existed is read as it
// is; see SECURITY.md for the whole structure.
const (
	// AccountEnlist holds clients without a key: they can reach msx.rpc.enlist and nothing else.
	AccountEnlist = "MSX_ENLIST"
	// targetAccountPrefix + token is the account of one enlisted target.
	targetAccountPrefix = "MSX_T_"
)

// TargetAccount is the name of target t's own account.
func TargetAccount(t string) string { return targetAccountPrefix + t }

// exported lists the services the master's account offers to other accounts. A service import
// carries the importer's request into the master's account with a reply subject the server
// makes up (_R_.…), and routes what comes back on it to the importer's own account: whatever
// reply subject a caller chooses, the answer lands in the caller's subject space.
var exported = []struct {
	subject string
	resp    server.ServiceRespType
}{
	{subjStatus + ".*", server.Singleton},
	{subjApplied + ".*", server.Singleton},
	{subjResult + ".*.*", server.Singleton},
	{subjEvent + ".*.*", server.Singleton},
	{subjOut + ".*.*", server.Singleton}, // live step output: plain publishes, never answered
	{SubjectEnlist, server.Singleton},
	{SubjectDefect, server.Singleton},
	{SubjectConsumer + ".*", server.Singleton},
	// A pull request is answered by a stream of messages (instructions and status messages).
	{jsConsumerNext + ".*", server.Streamed},
	{jsConsumerInfo + ".*", server.Singleton},
}

// JetStream API subjects of MSX_INSTR's consumers (nats-server's $JS.API.CONSUMER.*).
const (
	jsConsumerNext = "$JS.API.CONSUMER.MSG.NEXT." + StreamInstr
	jsConsumerInfo = "$JS.API.CONSUMER.INFO." + StreamInstr
)

// targetImports is what target t's account imports from the master's account, each under the
// same subject: its own per-target subjects, the RPCs, and pull and info of its one instruction
// consumer (made by the master, see InstrConsumerName). Nothing else of the master's account
// exists for it.
func targetImports(t string) ([]string, error) {
	if err := CheckToken(t); err != nil {
		return nil, err
	}
	return []string{
		StatusSubject(t), AppliedSubject(t), subjResult + "." + t + ".*", subjEvent + "." + t + ".*",
		subjOut + "." + t + ".*",
		SubjectEnlist, SubjectDefect, ConsumerSubject(t),
		jsConsumerNext + "." + InstrConsumerName(t),
		jsConsumerInfo + "." + InstrConsumerName(t),
	}, nil
}

// exportServices offers the master's services from g, once per server.
func exportServices(g *server.Account) error {
	for _, e := range exported {
		if err := g.AddServiceExportWithResponse(e.subject, e.resp, nil); err != nil {
			return fmt.Errorf("export %s: %w", e.subject, err)
		}
	}
	return nil
}

// registerAccount returns the account name of the server, creating it with service imports of
// subjects from g on first use.
func registerAccount(s *server.Server, g *server.Account, name string, subjects []string) (*server.Account, error) {
	acc, isNew := s.LookupOrRegisterAccount(name)
	if !isNew {
		return acc, nil
	}
	for _, subj := range subjects {
		if err := acc.AddServiceImport(g, subj, subj); err != nil {
			return nil, fmt.Errorf("account %s: import %s: %w", name, subj, err)
		}
	}
	return acc, nil
}

// serverAuth is Auth bound to one server: accounts belong to a server, and the nodes of a test
// cluster share one Auth. StartServer makes one per start and installs it as the server's
// authenticator.
type serverAuth struct {
	a *Auth

	mu       sync.Mutex
	srv      *server.Server // nil until JetStream is up in $G
	exported bool
	accounts map[string]*server.Account // by name, once its imports are in place
}

var _ server.Authentication = (*serverAuth)(nil)

// Check is called by the server for every new client connection.
func (sa *serverAuth) Check(c server.ClientAuthentication) bool { return sa.a.check(sa, c) }

// ready lets sa make accounts on s. Until then only the master's key connects: accounts must be
// made after JetStream has come up in $G (JetStream enables only the global account when it is
// alone).
func (sa *serverAuth) ready(s *server.Server) {
	sa.mu.Lock()
	sa.srv = s
	sa.mu.Unlock()
}

func (sa *serverAuth) server() *server.Server {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.srv
}

// names returns the names of the accounts sa made and holds.
func (sa *serverAuth) names() []string {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	out := make([]string, 0, len(sa.accounts))
	for n := range sa.accounts {
		out = append(out, n)
	}
	return out
}

// drop forgets a target's account: the next connection of that target (enlisted again) finds
// it through the server again. nats-server offers no way to remove an account it has
// registered: the server keeps it, with its imports and without connections, until it restarts.
func (sa *serverAuth) drop(name string) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	delete(sa.accounts, name)
}

// account returns the named account, creating it with service imports of subjects from the
// master's account on first use.
func (sa *serverAuth) account(name string, subjects []string) (*server.Account, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if acc := sa.accounts[name]; acc != nil {
		return acc, nil
	}
	if sa.srv == nil {
		return nil, errors.New("the server is still starting: connect again")
	}
	g := sa.srv.GlobalAccount()
	if !sa.exported {
		if err := exportServices(g); err != nil {
			return nil, err
		}
		sa.exported = true
	}
	acc, err := registerAccount(sa.srv, g, name, subjects)
	if err != nil {
		return nil, err
	}
	if sa.accounts == nil {
		sa.accounts = map[string]*server.Account{}
	}
	sa.accounts[name] = acc
	return acc, nil
}
