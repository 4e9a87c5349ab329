package msdb_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target/msdb"
)

// server is a SQL Server the tests write jobs into: the fake (always) or a real one
// (MSSQL_DSN).
type server struct {
	db   *sql.DB
	fake *mssqltest.Server // nil on a real SQL Server
}

// hold makes the next start wait, so that it can be stopped: the fake Agent holds it; on a
// real SQL Server the job's step waits (see stopJob).
func (s server) hold() {
	if s.fake != nil {
		s.fake.Agent().Hold()
	}
}

// failStep makes the step fail in later runs: scripted on the fake; on a real SQL Server the
// step's command already raises an error (see twoSteps).
func (s server) failStep(jobName string, step int) {
	if s.fake != nil {
		s.fake.Agent().SetStepOutcome(jobName, step, mssqltest.RunFailed, "boom")
	}
}

// eachServer runs body against the fake TDS server, and against the SQL Server of MSSQL_DSN
// when it is set.
func eachServer(t *testing.T, body func(t *testing.T, s server)) {
	t.Run("fake", func(t *testing.T) {
		fake := mssqltest.Start(t)
		body(t, server{db: fake.Client(t), fake: fake})
	})
	t.Run("sqlserver", func(t *testing.T) {
		dsn := os.Getenv("MSSQL_DSN")
		if dsn == "" {
			t.Skip("MSSQL_DSN not set: to run against SQL Server 2022 with Agent enabled, see README (SQL Server)")
		}
		db, err := sql.Open("sqlserver", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		body(t, server{db: db})
	})
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// twoSteps is a job whose first step goes on to the second; on a real SQL Server the second
// fails when fail is set.
func twoSteps(fail bool) jobs.Job {
	second := "SELECT 2"
	if fail {
		second = "RAISERROR('boom', 16, 1)"
	}
	return jobs.Job{JobID: newUUID(), VersionNumber: 1, Name: "msx test " + rand.Text()[:8], Description: "from the msdb tests",
		Steps: []jobs.Step{
			{StepID: 1, StepName: "first", Subsystem: "TSQL", Command: "SELECT 1", DatabaseName: "master", OnSuccessAction: jobs.ActionNextStep, OnFailAction: jobs.ActionQuitFailure},
			{StepID: 2, StepName: "second", Subsystem: "TSQL", Command: second, DatabaseName: "master", OnSuccessAction: jobs.ActionQuitSuccess, OnFailAction: jobs.ActionQuitFailure},
		},
		Schedules: []schedule.Schedule{{Name: "nightly", FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: 1, ActiveStartTime: 230000}},
	}
}

func newClient(t *testing.T, s server) *msdb.Client {
	t.Helper()
	c, err := msdb.New(msdb.Config{DB: s.db, Server: "SQL01", Location: time.Local, PollInterval: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func apply(t *testing.T, c *msdb.Client, j jobs.Job) {
	t.Helper()
	if err := c.Apply(t.Context(), j); err != nil {
		t.Fatalf("Apply %s: %v", j.Name, err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), j.JobID) })
}

type jobRow struct {
	name, category string
	enabled        int
	steps          []string
	schedules      []string
}

func readJob(t *testing.T, db *sql.DB, id string) (jobRow, bool) {
	t.Helper()
	ctx := t.Context()
	// SQL Server compares uniqueidentifiers whatever the case of the text; the fake (SQLite)
	// compares text, and stores it upper case.
	id = strings.ToUpper(id)
	var r jobRow
	err := db.QueryRowContext(ctx, `SELECT j.name, c.name, j.enabled FROM msdb.dbo.sysjobs j
		JOIN msdb.dbo.syscategories c ON c.category_id = j.category_id WHERE j.job_id = @p1`, id).Scan(&r.name, &r.category, &r.enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	r.steps = column(t, db, "SELECT step_name FROM msdb.dbo.sysjobsteps WHERE job_id = @p1 ORDER BY step_id", id)
	r.schedules = column(t, db, `SELECT s.name FROM msdb.dbo.sysschedules s JOIN msdb.dbo.sysjobschedules js
		ON js.schedule_id = s.schedule_id WHERE js.job_id = @p1 ORDER BY s.name`, id)
	return r, true
}

func column(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func code(err error) int {
	var be *schemas.Error
	if errors.As(err, &be) {
		return be.Code
	}
	return -1
}

func TestApplyUpdateDelete(t *testing.T) {
	eachServer(t, func(t *testing.T, s server) {
		c := newClient(t, s)
		j := twoSteps(false)
		apply(t, c, j)
		got, ok := readJob(t, s.db, j.JobID)
		if !ok || got.name != j.Name || got.category != msdb.Category || got.enabled != 1 ||
			!slices.Equal(got.steps, []string{"first", "second"}) || !slices.Equal(got.schedules, []string{"nightly"}) {
			t.Fatalf("after INSERT: %+v (found %v)", got, ok)
		}

		// A new snapshot replaces the steps and schedules.
		off := false
		j.VersionNumber, j.Enabled = 2, &off
		j.Steps = []jobs.Step{{StepID: 1, StepName: "only step", Command: "SELECT 3"}}
		j.Schedules = []schedule.Schedule{{Name: "hourly", FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdayHours, FreqSubdayInterval: 1}}
		apply(t, c, j)
		got, _ = readJob(t, s.db, j.JobID)
		if got.enabled != 0 || !slices.Equal(got.steps, []string{"only step"}) || !slices.Equal(got.schedules, []string{"hourly"}) {
			t.Fatalf("after UPDATE: %+v", got)
		}

		if err := c.Delete(t.Context(), j.JobID); err != nil {
			t.Fatal(err)
		}
		if got, ok := readJob(t, s.db, j.JobID); ok {
			t.Fatalf("after DELETE: %+v", got)
		}
		if err := c.Delete(t.Context(), j.JobID); err != nil {
			t.Errorf("second DELETE: %v", err)
		}
	})
}

func TestApplyRefuses(t *testing.T) {
	eachServer(t, func(t *testing.T, s server) {
		c := newClient(t, s)
		tests := []struct {
			name string
			edit func(*jobs.Job)
			code int
		}{
			{"cron schedule", func(j *jobs.Job) { j.Schedules[0] = schedule.Schedule{Name: "cron", Cron: "*/5 * * * *"} }, msdb.CodeNotExpressible},
			{"other time zone", func(j *jobs.Job) { j.Schedules[0].TimeZone = "Pacific/Chatham" }, msdb.CodeNotExpressible},
			{"job id not a GUID", func(j *jobs.Job) { j.JobID = "NOT-A-GUID" }, msdb.CodeBadJobID},
			{"unknown proxy", func(j *jobs.Job) { j.Steps[1].Subsystem, j.Steps[1].ProxyName = "CmdExec", "no such proxy" }, 14262},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				j := twoSteps(false)
				tt.edit(&j)
				err := c.Apply(t.Context(), j)
				if code(err) != tt.code {
					t.Fatalf("Apply: %v (code %d), want code %d", err, code(err), tt.code)
				}
				// Nothing is left half written.
				if _, ok := readJob(t, s.db, j.JobID); ok && tt.code != msdb.CodeBadJobID {
					t.Errorf("job written after a refusal")
				}
			})
		}
	})
}

// memSink keeps what the harvester reports.
type memSink struct {
	mu     sync.Mutex
	held   []msdb.Held
	cursor int64
	runs   []schemas.RunResult
}

func (m *memSink) Held(context.Context) ([]msdb.Held, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.held), nil
}

func (m *memSink) Cursor(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursor, nil
}

func (m *memSink) Report(_ context.Context, runs []schemas.RunResult, cursor int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs, m.cursor = append(m.runs, runs...), cursor
	return nil
}

func (m *memSink) results() []schemas.RunResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.runs)
}

func waitRuns(t *testing.T, h *msdb.Harvester, sink *memSink, n int) []schemas.RunResult {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := h.Harvest(t.Context()); err != nil {
			t.Fatal(err)
		}
		if r := sink.results(); len(r) >= n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs harvested, want %d", len(sink.results()), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartHarvestStop(t *testing.T) {
	eachServer(t, func(t *testing.T, s server) {
		c := newClient(t, s)
		j := twoSteps(true)
		apply(t, c, j)
		s.failStep(j.Name, 2)
		sink := &memSink{held: []msdb.Held{{JobID: j.JobID, Name: j.Name, Version: 1}}}
		h := c.Harvester(sink)

		if err := c.Start(t.Context(), j.JobID); err != nil {
			t.Fatal(err)
		}
		r := waitRuns(t, h, sink, 1)[0]
		if r.Phase != schemas.PhaseFinished || r.JobID != j.JobID || r.JobName != j.Name || r.VersionNumber != 1 ||
			r.RunStatus != int(jobs.RunFailed) || r.Server != "SQL01" || r.RunID == "" {
			t.Errorf("run = %+v", r)
		}
		var rows []jobs.HistoryRow
		for _, raw := range r.Rows {
			var row jobs.HistoryRow
			if err := jsonUnmarshal(raw, &row); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
		}
		if len(rows) != 3 || rows[0].StepID != 0 || rows[1].StepID != 1 || rows[1].RunStatus != jobs.RunSucceeded ||
			rows[2].StepID != 2 || rows[2].RunStatus != jobs.RunFailed {
			t.Errorf("rows = %+v", rows)
		}
		if _, err := schemas.Encode(&r); err != nil {
			t.Errorf("the run result does not match its schema: %v", err)
		}
		// Harvesting again reports nothing new.
		if n, err := h.Harvest(t.Context()); n != 0 || err != nil {
			t.Errorf("second harvest: %d, %v", n, err)
		}

		if err := c.Stop(t.Context(), j.JobID); code(err) != 22022 {
			t.Errorf("stop of an idle job: %v, want 22022", err)
		}
		stopJob(t, s, c, j)
		runs := waitRuns(t, h, sink, 2)
		if runs[1].RunStatus != int(jobs.RunCanceled) {
			t.Errorf("stopped run = %+v", runs[1])
		}
	})
}

// stopJob starts j and stops it while it runs: on the fake the Agent holds the run; on a real
// SQL Server the job waits in its first step.
func stopJob(t *testing.T, s server, c *msdb.Client, j jobs.Job) {
	t.Helper()
	if s.fake == nil {
		j.VersionNumber++
		j.Steps[0].Command = "WAITFOR DELAY '00:01:00'"
		if err := c.Apply(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	s.hold()
	if err := c.Start(t.Context(), j.JobID); err != nil {
		t.Fatal(err)
	}
	// A real Agent takes a moment to pick the request up: until then the job is not running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Stop(t.Context(), j.JobID)
		if err == nil {
			return
		}
		if code(err) != 22022 || time.Now().After(deadline) {
			t.Fatalf("stop: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
