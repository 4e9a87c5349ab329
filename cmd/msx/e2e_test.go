package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// msxBin builds the msx binary once per test run.
var msxBin = sync.OnceValues(func() (string, error) { return goBuild("msx", ".") })

// goBuild builds package pkg (relative to this directory) as name in a new temporary directory.
func goBuild(name, pkg string) (string, error) {
	dir, err := os.MkdirTemp("", name+"-e2e-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

type proc struct {
	cmd *exec.Cmd
	out *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	bin, err := msxBin()
	if err != nil {
		t.Fatal(err)
	}
	return startBin(t, dir, bin, args...)
}

// startBin starts the binary bin in dir; the test's cleanup stops it.
func startBin(t *testing.T, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &syncBuf{}}
	p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = dir, p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGINT (Ctrl-C) and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%v exited with %v:\n%s", p.cmd.Args, err, p.out)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%v did not stop within 30s of Ctrl-C:\n%s", p.cmd.Args, p.out)
	}
}

// msx runs one CLI command in dir and returns its stdout; it fails the test on error unless
// wantErr is set, in which case it returns stderr.
func msx(t *testing.T, dir string, wantErr bool, args ...string) string {
	t.Helper()
	stdout, stderr, err := runMsx(t, dir, args...)
	if wantErr {
		if err == nil {
			t.Fatalf("msx %v succeeded, want an error; output:\n%s", args, stdout)
		}
		return stderr
	}
	if err != nil {
		t.Fatalf("msx %v: %v\n%s%s", args, err, stdout, stderr)
	}
	return stdout
}

// runMsx runs one CLI command in dir (for at most 60 s).
func runMsx(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, _ := msxBin()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

type targetRow struct {
	ServerID           int     `json:"server_id"`
	ServerName         string  `json:"server_name"`
	Location           string  `json:"location"`
	Status             int     `json:"status"`
	UnreadInstructions int     `json:"unread_instructions"`
	PollInterval       int     `json:"poll_interval"`
	LastPollDate       *string `json:"last_poll_date"`
	Connected          bool    `json:"connected"`
	DownloadErrors     int     `json:"download_errors"`
}

func targets(t *testing.T, dir string) map[string]targetRow {
	t.Helper()
	var rows []targetRow
	if err := json.Unmarshal([]byte(msx(t, dir, false, "targetserver", "list", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]targetRow{}
	for _, r := range rows {
		out[r.ServerName] = r
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	var natsURL string
	waitFor(t, 60*time.Second, "msx up banner", func() bool {
		m := regexp.MustCompile(`NATS\s+((?:nats|tls)://\S+)`).FindStringSubmatch(up.out.String())
		if m != nil {
			natsURL = m[1]
		}
		return m != nil
	})

	// The CLI finds the master and the admin token in ./msx-data by itself.
	waitFor(t, 30*time.Second, "3 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].Status == 1 && ts["SQL03"].LastPollDate != nil
	})
	table := msx(t, dir, false, "targetserver", "list")
	for _, col := range []string{"server_id", "server_name", "location", "time_zone_adjustment", "enlist_date", "last_poll_date",
		"status", "unread_instructions", "local_time", "enlisted_by", "poll_interval", "version", "connected", "download_errors"} {
		if !strings.Contains(table, col) {
			t.Errorf("targetserver list has no %s column:\n%s", col, table)
		}
	}

	// A new target enlists with a one-time token; its name has an instance and mixed case.
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "-o", "json")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %+v", err, tok)
	}
	tdir := filepath.Join(dir, "sql04")
	tgt := start(t, dir, "target", "--name", `sql04\prod`, "--location", "rack 7", "--token", tok.Token,
		"--nats", natsURL, "--data", tdir, "--heartbeat", "300ms")
	waitFor(t, 30*time.Second, `SQL04\PROD enlisted and polling`, func() bool {
		r, ok := targets(t, dir)[`SQL04\PROD`]
		return ok && r.Location == "rack 7" && r.LastPollDate != nil
	})
	// The token was one-time.
	errOut := msx(t, dir, true, "target", "--name", "SQL05", "--token", tok.Token, "--nats", natsURL, "--data", filepath.Join(dir, "sql05"))
	if !strings.Contains(errOut, "already used") {
		t.Errorf("reused token: %s", errOut)
	}

	// Groups, instructions and the download list.
	msx(t, dir, false, "group", "add", "PROD")
	msx(t, dir, false, "group", "addmember", "prod", `SQL04\PROD`)
	if out := msx(t, dir, true, "group", "add", "prod"); !strings.Contains(out, "14261") {
		t.Errorf("duplicate group: %s", out)
	}
	if out := msx(t, dir, true, "group", "addmember", "PROD", "NOSUCH"); !strings.Contains(out, "14262") {
		t.Errorf("unknown server: %s", out)
	}
	msx(t, dir, false, "targetserver", "setpoll", `sql04\prod`, "30")
	msx(t, dir, false, "targetserver", "synctime", "--all")
	msx(t, dir, false, "targetserver", "reenlist", "SQL01")
	msx(t, dir, false, "targetserver", "resync", "SQL02")
	if out := msx(t, dir, true, "targetserver", "setpoll", "SQL01", "5"); !strings.Contains(out, "14266") {
		t.Errorf("setpoll 5: %s", out)
	}
	type row struct {
		InstanceID    uint64  `json:"instance_id"`
		OperationName string  `json:"operation_name"`
		TargetServer  string  `json:"target_server"`
		Status        int     `json:"status"`
		Downloaded    *string `json:"date_downloaded"`
	}
	waitFor(t, 30*time.Second, "every instruction downloaded", func() bool {
		var rows []row
		if err := json.Unmarshal([]byte(msx(t, dir, false, "downloadlist", "-o", "json")), &rows); err != nil {
			t.Fatal(err)
		}
		ops := map[string]bool{}
		for _, r := range rows {
			if r.Status != 1 || r.Downloaded == nil {
				return false
			}
			ops[r.OperationName] = true
		}
		return ops["SET-POLL"] && ops["SYNC-TIME"] && ops["RE-ENLIST"] && ops["DELETE"] && ops["INSERT"]
	})
	waitFor(t, 10*time.Second, "poll interval 30 on the target", func() bool { return targets(t, dir)[`SQL04\PROD`].PollInterval == 30 })

	// The example jobs run on every target of group ALL, and their history reaches the master.
	waitFor(t, 90*time.Second, "example job history from SQL01", func() bool {
		var rows []struct {
			StepID    int    `json:"step_id"`
			RunStatus int    `json:"run_status"`
			Server    string `json:"server"`
		}
		out := msx(t, dir, false, "job", "history", "Multi-step with retry and go-to-step", "--server", "SQL01", "-o", "json")
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		retried := false
		for _, r := range rows {
			retried = retried || (r.StepID == 1 && r.RunStatus == 2)
		}
		return len(rows) > 0 && rows[0].StepID == 0 && rows[0].RunStatus == 1 && retried
	})
	if out := msx(t, dir, false, "job", "show", "Local database heartbeat"); !strings.Contains(out, "SQL03") {
		t.Errorf("job show lacks its targets:\n%s", out)
	}

	// Stop the new target: it is suspected offline (flag 2) within 3 heartbeats; instructions
	// posted meanwhile wait, and are applied once when it returns.
	tgt.stop(t)
	waitFor(t, 10*time.Second, "status 2 after the target stopped", func() bool {
		r := targets(t, dir)[`SQL04\PROD`]
		return r.Status == 2 && !r.Connected
	})
	msx(t, dir, false, "targetserver", "synctime", `SQL04\PROD`)
	if r := targets(t, dir)[`SQL04\PROD`]; r.UnreadInstructions != 1 {
		t.Errorf("unread_instructions %d, want 1", r.UnreadInstructions)
	}
	tgt = start(t, dir, "target", "--name", `SQL04\PROD`, "--nats", natsURL, "--data", tdir, "--heartbeat", "300ms", "--location", "rack 7")
	waitFor(t, 30*time.Second, "back to status 1 with nothing unread", func() bool {
		r := targets(t, dir)[`SQL04\PROD`]
		return r.Status == 1 && r.UnreadInstructions == 0
	})

	// Normal defection (agent stopped first), then a forced one and delete on the master.
	tgt.stop(t)
	if out := msx(t, dir, false, "target", "defect", "--data", tdir, "--nats", natsURL); !strings.Contains(out, "Server defected from MSX") {
		t.Errorf("defect: %s", out)
	}
	if _, ok := targets(t, dir)[`SQL04\PROD`]; ok {
		t.Error(`SQL04\PROD still listed after defection`)
	}

	// Restart: the same fleet resumes from disk, nothing re-enlists.
	before := targets(t, dir)
	up.stop(t)
	if !strings.Contains(up.out.String(), "stopped.") {
		t.Errorf("msx up did not report a clean stop:\n%s", up.out.String())
	}
	up = start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	waitFor(t, 60*time.Second, "fleet resumed", func() bool {
		if !strings.Contains(up.out.String(), "msx is up") {
			return false
		}
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].Status == 1 && ts["SQL02"].Status == 1
	})
	after := targets(t, dir)
	for name, b := range before {
		if a := after[name]; a.ServerID != b.ServerID {
			t.Errorf("%s: server_id %d after restart, was %d", name, a.ServerID, b.ServerID)
		}
	}
	if out := msx(t, dir, false, "group", "show", "PROD", "-o", "json"); !strings.Contains(out, `"PROD"`) {
		t.Errorf("group lost on restart: %s", out)
	}
	// A second msx up on the same data directory is refused with a clear message.
	if out := msx(t, dir, true, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1"); !strings.Contains(out, "in use by another msx process") {
		t.Errorf("second msx up: %s", out)
	}
}
