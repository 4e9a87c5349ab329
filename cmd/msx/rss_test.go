package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleRSSLimit is issue 11's bound on an idle target agent's resident memory.
const idleRSSLimit = 30 << 20

// agentBin builds cmd/msx-agent, the agent-only binary, once per test run.
var agentBin = sync.OnceValues(func() (string, error) { return goBuild("msx-agent", "../msx-agent") })

// TestTargetIdleRSS starts a master and, as its own process, the agent-only binary msx-agent
// enlisted with it, lets the agent settle (heartbeats, no job), and reads its resident set size
// (VmRSS). The bound is on msx-agent, the binary for SQL Server hosts: `msx target` runs the
// same code from the whole msx binary, whose pages (the embedded NATS server, Prometheus, the
// console) add some 2-3 MB of file-backed resident memory to it.
func TestTargetIdleRSS(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds and runs the binary; reads /proc")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--targets", "0", "--no-examples")
	var natsURL string
	waitFor(t, 60*time.Second, "msx up banner", func() bool {
		m := regexp.MustCompile(`NATS\s+((?:nats|tls)://\S+)`).FindStringSubmatch(up.out.String())
		if m != nil {
			natsURL = m[1]
		}
		return m != nil
	})
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "-o", "json")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %+v", err, tok)
	}
	bin, err := agentBin()
	if err != nil {
		t.Fatal(err)
	}
	tgt := startBin(t, dir, bin, "--name", "SQLRSS", "--token", tok.Token, "--nats", natsURL,
		"--data", filepath.Join(dir, "sqlrss"), "--heartbeat", "1s")
	waitFor(t, 30*time.Second, "SQLRSS enlisted and polling", func() bool {
		r, ok := targets(t, dir)["SQLRSS"]
		return ok && r.LastPollDate != nil
	})
	// Settled: five readings a second apart that differ by less than 1 %.
	var rss []int64
	waitFor(t, 60*time.Second, "the agent's memory to settle", func() bool {
		time.Sleep(time.Second)
		rss = append(rss, vmRSS(t, tgt.cmd.Process.Pid))
		if len(rss) < 5 {
			return false
		}
		last := rss[len(rss)-5:]
		lo, hi := last[0], last[0]
		for _, v := range last {
			lo, hi = min(lo, v), max(hi, v)
		}
		return hi-lo < hi/100
	})
	got := rss[len(rss)-1]
	t.Logf("idle target agent: VmRSS %.1f MB (%s)", float64(got)/(1<<20), procStatus(t, tgt.cmd.Process.Pid, "RssAnon", "RssFile"))
	if got > idleRSSLimit {
		t.Errorf("idle target agent uses %d bytes of resident memory, over %d", got, idleRSSLimit)
	}
}

// vmRSS returns the resident set size of process pid, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.TrimSuffix(procStatus(t, pid, "VmRSS"), " kB"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v << 10
}

// procStatus returns the named fields of /proc/PID/status, "name: value" joined by ", ", or
// the value alone for one field.
func procStatus(t *testing.T, pid int, names ...string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if v, ok := strings.CutPrefix(line, n+":"); ok {
				if len(names) == 1 {
					return strings.TrimSpace(v)
				}
				out = append(out, n+" "+strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(out, ", ")
}
