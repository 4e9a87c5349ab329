package target

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/target/runner"
)

// proxyExecutor runs the CmdExec or PowerShell steps that name a proxy as the proxy's OS
// account, with its secrets in the environment, and masks those secrets in what the step
// returns; steps without a proxy go to base unchanged. The proxy is resolved again at each
// attempt, so that a job held from before a configuration change fails with MSX's message
// rather than running as the agent.
type proxyExecutor struct {
	base runner.Executor
	cfg  *Config
	// as returns base's kind of executor running as user (empty: the agent's account) with
	// the environment env.
	as func(user string, env []string) runner.Executor
}

var _ runner.Executor = (*proxyExecutor)(nil)

// Available passes on base's answer (runner's optional capability), true when it has none.
func (e *proxyExecutor) Available() bool {
	if a, ok := e.base.(interface{ Available() bool }); ok {
		return a.Available()
	}
	return true
}

// Execute runs req as its step's proxy. A proxy that cannot be had fails the step, not to be
// retried, with the message of the INSERT that would have refused it (ErrProxy).
func (e *proxyExecutor) Execute(ctx context.Context, req runner.Request) runner.Result {
	if req.Step.ProxyName == "" {
		return e.base.Execute(ctx, req)
	}
	p, err := proxyFor(e.cfg, req.Step)
	if err != nil {
		return runner.Result{Err: err, NonRetryable: true, ExitCode: -1}
	}
	var live *runner.LiveMask
	if req.Live != nil { // the proxy's secrets are masked in live output as in the result
		vals, mask := proxyMask(p.Env)
		live = runner.NewLiveMask(req.Live, vals, mask)
		req.Live = live
	}
	res := e.as(p.OSUser, proxyEnv(os.Environ(), p.Env)).Execute(ctx, req)
	if live != nil {
		live.Flush()
	}
	return maskResult(res, p.Env)
}

// proxyEnv returns base with env added, replacing variables of the same name.
func proxyEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// minMasked is the shortest secret value masked in step output: shorter values ("1", "yes")
// would mask ordinary words, and say little about the secret.
const minMasked = 4

// maskResult replaces the values of secrets in res's output and error message with
// bus.Redacted, longest first, and redacts passwords in connection strings the step printed;
// the error still matches what it matched.
func maskResult(res runner.Result, secrets map[string]string) runner.Result {
	_, mask := proxyMask(secrets)
	return runner.MaskResult(res, mask)
}

// proxyMask returns the values of secrets that are masked, and the function that masks them
// and redacts passwords in connection strings.
func proxyMask(secrets map[string]string) ([]string, func(string) string) {
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if len(v) >= minMasked {
			vals = append(vals, v)
		}
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	mask := func(s string) string {
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, bus.Redacted)
		}
		return bus.Redact(s)
	}
	return vals, mask
}

// profileExecutor runs the T-SQL steps that name a connection profile on that profile's SQL
// Server; steps without one go to base.
type profileExecutor struct {
	base  runner.Executor
	cfg   *Config
	pools *profilePools
}

var _ runner.Executor = (*profileExecutor)(nil)

// Execute runs req on its step's connection profile. A profile this target does not define
// fails the step, not to be retried (ErrProxy).
func (e *profileExecutor) Execute(ctx context.Context, req runner.Request) runner.Result {
	if req.Step.ConnectionProfile == "" {
		return e.base.Execute(ctx, req)
	}
	cp, err := profileFor(e.cfg, req.Step)
	if err != nil {
		return runner.Result{Err: err, NonRetryable: true}
	}
	db, err := e.pools.get(cp.DSN)
	if err != nil {
		return runner.Result{Err: err, NonRetryable: true}
	}
	res := (&runner.SQLExecutor{DB: db, UseDatabase: true}).Execute(ctx, req)
	return maskResult(res, dsnSecret(cp.DSN))
}

// dsnSecret returns the password of a connection string, as a secret to mask.
func dsnSecret(dsn string) map[string]string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return nil
	}
	pw, ok := u.User.Password()
	if !ok {
		return nil
	}
	return map[string]string{"password": pw}
}

// profilePools holds one database/sql pool per connection profile DSN, opened on first use
// and closed with the agent.
type profilePools struct {
	mu     sync.Mutex
	pools  map[string]*sql.DB
	closed bool
}

// errPoolsClosed: a step asked for a connection profile after the agent closed its pools.
var errPoolsClosed = errors.New("the agent is shutting down: connection profiles are closed")

func (p *profilePools) get(dsn string) (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolsClosed
	}
	if db, ok := p.pools[dsn]; ok {
		return db, nil
	}
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		// The driver's error may quote the DSN.
		return nil, errors.New("open connection profile: " + bus.Redact(err.Error()))
	}
	if p.pools == nil {
		p.pools = map[string]*sql.DB{}
	}
	p.pools[dsn] = db
	return db, nil
}

// Close closes the pools; it may be called more than once.
func (p *profilePools) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, db := range p.pools {
		db.Close()
	}
	p.pools = nil
}

// withCredentials wraps the agent's executors so that steps naming a proxy or connection
// profile run with it.
func withCredentials(cfg *Config, ex map[string]runner.Executor, pools *profilePools) {
	for sub, base := range ex {
		switch b := base.(type) {
		case *runner.CmdExecExecutor:
			ex[sub] = &proxyExecutor{base: b, cfg: cfg, as: func(user string, env []string) runner.Executor {
				c := *b
				c.User, c.Env = user, env
				if user != "" {
					c.Dir = "" // the agent's working directory is its own: the account's home
				}
				return &c
			}}
		case *runner.PowerShellExecutor:
			ex[sub] = &proxyExecutor{base: b, cfg: cfg, as: func(user string, env []string) runner.Executor {
				c := *b
				c.User, c.Env = user, env
				return &c
			}}
		case *runner.SQLExecutor:
			ex[sub] = &profileExecutor{base: b, cfg: cfg, pools: pools}
		}
	}
}
