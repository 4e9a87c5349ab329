package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/target"
)

// `msx up --masters N` runs N masters as child processes (`msx master`), each with its own
// embedded NATS node, clustered over TLS routes. What they share is made once in DATA/shared:
// the master key (every node's Auth admits it) and the CA with the bus certificate (targets
// verify every node with it; routes admit only peers it issued). The enlistment tokens, the
// audit key and everything else live in the cluster's JetStream, at R3. The targets run in the
// `msx up` process and get the list of every node's URL.

// childMaster is one `msx master` process of `msx up --masters`.
type childMaster struct {
	name, dir       string // dir is its --data; its log and pid files are dir.log and dir.pid
	nats, http, rte string // listen addresses: clients, API, routes
	cmd             *exec.Cmd
	done            chan struct{} // closed when the process has exited
	err             error         // its exit, once done is closed
	api             *client.Client
}

// upPlan is the addresses of the masters `msx up --masters` starts.
func upPlan(g *globals, f *masterFlags, n int) ([]*childMaster, error) {
	base := cmp.Or(f.name, hostName())
	next := func(flag, addr string, def int) (func(int) (string, error), error) {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want host:port: %w", flag, addr, err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: the port must be a number", flag, addr)
		}
		if port <= 0 && def > 0 {
			port = def
		}
		return func(i int) (string, error) {
			if port > 0 {
				return net.JoinHostPort(h, strconv.Itoa(port+i)), nil
			}
			return freePort(h) // 0 or -1: any free port, as for a single master
		}, nil
	}
	natsAt, err := next("nats", f.natsAddr, 0)
	if err != nil {
		return nil, err
	}
	httpAt, err := next("http", f.httpAddr, 0)
	if err != nil {
		return nil, err
	}
	nh, np, _ := net.SplitHostPort(f.natsAddr)
	rdef := 6222 // the NATS route port; any free one when the client port is random
	if n, _ := strconv.Atoi(np); n <= 0 {
		rdef = 0
	}
	routeAt, err := next("cluster-listen", cmp.Or(f.clusterListen, net.JoinHostPort(cmp.Or(nh, "127.0.0.1"), strconv.Itoa(rdef))), rdef)
	if err != nil {
		return nil, err
	}
	var ms []*childMaster
	for i := range n {
		c := &childMaster{name: fmt.Sprintf("%s-%d", base, i+1), dir: filepath.Join(g.data, "masters", strconv.Itoa(i+1)), done: make(chan struct{})}
		if c.nats, err = natsAt(i); err == nil {
			if c.http, err = httpAt(i); err == nil {
				c.rte, err = routeAt(i)
			}
		}
		if err != nil {
			return nil, err
		}
		ms = append(ms, c)
	}
	return ms, nil
}

func hostName() string {
	h, _ := os.Hostname()
	return strings.ToUpper(cmp.Or(h, "MSX"))
}

// freePort returns host:port with a port that was free a moment ago.
func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startChildren makes the shared key and CA once, then starts every master.
func startChildren(g *globals, f *masterFlags, ms []*childMaster, shared string) error {
	if _, err := bus.LoadOrCreateKey(filepath.Join(shared, "master.nk")); err != nil {
		return err
	}
	// Made here, before the masters start, so that they only load it (three processes
	// writing one certificate at once could leave a key of one with the certificate of another).
	names := append([]string{}, f.tlsNames...)
	if h, _, err := net.SplitHostPort(f.natsAddr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		names = append(names, h)
	}
	if _, _, err := bus.SelfSigned(filepath.Join(shared, "tls"), names); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the msx binary to start the masters: %w", err)
	}
	for _, c := range ms {
		var routes []string
		for _, o := range ms {
			if o != c {
				routes = append(routes, "nats://"+o.rte)
			}
		}
		args := []string{"master", "--data", c.dir, "--name", c.name, "--http", c.http, "--nats", c.nats,
			"--cluster-listen", c.rte, "--routes", strings.Join(routes, ","), "--cluster-name", f.clusterName, "--shared", shared}
		for _, n := range f.tlsNames {
			args = append(args, "--tls-name", n)
		}
		if f.replicas != 0 {
			args = append(args, "--replicas", strconv.Itoa(f.replicas))
		}
		if f.allowPlaintext {
			args = append(args, "--allow-plaintext")
		}
		if g.debug {
			args = append(args, "--debug")
		}
		if err := os.MkdirAll(c.dir, 0o700); err != nil {
			return err
		}
		lf, err := os.OpenFile(c.dir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		c.cmd = exec.Command(exe, args...)
		c.cmd.Stdout, c.cmd.Stderr = lf, lf
		if err := c.cmd.Start(); err != nil {
			lf.Close()
			return fmt.Errorf("start master %s: %w", c.name, err)
		}
		if err := os.WriteFile(c.dir+".pid", []byte(strconv.Itoa(c.cmd.Process.Pid)+"\n"), 0o600); err != nil {
			return err
		}
		go func() {
			c.err = c.cmd.Wait()
			lf.Close()
			close(c.done)
		}()
	}
	return nil
}

// waitAPI waits until the master's API answers, or its process ends.
func (c *childMaster) waitAPI(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Minute) // as long as a master waits for its cluster
	for {
		if cl, err := client.Resolve("", "", c.dir); err == nil && cl.Token != "" {
			if err := cl.Do(ctx, http.MethodGet, "/api/v1/cluster", nil, nil); err == nil {
				c.api = cl
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("master %s exited (%v): see %s", c.name, c.err, c.dir+".log")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("master %s: its API did not answer within 5 minutes: see %s", c.name, c.dir+".log")
		}
	}
}

// stop asks the master to stop (as Ctrl-C does) and kills it if it has not within d.
func (c *childMaster) stop(d time.Duration) {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(d):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// anyAPI calls the first master that answers: any master reads, and forwards a change to the
// leader.
func anyAPI(ctx context.Context, ms []*childMaster, method, path string, body, out any) error {
	var errs []error
	for _, c := range ms {
		if c.api == nil {
			continue
		}
		err := c.api.Do(ctx, method, path, body, out)
		if err == nil {
			return nil
		}
		var ae *client.Error
		if errors.As(err, &ae) {
			return err // the master answered: another would answer the same
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no master answered: %w", errors.Join(errs...))
}

// runUpMasters is `msx up --masters n`.
func runUpMasters(ctx context.Context, g *globals, f *masterFlags, masters, n int, heartbeat time.Duration, noExamples, printToken bool,
	log *slog.Logger, logPath string, out, errOut io.Writer) error {
	if masters < 3 || masters > 7 {
		return fmt.Errorf("--masters %d: use 3 to 7 (a cluster needs 3 nodes for one to fail; 1 is `msx up` without --masters)", masters)
	}
	if f.clusterListen == "" && len(f.routes) > 0 {
		return fmt.Errorf("--routes: `msx up --masters` routes its masters to each other by itself")
	}
	shared := filepath.Join(g.data, "shared")
	unlock, err := bus.LockDir(shared)
	if err != nil {
		return err
	}
	defer unlock()
	ms, err := upPlan(g, f, masters)
	if err != nil {
		return err
	}
	stopAll := func() {
		var wg sync.WaitGroup
		for _, c := range ms {
			wg.Go(func() { c.stop(30 * time.Second) })
		}
		wg.Wait()
	}
	if err := startChildren(g, f, ms, shared); err != nil {
		stopAll()
		return err
	}
	for _, c := range ms {
		if err := c.waitAPI(ctx); err != nil {
			stopAll()
			return err
		}
	}
	// The CLI run in this folder talks to the first master (any master answers).
	if err := linkCLI(g, ms[0]); err != nil {
		stopAll()
		return err
	}
	urls := make([]string, len(ms))
	for i, c := range ms {
		urls[i] = "nats://" + c.nats
	}
	caFile := filepath.Join(shared, "tls", bus.CAFile)
	names, stopTargets, err := upTargets(g, n, target.Config{NATSURL: strings.Join(urls, ","), HeartbeatInterval: heartbeat, Logger: log, CAFile: caFile},
		func(name string) (string, error) {
			var tok api.TokenReply
			req := api.TokenRequest{Role: auth.RoleEnlist, TTL: "1h", Description: "msx up target " + name, Server: name}
			return tok.Token, anyAPI(ctx, ms, http.MethodPost, "/api/v1/tokens", req, &tok)
		}, errOut)
	if err != nil {
		stopAll()
		return err
	}
	if !noExamples && n > 0 {
		if err := examplesViaAPI(ctx, ms, names); err != nil {
			fmt.Fprintf(errOut, "msx: example jobs not loaded: %v\n", err)
		}
	}
	for _, c := range ms {
		go func() {
			<-c.done
			if ctx.Err() == nil {
				fmt.Fprintf(errOut, "msx: master %s exited (%v); the others carry on (see %s)\n", c.name, c.err, c.dir+".log")
			}
		}()
	}
	bannerMasters(out, g, ms, urls, caFile, n, logPath, printToken)
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping: targets, masters ...")
	stopTargets()
	stopAll()
	fmt.Fprintln(out, "stopped. Run `msx up --masters` again to resume the same fleet.")
	return nil
}

// linkCLI writes DATA/master/api.url and admin.token, where the CLI looks by default, naming
// master c.
func linkCLI(g *globals, c *childMaster) error {
	dir := filepath.Join(g.data, "master")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, client.URLFile), []byte(c.api.Base+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, client.TokenFile), []byte(c.api.Token+"\n"), 0o600)
}

// examplesViaAPI is loadExamples through the masters' API.
func examplesViaAPI(ctx context.Context, ms []*childMaster, names []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, name := range names {
		for {
			err := anyAPI(ctx, ms, http.MethodGet, "/api/v1/targetservers/"+client.Path(name), nil, nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("target %s did not enlist within 60s (see the log): %w", name, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	var jobs []any
	if err := anyAPI(ctx, ms, http.MethodGet, "/api/v1/jobs", nil, &jobs); err != nil || len(jobs) > 0 {
		return err
	}
	if err := anyAPI(ctx, ms, http.MethodPost, "/api/v1/groups", map[string]string{"name": "ALL"}, nil); err != nil && !isCode(err, registry.ErrGroupExists) {
		return err
	}
	for _, s := range names {
		if err := anyAPI(ctx, ms, http.MethodPost, "/api/v1/groups/ALL/members", map[string]string{"server": s}, nil); err != nil && !isCode(err, registry.ErrAlreadyMember) {
			return err
		}
	}
	files, _ := fs.Glob(examples, "examples/*.yaml")
	for _, f := range files {
		b, _ := examples.ReadFile(f)
		if err := postYAML(ctx, ms, "/api/v1/jobs", b); err != nil {
			return fmt.Errorf("example %s: %w", f, err)
		}
	}
	return nil
}

// isCode reports whether err is the API's answer for the registry error want.
func isCode(err, want error) bool {
	var ae *client.Error
	return errors.As(err, &ae) && ae.Code == registry.Code(want)
}

// postYAML posts a YAML body (a job) to the first master that answers.
func postYAML(ctx context.Context, ms []*childMaster, path string, body []byte) error {
	var last error
	for _, c := range ms {
		if c.api == nil {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api.Base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.api.Token)
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := c.api.HTTP.Do(req)
		if err != nil {
			last = err
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		return nil
	}
	return fmt.Errorf("no master answered: %w", last)
}

func bannerMasters(w io.Writer, g *globals, ms []*childMaster, urls []string, caFile string, n int, logPath string, printToken bool) {
	tokenFile := filepath.Join(g.data, "master", client.TokenFile)
	// Never a link with the token in it (see banner in up.go): --print-token prints it apart.
	dash := ms[0].api.Base + "/  (sign in with the admin token in " + tokenFile + ", or one from `msx token create --role viewer`)"
	if printToken {
		dash += "\n  admin token  " + ms[0].api.Token
	}
	fmt.Fprintf(w, "msx is up: %d masters (one leads, the others stand by), %d target agent(s) (SQL01..), a NATS JetStream cluster over TLS routes.\n\n", len(ms), n)
	fmt.Fprintf(w, "  console      %s\n", dash)
	for _, c := range ms {
		pid := 0
		if c.cmd != nil && c.cmd.Process != nil {
			pid = c.cmd.Process.Pid
		}
		fmt.Fprintf(w, "  master %-6s API %s  NATS nats://%s  pid %d  data %s\n", c.name, c.api.Base, c.nats, pid, c.dir)
	}
	fmt.Fprintf(w, `  NATS         %s (targets fail over between them)
  bus CA       %s (TLS with verification on clients and routes)
  admin token  %s
  data         %s
  log          %s (targets); each master's in its data directory

Next, in another terminal in this folder:
  msx cluster status              (which master leads; --master URL asks another)
  msx targetserver list
  kill the leading master's pid and run msx cluster status --master <another API>: another takes over

Ctrl-C stops everything; running it again resumes the same fleet.
`, strings.Join(urls, ","), caFile, tokenFile, g.data, logPath)
}
