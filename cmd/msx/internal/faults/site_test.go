//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// deployDir holds the shipped NATS configurations, from this package's directory.
var deployDir = filepath.Join("..", "..", "..", "..", "deploy", "nats")

// runConf writes conf to dir/name and runs a nats-server on it until the test ends.
func runConf(tb testing.TB, dir, name, conf string) *server.Server {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		tb.Fatalf("shipped configuration %s does not load: %v", name, err)
	}
	opts.NoSigs, opts.NoLog = true, os.Getenv("SITEDEBUG") == ""
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	s.ConfigureLogger()
	go s.Start()
	tb.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(30 * time.Second) {
		tb.Fatalf("%s: server not ready", name)
	}
	return s
}

// shipped reads a file of deploy/nats with its placeholders replaced (old, new pairs); it fails
// the test if a placeholder is not in the file, so that the test follows the file.
func shipped(tb testing.TB, name string, oldnew ...string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(string(b), oldnew[i]) {
			tb.Fatalf("%s no longer contains %q: update this test with the file", name, oldnew[i])
		}
	}
	return strings.NewReplacer(oldnew...).Replace(string(b))
}

func pubKey(tb testing.TB, kp nkeys.KeyPair) string {
	tb.Helper()
	pub, err := kp.PublicKey()
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

// TestRemoteSiteThroughLeafNode proves deploy/nats: a hub of three nodes configured from
// cluster-node1.conf and permissions.conf (TLS, routes, JetStream, the leaf listener), a site
// leaf node from leaf-site.conf whose remote binds the site to the hub account MSX, a master
// on the hub and two targets at the site. The targets enlist and take a job on a 1-second
// schedule through the leaf; then the leaf's link to the hub is cut (proxies in front of the
// hub's leaf ports). The targets keep running the schedule and spool the outcomes; when the
// link is back they deliver every one, each once: the master counts as many runs as the job's
// step wrote rows, and each run is on MSX_RESULTS once. SITEDEBUG=1 logs the NATS servers and
// the site's agents to stderr.
func TestRemoteSiteThroughLeafNode(t *testing.T) {
	dir := t.TempDir()
	ca, err := bus.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.EnsureServerCert(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, bus.CAFile)
	mkp, _ := nkeys.CreateUser()
	skp, _ := nkeys.CreateUser()
	tkp, _ := nkeys.CreateUser()
	seed, _ := skp.Seed()
	sites := []string{"SITE01", "SITE02"}
	perms := shipped(t, "permissions.conf", "UMASTERPUBLICKEY", pubKey(t, mkp), "UTARGETSQL01PUBLICKEY", pubKey(t, tkp),
		"USITELONPUBLICKEY", pubKey(t, skp), `"_INBOX_T_SITE01.>"`, `"_INBOX_T_SITE01.>", "_INBOX_T_SITE02.>"`)
	if err := os.WriteFile(filepath.Join(dir, "permissions.conf"), []byte(perms), 0o600); err != nil {
		t.Fatal(err)
	}

	// The hub: three nodes, each cluster-node1.conf with its own names, ports and store.
	var ports, cports, lports []int
	for range 3 {
		ports, cports, lports = append(ports, bustest.FreePort(t)), append(cports, bustest.FreePort(t)), append(lports, bustest.FreePort(t))
	}
	// The site's leaf node reaches the hub's leaf ports through proxies, to cut the link; the
	// hub advertises the proxies as its leaf addresses (as a hub behind NAT advertises its
	// public ones), or the leaf would reconnect around them.
	var leafURLs []string
	var links []*proxy
	for _, p := range lports {
		px := newProxy(t, fmt.Sprintf("127.0.0.1:%d", p))
		links = append(links, px)
		leafURLs = append(leafURLs, `"tls://`+strings.TrimPrefix(px.url(), "nats://")+`"`)
	}
	hubs := make([]*server.Server, 3)
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cports[j]))
			}
		}
		conf := shipped(t, "cluster-node1.conf",
			"server_name: nats1", fmt.Sprintf("server_name: nats%d", i+1),
			"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", ports[i]),
			"http: 127.0.0.1:8222", "",
			"/var/lib/nats", filepath.Join(dir, fmt.Sprintf("js%d", i+1)),
			"/etc/nats/server.pem", cert, "/etc/nats/server-key.pem", key,
			"/etc/nats/route.pem", cert, "/etc/nats/route-key.pem", key, "/etc/nats/ca.pem", caFile,
			"listen: 0.0.0.0:6222", fmt.Sprintf("listen: 127.0.0.1:%d", cports[i]),
			"[ nats-route://nats2:6222, nats-route://nats3:6222 ]", "[ "+strings.Join(routes, ", ")+" ]",
			"listen: 0.0.0.0:7422", fmt.Sprintf("listen: 127.0.0.1:%d\n  advertise: %s", lports[i], strings.TrimPrefix(links[i].url(), "nats://")))
		hubs[i] = runConf(t, dir, fmt.Sprintf("nats%d.conf", i+1), conf)
	}
	for _, s := range hubs {
		waitFor(t, patience, s.Name()+" JetStream current", s.JetStreamIsCurrent)
	}

	sitePort := bustest.FreePort(t)
	leafConf := shipped(t, "leaf-site.conf",
		"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", sitePort),
		"/etc/nats/leaf.pem", cert, "/etc/nats/leaf-key.pem", key, "/etc/nats/ca.pem", caFile,
		`"tls://nats1:7422", "tls://nats2:7422", "tls://nats3:7422"`, strings.Join(leafURLs, ", "),
		"SUSITELONSEED", string(seed))
	// The site's targets are not enlisted yet: the leaf starts without their users.
	begin, end := strings.Index(leafConf, "    # user SITE01\n"), strings.Index(leafConf, "    # end SITE01\n")
	if begin < 0 || end < 0 {
		t.Fatal("leaf-site.conf no longer marks its SITE01 user with # user SITE01 ... # end SITE01: update this test")
	}
	userBlock := leafConf[begin:end]
	leafConf = leafConf[:begin] + "    # site targets\n" + leafConf[end:]
	leaf := runConf(t, dir, "leaf-site.conf", leafConf)
	waitFor(t, patience, "the site's leaf link up", func() bool { return leaf.NumLeafNodes() == 1 })

	// The master, on the hub with its nkey, R3 state.
	nk, err := bus.NkeyOption(mkp)
	if err != nil {
		t.Fatal(err)
	}
	tlsOpts, err := bus.ClientTLS(bus.ModeVerify, caFile, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var hubURLs []string
	for _, p := range ports {
		hubURLs = append(hubURLs, fmt.Sprintf("tls://127.0.0.1:%d", p))
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ConnConfig{URL: strings.Join(hubURLs, ","), Name: "site-master", Logger: quietLogger(),
		Options: append(tlsOpts, nk, nats.ReconnectWait(100*time.Millisecond))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f := &fixture{url: fmt.Sprintf("tls://127.0.0.1:%d", sitePort), ca: caFile, nc: nc, js: mustJS(t, nc), layout: bus.Layout{Replicas: 3}}
	f.startMaster(t)
	var agents []*agent
	for _, n := range sites {
		a := f.newAgent(t, n, "")
		if os.Getenv("SITEDEBUG") != "" {
			a.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		a.start()
		agents = append(agents, a)
	}
	// The operator adds each enlisted target to the leaf, as leaf-site.conf says, and reloads it.
	users := ""
	for _, n := range sites {
		var pub string
		waitFor(t, patience, n+" enlisted", func() bool { r, ok := f.m.Reg.Target(n); pub = r.PublicKey; return ok && pub != "" })
		users += strings.NewReplacer("SITE01", n, "UTARGETSITE01PUBLICKEY", pub).Replace(userBlock)
	}
	if err := os.WriteFile(filepath.Join(dir, "leaf-site.conf"), []byte(strings.Replace(leafConf, "    # site targets\n", users, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := leaf.Reload(); err != nil {
		t.Fatalf("reload the leaf with the site's targets: %v", err)
	}
	// A target that connected before the reload was refused and stopped; its service manager
	// starts it again (systemd: Restart=on-failure).
	for _, a := range agents {
		waitFor(t, patience, a.cfg.Name+" online through the leaf", func() bool {
			if stopped, err := a.stopped(); stopped {
				t.Logf("%s stopped before the leaf knew it (%v): started again", a.cfg.Name, err)
				a.start()
			}
			return f.online(a.cfg.Name)
		})
	}
	every := schedule.Schedule{Name: "every second", Cron: "* * * * * *"}
	j := countingJob("site job", sites...)
	j.Schedules = []schedule.Schedule{every}
	job := applyAll(t, f.m, j)
	runs := func() int {
		n := 0
		for _, s := range f.m.JobServers(job) {
			n += s.Runs
		}
		return n
	}
	waitFor(t, patience, "the schedule's runs reach the master through the leaf", func() bool { return runs() >= 2*len(agents) })

	// The WAN link goes down: the site keeps running its schedule on its own.
	for _, px := range links {
		px.setCut(true)
	}
	waitFor(t, patience, "the leaf link down", func() bool { return leaf.NumLeafNodes() == 0 })
	atCut := map[string]int{}
	for _, a := range agents {
		atCut[a.cfg.Name] = ranRows(t, a.cfg.DataDir, job.Name)
	}
	seenAtCut := runs()
	for _, a := range agents {
		waitFor(t, patience, a.cfg.Name+" runs the schedule 5 more times while cut off", func() bool {
			return ranRows(t, a.cfg.DataDir, job.Name) >= atCut[a.cfg.Name]+5
		})
	}
	ranCut := 0
	for _, a := range agents {
		ranCut += ranRows(t, a.cfg.DataDir, job.Name)
	}
	seenCut := runs()
	t.Logf("while the link was down: the site ran the job %d times in all, the master counted %d (%d at the cut)", ranCut, seenCut, seenAtCut)
	if seenCut > seenAtCut+len(agents) { // one run per target may have been on its way at the cut
		t.Errorf("the master counted %d runs while cut off from the site (%d at the cut): the link was not cut", seenCut, seenAtCut)
	}

	for _, px := range links {
		px.setCut(false)
	}
	waitFor(t, patience, "the leaf link back", func() bool { return leaf.NumLeafNodes() == 1 })
	// Stop the schedule so the counts settle: the job, disabled, reaches the site.
	off := false
	job.Enabled = &off
	job = applyAll(t, f.m, job)
	waitFor(t, patience, "the site holds the disabled job", func() bool {
		for _, a := range agents {
			if ts, ok := f.m.TargetServer(a.cfg.Name); !ok || ts.UnreadInstructions > 0 {
				return false
			}
		}
		return true
	})
	want := map[string]int{}
	waitFor(t, patience, "every run at the site counted by the master", func() bool {
		for _, a := range agents {
			want[a.cfg.Name] = ranRows(t, a.cfg.DataDir, job.Name)
		}
		for _, s := range f.m.JobServers(job) {
			if s.Runs != want[s.ServerName] {
				return false
			}
		}
		return true
	})
	c := checkExact(t, masterLedger(f.m), f.js, agents, job.Name, want, checkOpts{})
	t.Logf("site outcomes: %d runs, each delivered once after the link came back", c.finished)
	masterRunsEach(t, f.m, job, want)
}

// stopped reports whether the agent's Run returned, and its error.
func (a *agent) stopped() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case err := <-a.done:
		a.cancel()
		a.cancel = nil
		return true, err
	default:
		return false, nil
	}
}

// masterRunsEach asserts the master's count of runs of job on each target.
func masterRunsEach(tb testing.TB, m *master.Master, job jobs.Job, want map[string]int) {
	tb.Helper()
	for _, s := range m.JobServers(job) {
		if s.Runs != want[s.ServerName] {
			tb.Errorf("master counts %d runs of %s on %s, want %d", s.Runs, job.Name, s.ServerName, want[s.ServerName])
		}
	}
}
