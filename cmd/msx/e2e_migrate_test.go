package main_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/internal/mssqltest"
)

// migrationPlan is the part of `msx migrate -o json` the test reads.
type migrationPlan struct {
	DryRun bool           `json:"dry_run"`
	Counts map[string]int `json:"counts"`
	Items  []struct {
		Kind, Name, Action, Reason string
	} `json:"items"`
	Targets []struct {
		Server, Token, Enlist, Defect string
	} `json:"targets"`
}

func (p migrationPlan) action(kind, name string) string {
	for _, it := range p.Items {
		if it.Kind == kind && it.Name == name && it.Action != "note" {
			return it.Action + ": " + it.Reason
		}
	}
	return "(missing)"
}

// TestEndToEndMigrate runs the msx binary against the TDS fake holding an MSX master's msdb: a
// dry run plans, the first run creates the group, the jobs and a token per target (and says
// partial, for the Snapshot job), the printed command enlists SQL01, the second run gives it its
// job and group, a third changes nothing; msx job import --from-server imports a local job.
func TestEndToEndMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	old := mssqltest.Start(t, mssqltest.ServerName("OLDMSX"))
	for _, name := range []string{"SQL01", "SQL02"} {
		if _, err := old.EnlistTarget(name, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Client(t).ExecContext(t.Context(), `
EXEC msdb.dbo.sp_add_targetservergroup @name = N'PROD';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'PROD', @server_name = N'SQL01';
EXEC msdb.dbo.sp_add_job @job_name = N'Nightly checks', @category_name = N'Database Maintenance';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Nightly checks', @step_name = N'Check', @subsystem = N'CmdExec', @command = N'echo checked';
EXEC msdb.dbo.sp_add_jobschedule @job_name = N'Nightly checks', @name = N'nightly', @freq_type = 4, @freq_interval = 1;
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Nightly checks', @server_name = N'SQL01';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Nightly checks', @server_name = N'SQL02';
EXEC msdb.dbo.sp_add_job @job_name = N'Snapshot agent';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Snapshot agent', @step_name = N'Run', @subsystem = N'Snapshot', @command = N'-Publication x';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Snapshot agent', @server_name = N'SQL02';
EXEC msdb.dbo.sp_add_job @job_name = N'Local stats';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Local stats', @step_name = N'Stats', @subsystem = N'CmdExec', @command = N'echo stats';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Local stats';
`); err != nil {
		t.Fatal(err)
	}
	dsn := old.DSN()

	dir := t.TempDir()
	up := start(t, dir, "up", "--no-examples", "--targets", "0", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	waitFor(t, 60*time.Second, "msx up", func() bool { return strings.Contains(up.out.String(), "msx is up") })

	plan := func(args ...string) (migrationPlan, string) {
		t.Helper()
		stdout, stderr, err := runMsx(t, dir, append([]string{"migrate", "-o", "json"}, args...)...)
		var p migrationPlan
		if jerr := json.Unmarshal([]byte(stdout), &p); jerr != nil {
			t.Fatalf("msx migrate %v: %v %v\n%s%s", args, err, jerr, stdout, stderr)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(stderr, "partial: 1 object(s) not migrated") {
			t.Errorf("msx migrate %v: exit %v, stderr %q; want partial, exit status 3 (the Snapshot job)", args, err, stderr)
		}
		return p, stderr
	}

	dry, _ := plan("--from", dsn, "--dry-run")
	if !dry.DryRun || dry.action("job", "Nightly checks") != "create: " || !strings.Contains(dry.action("job", "Snapshot agent"), "Snapshot") {
		t.Errorf("dry run: %+v", dry)
	}
	if out := msx(t, dir, false, "job", "list", "-o", "json"); strings.Contains(out, "Nightly") {
		t.Errorf("the dry run created a job: %s", out)
	}

	// The human form prints, per target, how to enlist it and how to defect it.
	stdout, stderr, err := runMsx(t, dir, "migrate", "--from", dsn)
	if err == nil || !strings.Contains(stderr, "partial") {
		t.Errorf("first run: exit %v, stderr %s", err, stderr)
	}
	m := regexp.MustCompile(`msx target --name SQL01 --token (\S+) --nats (\S+)`).FindStringSubmatch(stdout)
	if m == nil || !strings.Contains(stdout, "EXEC msdb.dbo.sp_msx_defect;") || !strings.Contains(stdout, `job "Snapshot agent": not a valid msx job`) {
		t.Fatalf("first run printed:\n%s", stdout)
	}
	tgt := start(t, dir, "target", "--name", "SQL01", "--token", m[1], "--nats", m[2], "--data", filepath.Join(dir, "sql01"), "--heartbeat", "300ms")
	waitFor(t, 30*time.Second, "SQL01 enlisted", func() bool { _, ok := targets(t, dir)["SQL01"]; return ok })

	second, _ := plan("--from", dsn)
	if second.action("member", "PROD/SQL01") != "create: " || !strings.HasPrefix(second.action("job", "Nightly checks"), "update") ||
		!strings.HasPrefix(second.action("member", "PROD/SQL01"), "create") {
		t.Errorf("second run: %+v", second)
	}
	var job struct {
		Job struct {
			Category string `json:"category"`
			Targets  struct {
				Servers []string `json:"servers"`
			} `json:"targets"`
		} `json:"job"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "job", "show", "Nightly checks", "-o", "json")), &job); err != nil ||
		job.Job.Category != "Database Maintenance" || strings.Join(job.Job.Targets.Servers, ",") != "SQL01" {
		t.Errorf("job after the second run: %v %+v", err, job)
	}
	third, _ := plan("--from", dsn)
	if third.Counts["create"]+third.Counts["update"] != 0 {
		t.Errorf("third run changed something: %+v", third)
	}
	tgt.stop(t)

	// A server's local jobs; a DSN from the environment keeps the password off the command line.
	t.Setenv("MSX_SOURCE_DSN", dsn)
	out, errOut, err := runMsx(t, dir, "job", "import", "--from-server", "-", "--job", "local stats")
	if err != nil || !strings.Contains(out, `job "Local stats" created`) {
		t.Errorf("import --from-server: %v\n%s%s", err, out, errOut)
	}
	if errOut := msxErr(t, dir, "job", "import", "--from-server", dsn, "--job", "nosuch"); !strings.Contains(errOut, `no local job named "nosuch"`) {
		t.Errorf("import of a missing job: %s", errOut)
	}
	if errOut := msxErr(t, dir, "job", "import", "--from-server", dsn); !strings.Contains(errOut, `job "Nightly checks" not imported: it is a multiserver job`) ||
		!strings.Contains(errOut, "partial") {
		t.Errorf("import of every local job: %s", errOut)
	}
	if errOut := msxErr(t, dir, "migrate", "--from", "sqlserver://sa:pw@127.0.0.1:1?database=msdb", "--timeout", "2s"); !strings.Contains(errOut, "not answering") {
		t.Errorf("migrate from nowhere: %s", errOut)
	}
}
