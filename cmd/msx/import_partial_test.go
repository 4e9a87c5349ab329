package main_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
)

// testScript is the path of a script of schemas/jobs/tsql/testdata.
func testScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "schemas", "jobs", "tsql", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportPartialDryRun runs `msx job import --dry-run` on scripts that need evaluating: a
// dbatools export whose 2 replication jobs cannot be msx jobs exits 3 (partial) and names them
// in the JSON output; a maintenance installer gives the jobs of the declared platform; wrong
// flags are refused with what to give.
func TestImportPartialDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	stdout, stderr, err := runMsx(t, dir, "job", "import", testScript(t, "dbatools-agent.sql"), "--dry-run", "-o", "json")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit %v, want status 3 (partial)\n%s", err, stderr)
	}
	var report struct {
		Imported    []jobs.Job         `json:"imported"`
		NotImported []tsql.NotImported `json:"not_imported"`
		Problems    []tsql.Problem     `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(report.Imported) != 17 || len(report.NotImported) != 2 || report.NotImported[0].Line != 1303 || report.NotImported[1].Job != "SQLPROD01-Sales-1" {
		t.Fatalf("imported %d, not imported %+v", len(report.Imported), report.NotImported)
	}
	for _, want := range []string{`dbatools-agent.sql:1303: job "SQLPROD01-Sales-SalesPub-1" not imported: steps[1].subsystem: the Snapshot subsystem`,
		"partial import of", "17 job(s) would be imported, 2 not (exit status 3)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	out := msx(t, dir, false, "job", "import", testScript(t, "ola-while-loop.sql"), "--dry-run", "--platform", "linux")
	if n := strings.Count(out, "\nname: ") + strings.Count(out[:min(len(out), 6)], "name: "); n != 3 || strings.Contains(out, "Output file cleanup") {
		t.Errorf("linux: %d jobs, want 3 without the cmd.exe one:\n%s", n, out)
	}

	script := filepath.Join(dir, "vars.sql")
	if err := os.WriteFile(script, []byte("EXEC msdb.dbo.sp_add_job @job_name = N'$(Prefix) load'\n"+
		"EXEC msdb.dbo.sp_add_jobstep @job_name = N'$(Prefix) load', @step_name = N's', @command = N'SELECT ''$(ESCAPE_SQUOTE(JOBNAME))'''\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = msx(t, dir, false, "job", "import", script, "--dry-run", "--var", "Prefix=ETL")
	if !strings.Contains(out, "name: ETL load") || !strings.Contains(out, "$(ESCAPE_SQUOTE(JOBNAME))") {
		t.Errorf("--var: %s", out)
	}
	for _, tc := range []struct{ args, want string }{
		{"--var Prefix", "--var \"Prefix\": write NAME=VALUE"},
		{"--platform macos", "platform \"macos\": give windows or linux"},
		{"--edition free", "edition \"free\": give enterprise"},
	} {
		args := append([]string{"job", "import", script, "--dry-run"}, strings.Fields(tc.args)...)
		if err := msxErr(t, dir, args...); !strings.Contains(err, tc.want) {
			t.Errorf("%s: %s", tc.args, err)
		}
	}
	loop := filepath.Join(dir, "loop.sql")
	if err := os.WriteFile(loop, []byte("WHILE 1 = 1\n  PRINT 'again'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := msxErr(t, dir, "job", "import", loop, "--dry-run"); !strings.Contains(err, "line 1: evaluation stopped: the WHILE loop at line 1 runs more than") {
		t.Errorf("endless loop: %s", err)
	}
}
