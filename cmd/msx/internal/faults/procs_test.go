//go:build faults

package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas/jobs"
)

// msxBin builds the msx binary once per test run.
var msxBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "msx-faults-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "msx")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/msx-project/msx/cmd/msx").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proc is an msx child process.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
}

func startProc(tb testing.TB, args ...string) *proc {
	tb.Helper()
	bin, err := msxBin()
	if err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: exec.Command(bin, args...), out: &syncBuf{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() { p.signal(syscall.SIGINT, 30*time.Second) })
	return p
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() { p.signal(syscall.SIGKILL, 30*time.Second) }

func (p *proc) signal(sig syscall.Signal, wait time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cli runs one msx command against the master whose data directory is dir and returns stdout.
func cli(tb testing.TB, dir string, args ...string) (string, error) {
	tb.Helper()
	bin, err := msxBin()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--data", dir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("msx %v: %w: %s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

func mustCLI(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := cli(tb, dir, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// masterProc is `msx master` as a child process on a fixed NATS port, so that it can be killed
// and restarted where its targets expect it.
type masterProc struct {
	dir  string
	port int
	p    *proc
}

func startMasterProc(tb testing.TB) *masterProc {
	tb.Helper()
	m := &masterProc{dir: filepath.Join(tb.TempDir(), "msx"), port: bustest.FreePort(tb)}
	m.start(tb)
	return m
}

func (m *masterProc) start(tb testing.TB) {
	tb.Helper()
	_ = os.Remove(filepath.Join(m.dir, "master", client.URLFile))
	m.p = startProc(tb, "master", "--data", m.dir, "--http", "127.0.0.1:0", "--nats", "127.0.0.1:"+strconv.Itoa(m.port))
	waitFor(tb, patience, "master API answering", func() bool {
		_, err := cli(tb, m.dir, "targetserver", "list", "-o", "json")
		return err == nil
	})
}

func (m *masterProc) url() string { return "nats://127.0.0.1:" + strconv.Itoa(m.port) }
func (m *masterProc) ca() string  { return filepath.Join(m.dir, "master", "tls", bus.CAFile) }

func (m *masterProc) token(tb testing.TB) string {
	tb.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(mustCLI(tb, m.dir, "token", "create", "-o", "json")), &tok); err != nil || tok.Token == "" {
		tb.Fatalf("token create: %v", err)
	}
	return tok.Token
}

// connect opens a connection with the master's identity, to read its streams.
func (m *masterProc) connect(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	kp, err := bus.LoadOrCreateKey(filepath.Join(m.dir, "master", "master.nk"))
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := bus.ClientTLS(bus.ModeVerify, m.ca(), "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	nk, err := bus.NkeyOption(kp)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(m.url(), append(opts, nk, nats.MaxReconnects(-1))...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return mustJS(tb, nc)
}

// snapshot reads the download list once through the CLI and answers for each target from it.
func (m *masterProc) snapshot(tb testing.TB) ledgerFunc {
	out, err := cli(tb, m.dir, "downloadlist", "-o", "json")
	var rows []ledger.Row
	if err == nil {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			tb.Fatal(err)
		}
	}
	return func(tok string) (map[string]int, int) {
		if err != nil {
			return nil, 1 // not answering (yet): not done
		}
		ids, pending := map[string]int{}, 0
		for _, r := range rows {
			if jobs.ServerToken(r.TargetServer) != tok {
				continue
			}
			ids[r.InstructionID]++
			if r.Status == 0 {
				pending++
			}
		}
		return ids, pending
	}
}

type tsRow struct {
	ServerName         string  `json:"server_name"`
	UnreadInstructions int     `json:"unread_instructions"`
	Status             int     `json:"status"`
	Jobs               int     `json:"jobs"`
	LastPollDate       *string `json:"last_poll_date"`
}

func (m *masterProc) targets(tb testing.TB) map[string]tsRow {
	tb.Helper()
	out, err := cli(tb, m.dir, "targetserver", "list", "-o", "json")
	if err != nil {
		return nil
	}
	var rows []tsRow
	if json.Unmarshal([]byte(out), &rows) != nil {
		return nil
	}
	res := map[string]tsRow{}
	for _, r := range rows {
		res[r.ServerName] = r
	}
	return res
}

func writeJob(tb testing.TB, j jobs.Job) string {
	tb.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "job.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
