package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEndToEndSafeChanges drives the safe-change commands through the CLI, the API, the master
// and msx up's three targets: apply --dry-run changes nothing, disable --server, and
// start --wait reports a refusal and exits non-zero.
func TestEndToEndSafeChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--no-examples")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return strings.Contains(up.out.String(), "msx is up") })
	waitFor(t, 60*time.Second, "3 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].LastPollDate != nil && ts["SQL02"].LastPollDate != nil && ts["SQL03"].LastPollDate != nil
	})
	doc := filepath.Join(dir, "sleeper.yaml")
	if err := os.WriteFile(doc, []byte(`name: Sleeper
steps:
  - step_name: sleep
    subsystem: CmdExec
    command: sleep 30
  - step_name: never reached
    subsystem: CmdExec
    command: echo unreachable
targets:
  servers: [SQL01, SQL02]
`), 0o600); err != nil {
		t.Fatal(err)
	}

	out := msx(t, dir, false, "job", "apply", "-f", doc, "--dry-run")
	for _, want := range []string{`job "Sleeper" would be created`, "would post 2 instruction(s)", "INSERT   SQL01", "INSERT   SQL02",
		"warning: step(s) 2 can never run", "dry run: nothing was changed or posted"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply --dry-run output lacks %q:\n%s", want, out)
		}
	}
	if list := msx(t, dir, false, "job", "list"); strings.Contains(list, "Sleeper") {
		t.Fatalf("apply --dry-run created the job:\n%s", list)
	}
	out = msx(t, dir, false, "job", "apply", "-f", doc)
	if !strings.Contains(out, `job "Sleeper" created`) || !strings.Contains(out, "warning: step(s) 2 can never run") {
		t.Errorf("apply output:\n%s", out)
	}

	out = msx(t, dir, false, "job", "disable", "Sleeper", "--server", "sql02")
	if !strings.Contains(out, `job "Sleeper" disabled on SQL02 (version 2)`) {
		t.Errorf("disable --server output:\n%s", out)
	}
	if out := msx(t, dir, true, "job", "enable", "Sleeper", "--server", "NOSUCH"); !strings.Contains(out, "14262") {
		t.Errorf("enable on an unknown server: %s", out)
	}

	// Start on SQL01, then start --wait on both: SQL01 refuses (22022), SQL02 starts.
	waitFor(t, 30*time.Second, "the job started on SQL01", func() bool {
		out, err := tryMsx(dir, "job", "start", "Sleeper", "--server", "SQL01", "--wait", "-o", "json")
		return err == nil && strings.Contains(out, `"outcome": "started"`)
	})
	bin, _ := msxBin()
	waited, err := runIn(dir, bin, "job", "start", "Sleeper", "--server", "SQL01", "--server", "SQL02", "--wait")
	if err == nil {
		t.Fatalf("start --wait with a refusal exited 0:\n%s", waited)
	}
	for _, want := range []string{"SQL01", "refused", "22022", "SQL02", "started", "1 of 2 target(s) did not start: refused on SQL01 (22022)"} {
		if !strings.Contains(waited, want) {
			t.Errorf("start --wait output lacks %q:\n%s", want, waited)
		}
	}

	// The smaller things: events name their job, status in words, the bus URL in token create,
	// step output and hh:mm:ss times in the history table.
	waitFor(t, 30*time.Second, "the refused START's event naming the job", func() bool {
		out, err := tryMsx(dir, "events")
		return err == nil && regexp.MustCompile(`SQL01\s+sev 16\s+instruction\s+Sleeper\s`).MatchString(out)
	})
	if out := msx(t, dir, false, "targetserver", "list"); !strings.Contains(out, "1 normal") {
		t.Errorf("targetserver list shows no status in words:\n%s", out)
	}
	if out := msx(t, dir, false, "token", "create"); !regexp.MustCompile(`--nats (nats|tls)://127\.0\.0\.1:\d+ --data DIR`).MatchString(out) {
		t.Errorf("token create does not print the bus URL:\n%s", out)
	}
	echo := filepath.Join(dir, "echo.yaml")
	if err := os.WriteFile(echo, []byte("name: Echo\nsteps:\n  - step_name: say\n    subsystem: CmdExec\n    command: echo first line; echo second line\ntargets:\n  servers: [SQL03]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", echo)
	waitFor(t, 30*time.Second, "Echo started on SQL03", func() bool {
		out, err := tryMsx(dir, "job", "start", "Echo", "--wait")
		return err == nil && strings.Contains(out, "started")
	})
	var hist string
	waitFor(t, 30*time.Second, "Echo's history", func() bool {
		hist = msx(t, dir, false, "job", "history", "Echo")
		return strings.Contains(hist, "first line | second line")
	})
	if !regexp.MustCompile(`SQL03\s+1\s+say\s+1 Succeeded\s+\d{8}\s+\d\d:\d\d:\d\d\s+00:00:\d\d`).MatchString(hist) {
		t.Errorf("history table without hh:mm:ss times:\n%s", hist)
	}
	if full := msx(t, dir, false, "job", "history", "Echo", "--full"); !strings.Contains(full, `first line\nsecond line`) {
		t.Errorf("history --full does not show the whole output (newlines escaped by the table):\n%s", full)
	}
}

// tryMsx runs one CLI command in dir and returns its stdout, or an error with its output.
func tryMsx(dir string, args ...string) (string, error) {
	bin, err := msxBin()
	if err != nil {
		return "", err
	}
	var stdout bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout = dir, &stdout
	err = cmd.Run()
	return stdout.String(), err
}

// runIn runs a command in dir and returns its stdout and stderr together.
func runIn(dir, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
