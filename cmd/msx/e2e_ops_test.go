package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndOperatorSafety drives the verbs of issue 10 as an operator would, from a script
// (stdin is not a terminal): destructive verbs show which jobs leave which servers and need
// --yes; download errors clear in bulk; `msx master` refuses a directory that holds no master.
func TestEndToEndOperatorSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--targets", "2", "--no-examples")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return strings.Contains(up.out.String(), "msx is up") })
	waitFor(t, 60*time.Second, "2 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 2 && ts["SQL01"].LastPollDate != nil && ts["SQL02"].LastPollDate != nil
	})
	if table := msx(t, dir, false, "targetserver", "list"); !strings.Contains(table, "disk") {
		t.Errorf("targetserver list has no disk column:\n%s", table)
	}
	msx(t, dir, false, "group", "add", "WEB")
	msx(t, dir, false, "group", "addmember", "WEB", "SQL01")
	msx(t, dir, false, "group", "addmember", "WEB", "SQL02")
	job := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(job, []byte("name: web job\nsteps:\n  - step_name: one\n    command: SELECT 1\ntargets:\n  groups: [WEB]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", job)

	out := msx(t, dir, true, "group", "removemember", "WEB", "SQL01")
	for _, want := range []string{"remove SQL01 from group WEB un-deploys 1 job(s)", "SQL01: web job", "--yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("removemember without --yes does not say %q:\n%s", want, out)
		}
	}
	if ts := targets(t, dir); ts["SQL01"].Status&4 != 0 {
		t.Fatalf("status %d", ts["SQL01"].Status)
	}
	if out := msx(t, dir, false, "group", "removemember", "WEB", "SQL01", "--yes"); !strings.Contains(out, "DELETE") {
		t.Errorf("removemember --yes posted:\n%s", out)
	}
	out = msx(t, dir, true, "group", "delete", "WEB")
	if !strings.Contains(out, "SQL02: web job") || strings.Contains(out, "SQL01:") {
		t.Errorf("group delete plan:\n%s", out)
	}
	if out := msx(t, dir, false, "group", "delete", "WEB", "--yes"); !strings.Contains(out, "DELETE") || !strings.Contains(out, "SQL02") {
		t.Errorf("group delete --yes posted:\n%s", out)
	}
	if out := msx(t, dir, true, "job", "delete", "web job"); !strings.Contains(out, "un-deploys no job") || !strings.Contains(out, "--yes") {
		t.Errorf("job delete of a job on no server:\n%s", out)
	}
	msx(t, dir, false, "job", "delete", "web job", "--yes")

	if out := msx(t, dir, true, "downloadlist", "clear"); !strings.Contains(out, "--all") {
		t.Errorf("downloadlist clear without a filter:\n%s", out)
	}
	if out := msx(t, dir, false, "downloadlist", "clear", "--all"); !strings.Contains(out, "No error to clear") {
		t.Errorf("downloadlist clear --all:\n%s", out)
	}

	// A target's directory is not a master's: refused before anything starts.
	tdir := filepath.Join(dir, "msx-data", "targets", "SQL01")
	if out := msx(t, dir, true, "master", "--data", tdir, "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1"); !strings.Contains(out, "target.db") {
		t.Errorf("msx master --data on a target's directory:\n%s", out)
	}
}
