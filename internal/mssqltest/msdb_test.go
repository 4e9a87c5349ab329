package mssqltest_test

import (
	"database/sql"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/msx-project/msx/internal/mssqltest"
)

// checkFor polls cond until it holds or the deadline passes.
func checkFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type historyRow struct {
	step   int
	name   string
	status int
}

func history(t *testing.T, fake *mssqltest.Server, jobID string) []historyRow {
	t.Helper()
	rows, err := fake.DB().Query("SELECT step_id, step_name, run_status FROM sysjobhistory WHERE job_id = ? ORDER BY instance_id", jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []historyRow
	for rows.Next() {
		var h historyRow
		if err := rows.Scan(&h.step, &h.name, &h.status); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func waitHistory(t *testing.T, fake *mssqltest.Server, jobID string, n int) []historyRow {
	t.Helper()
	var h []historyRow
	checkFor(t, 5*time.Second, func() error {
		if h = history(t, fake, jobID); len(h) < n {
			return errorf("%d history rows, want %d", len(h), n)
		}
		return nil
	})
	return h
}

// addJob creates a two-step job through RPC calls, the way a target in
// msdb mode does, and returns its id.
func addJob(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	ctx := t.Context()
	var jobID mssql.UniqueIdentifier
	var rs mssql.ReturnStatus
	_, err := db.ExecContext(ctx, "msdb.dbo.sp_add_job",
		sql.Named("job_name", name), sql.Named("enabled", 1), sql.Named("description", "from MSX"),
		sql.Named("category_name", "Jobs from MSX"), sql.Named("owner_login_name", "sa"),
		sql.Named("notify_level_eventlog", 0), sql.Named("delete_level", 0),
		sql.Named("job_id", sql.Out{Dest: &jobID}), &rs)
	if err != nil || rs != 0 {
		t.Fatalf("sp_add_job: %v, return status %d", err, rs)
	}
	for i, step := range []string{"first", "second"} {
		_, err := db.ExecContext(ctx, "msdb.dbo.sp_add_jobstep", sql.Named("job_id", jobID),
			sql.Named("step_name", step), sql.Named("subsystem", "TSQL"), sql.Named("command", "SELECT 1"),
			sql.Named("database_name", "master"), sql.Named("on_success_action", []int{3, 1}[i]),
			sql.Named("on_fail_action", 2), sql.Named("retry_attempts", 0), sql.Named("retry_interval", 0),
			sql.Named("output_file_name", nil), sql.Named("flags", 0), &rs)
		if err != nil || rs != 0 {
			t.Fatalf("sp_add_jobstep %s: %v, %d", step, err, rs)
		}
	}
	if _, err := db.ExecContext(ctx, "msdb.dbo.sp_add_jobserver", sql.Named("job_id", jobID), sql.Named("server_name", "(local)")); err != nil {
		t.Fatalf("sp_add_jobserver: %v", err)
	}
	return jobID.String()
}

func TestJobLifecycle(t *testing.T) {
	fake, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			jobName := "job " + name
			id := addJob(t, db, jobName)
			var schedID int
			_, err := db.ExecContext(ctx, "msdb.dbo.sp_add_schedule", sql.Named("schedule_name", "nightly "+name),
				sql.Named("freq_type", 4), sql.Named("freq_interval", 1), sql.Named("active_start_time", 10000),
				sql.Named("schedule_id", sql.Out{Dest: &schedID}))
			if err != nil || schedID == 0 {
				t.Fatalf("sp_add_schedule: %v, id %d", err, schedID)
			}
			mustExec(t, db, "msdb.dbo.sp_attach_schedule", sql.Named("job_name", jobName), sql.Named("schedule_id", schedID))
			mustExec(t, db, "EXEC msdb.dbo.sp_add_jobschedule @job_name = @p1, @name = N'hourly', @freq_type = 4, @freq_interval = 1, @freq_subday_type = 8, @freq_subday_interval = 1", jobName)
			var schedules int
			if err := fake.DB().QueryRow("SELECT count(*) FROM sysjobschedules WHERE job_id = ?", id).Scan(&schedules); err != nil || schedules != 2 {
				t.Fatalf("schedules = %d, %v", schedules, err)
			}

			var rs mssql.ReturnStatus
			if _, err := db.ExecContext(ctx, "msdb.dbo.sp_start_job", sql.Named("job_name", jobName), &rs); err != nil || rs != 0 {
				t.Fatalf("sp_start_job: %v, %d", err, rs)
			}
			h := waitHistory(t, fake, id, 3)
			want := []historyRow{{1, "first", 1}, {2, "second", 1}, {0, "(Job outcome)", 1}}
			if len(h) != 3 || h[0] != want[0] || h[1] != want[1] || h[2] != want[2] {
				t.Errorf("history = %v, want %v", h, want)
			}

			// A harvester reads history through the driver.
			var runs int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM msdb.dbo.sysjobhistory h JOIN msdb.dbo.sysjobs j ON j.job_id = h.job_id WHERE j.name = @p1 AND h.step_id = 0 AND h.run_status = 1", jobName).Scan(&runs); err != nil || runs != 1 {
				t.Errorf("harvested runs = %d, %v", runs, err)
			}

			mustExec(t, db, "EXEC msdb.dbo.sp_update_job @job_name = @p1, @enabled = 0, @description = N'off'", jobName)
			mustExec(t, db, "EXEC msdb.dbo.sp_delete_jobstep @job_id = @p1, @step_id = 1", id)
			var steps int
			var step1 string
			fake.DB().QueryRow("SELECT count(*), max(step_name) FROM sysjobsteps WHERE job_id = ? AND step_id = 1", id).Scan(&steps, &step1)
			if steps != 1 || step1 != "second" {
				t.Errorf("after delete, step 1 = %q (%d)", step1, steps)
			}
			mustExec(t, db, "EXEC msdb.dbo.sp_delete_job @job_name = @p1", jobName)
			if err := fake.DB().QueryRow("SELECT count(*) FROM sysjobs WHERE job_id = ?", id).Scan(&steps); err != nil || steps != 0 {
				t.Errorf("job still there: %d, %v", steps, err)
			}
		})
	}
}

func TestAgentScripting(t *testing.T) {
	fake := mssqltest.Start(t)
	db := fake.Client(t)
	id := addJob(t, db, "scripted")
	fake.Agent().Hold()
	mustExec(t, db, "EXEC msdb.dbo.sp_start_job @job_name = N'scripted'")
	if p := fake.Agent().Pending(); len(p) != 1 || p[0].JobName != "scripted" {
		t.Fatalf("pending = %v", p)
	}
	// A second start while the first is queued is refused, as Agent does.
	if _, err := db.ExecContext(t.Context(), "EXEC msdb.dbo.sp_start_job @job_name = N'scripted'"); sqlErr(err) != 22022 {
		t.Fatalf("second start: %v", err)
	}
	if n, err := fake.Agent().CompleteRuns(mssqltest.RunFailed); n != 1 || err != nil {
		t.Fatalf("CompleteRuns = %d, %v", n, err)
	}
	h := history(t, fake, id)
	if len(h) != 2 || h[0].status != 0 || h[1].step != 0 || h[1].status != 0 {
		t.Errorf("failed run history = %v", h)
	}

	fake.Agent().SetStepOutcome("scripted", 2, mssqltest.RunFailed, "boom")
	fake.Agent().Release()
	mustExec(t, db, "EXEC msdb.dbo.sp_start_job @job_name = N'scripted'")
	h = waitHistory(t, fake, id, 5)[2:]
	if h[0].status != 1 || h[1].status != 0 || h[2].step != 0 || h[2].status != 0 {
		t.Errorf("scripted history = %v", h)
	}

	fake.Agent().Hold()
	mustExec(t, db, "EXEC msdb.dbo.sp_start_job @job_name = N'scripted'")
	mustExec(t, db, "EXEC msdb.dbo.sp_stop_job @job_name = N'scripted'")
	h = waitHistory(t, fake, id, 7)[5:]
	if h[1].step != 0 || h[1].status != 3 {
		t.Errorf("stopped history = %v", h)
	}
	if _, err := db.ExecContext(t.Context(), "EXEC msdb.dbo.sp_stop_job @job_name = N'scripted'"); sqlErr(err) != 22022 {
		t.Errorf("stop idle job: %v", err)
	}
	if n := len(fake.Agent().Requests()); n != 3 {
		t.Errorf("requests = %d", n)
	}
}

func TestMSDBErrors(t *testing.T) {
	fake := mssqltest.Start(t)
	db := fake.Client(t)
	addJob(t, db, "exists")
	mustExec(t, db, "EXEC msdb.dbo.sp_add_job @job_name = N'lonely'")
	tests := []struct {
		name   string
		query  string
		number int32
	}{
		{"duplicate job", "EXEC msdb.dbo.sp_add_job @job_name = N'exists'", 14261},
		{"unknown job", "EXEC msdb.dbo.sp_delete_job @job_name = N'nope'", 14262},
		{"unknown job id", "EXEC msdb.dbo.sp_update_job @job_id = '6F9619FF-8B86-D011-B42D-00C04FC964FF', @enabled = 0", 14262},
		{"no job given", "EXEC msdb.dbo.sp_update_job @enabled = 0", 14294},
		{"bad subsystem", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'exists', @step_name = N's', @subsystem = N'Cobol'", 14234},
		{"duplicate step", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'exists', @step_name = N'first'", 14261},
		{"bad action", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'exists', @step_name = N'x', @on_success_action = 9", 14266},
		{"unknown category", "EXEC msdb.dbo.sp_add_job @job_name = N'c', @category_name = N'nope'", 14262},
		{"unknown proxy", "EXEC msdb.dbo.sp_add_jobstep @job_name = N'exists', @step_name = N'p', @proxy_name = N'nope'", 14262},
		{"already targeted", "EXEC msdb.dbo.sp_add_jobserver @job_name = N'exists'", 14269},
		{"no job server", "EXEC msdb.dbo.sp_start_job @job_name = N'lonely'", 14256},
		{"bad freq_type", "EXEC msdb.dbo.sp_add_schedule @schedule_name = N's', @freq_type = 3", 14266},
		{"unknown schedule", "EXEC msdb.dbo.sp_attach_schedule @job_name = N'exists', @schedule_name = N'nope'", 14262},
		{"unknown parameter", "EXEC msdb.dbo.sp_add_job @job_name = N'z', @colour = 1", 8145},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs mssql.ReturnStatus
			_, err := db.ExecContext(t.Context(), tt.query, &rs)
			if n := sqlErr(err); n != tt.number {
				t.Errorf("error %v (number %d), want %d", err, n, tt.number)
			}
		})
	}
	// A failed procedure returns status 1 over RPC.
	var rs mssql.ReturnStatus
	_, err := db.ExecContext(t.Context(), "msdb.dbo.sp_delete_job", sql.Named("job_name", "nope"), &rs)
	if sqlErr(err) != 14262 || rs != 1 {
		t.Errorf("RPC failure: %v, return status %d", err, rs)
	}
	// sp_help_job returns the job.
	var id mssql.UniqueIdentifier
	var name string
	if err := db.QueryRowContext(t.Context(), "EXEC msdb.dbo.sp_help_job @job_name = N'exists'").Scan(&id, new(string), &name,
		new(int), new(string), new(int), new(string), new(string), new(int), new(int), new(time.Time), new(time.Time),
		new(int), new(int), new(int), new(int), new(int), new(int), new(int)); err != nil || name != "exists" {
		t.Errorf("sp_help_job: %q, %v", name, err)
	}
}
