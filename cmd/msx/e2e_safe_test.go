package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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
	start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	waitFor(t, 60*time.Second, "3 targets online", func() bool {
		if _, err := os.Stat(filepath.Join(dir, "msx-data")); err != nil {
			return false
		}
		var rows []struct {
			LastPollDate *string `json:"last_poll_date"`
		}
		out, err := tryMsx(dir, "targetserver", "list", "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 {
			return false
		}
		for _, r := range rows {
			if r.LastPollDate == nil {
				return false
			}
		}
		return true
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
