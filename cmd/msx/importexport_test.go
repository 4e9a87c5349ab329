package main_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
)

// TestImportExport imports an SSMS "Script Job as CREATE" script into a running fleet, finds the
// job in the catalog, and exports it back as T-SQL that imports to the same job.
func TestImportExport(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "schemas", "jobs", "tsql", "testdata", "ssms-multistep.sql"))
	if err != nil {
		t.Fatal(err)
	}
	const name = "Nightly ETL - Sales"
	dir := t.TempDir()

	// --dry-run needs no master: it prints the documents, and the untranslated parameters on
	// stderr with their lines.
	bin, err := msxBin()
	if err != nil {
		t.Fatal(err)
	}
	dry := exec.CommandContext(t.Context(), bin, "job", "import", script, "--dry-run", "-o", "json")
	dry.Dir = dir
	var stderr strings.Builder
	dry.Stderr = &stderr
	out, err := dry.Output()
	if err != nil {
		t.Fatalf("import --dry-run: %v\n%s", err, stderr.String())
	}
	var report struct {
		Imported    []jobs.Job         `json:"imported"`
		NotImported []tsql.NotImported `json:"not_imported"`
	}
	if err := json.Unmarshal(out, &report); err != nil || len(report.Imported) != 1 || len(report.NotImported) != 0 {
		t.Fatalf("dry run: %v %+v\n%s", err, report, out)
	}
	if docs := report.Imported; docs[0].Name != name || len(docs[0].Steps) != 3 {
		t.Fatalf("dry run: %+v\n%s", docs, out)
	}
	if !strings.Contains(stderr.String(), "ssms-multistep.sql:93: @schedule_uid ignored") {
		t.Errorf("dry run does not report the ignored @schedule_uid with its line:\n%s", stderr.String())
	}

	up := start(t, dir, "up", "--no-examples", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	waitFor(t, 60*time.Second, "msx up", func() bool { return strings.Contains(up.out.String(), "msx is up") })

	if out := msx(t, dir, false, "job", "import", script); !strings.Contains(out, `job "`+name+`" created`) {
		t.Errorf("import: %s", out)
	}
	// Importing the same script again changes nothing.
	if out := msx(t, dir, false, "job", "import", script); !strings.Contains(out, "unchanged") {
		t.Errorf("second import: %s", out)
	}
	var list []struct {
		Name      string `json:"name"`
		Steps     int    `json:"steps"`
		Schedules int    `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "job", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != name || list[0].Steps != 3 || list[0].Schedules != 2 {
		t.Fatalf("job list = %+v, want the imported job with 3 steps and 2 schedules", list)
	}

	exported := msx(t, dir, false, "job", "export", name, "--format", "tsql")
	if !strings.Contains(exported, "msdb.dbo.sp_add_job @job_name=N'"+name+"'") {
		t.Fatalf("export is not an SSMS-style script:\n%s", exported)
	}
	back, err := tsql.Import([]byte(exported))
	if err != nil || len(back.Jobs) != 1 {
		t.Fatalf("exported script does not import: %v %+v", err, back.Problems)
	}
	j := back.Jobs[0]
	j.Normalize(time.Now())
	if j.Name != name || len(j.Steps) != 3 || len(j.Schedules) != 2 || j.Steps[0].RetryAttempts != 3 || j.Steps[2].ProxyName != "MailProxy" {
		t.Errorf("round trip lost something: %+v", j)
	}
	if err := msxErr(t, dir, "job", "export", name, "--format", "yaml"); !strings.Contains(err, "tsql") {
		t.Errorf("unknown format: %s", err)
	}
	// A script with jobs msx cannot run applies the others and exits 3 (partial).
	_, stderr2, err2 := runMsx(t, dir, "job", "import", testScript(t, "dbatools-agent.sql"))
	var exit *exec.ExitError
	if !errors.As(err2, &exit) || exit.ExitCode() != 3 || !strings.Contains(stderr2, "17 job(s) imported, 2 not") {
		t.Errorf("partial import: %v\n%s", err2, stderr2)
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "job", "list", "-o", "json")), &list); err != nil || len(list) != 18 {
		t.Errorf("after the partial import, %d jobs (%v), want 18", len(list), err)
	}
	bad := filepath.Join(dir, "bad.sql")
	if err := os.WriteFile(bad, []byte("SELECT 1\nGO\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := msxErr(t, dir, "job", "import", bad); !strings.Contains(err, "bad.sql:1:") || !strings.Contains(err, "no sp_add_job") {
		t.Errorf("script without a job: %s", err)
	}
}

func msxErr(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return msx(t, dir, true, args...)
}
