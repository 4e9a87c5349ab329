package target_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target"
	"github.com/msx-project/msx/target/msdb"
)

// startMSDBAgent replaces the harness's agent with one in msdb mode on the SQL Server of dsn.
func (h *harness) startMSDBAgent(dsn string) {
	h.t.Helper()
	// The runner-mode agent newHarness started must be up before it stops, or it reports the
	// interrupted start as an error.
	if st := h.status(h.post(schemas.OpSyncTime, "", "", nil)); st.Status != schemas.StatusApplied {
		h.t.Fatalf("SYNC-TIME: %+v", st.Error)
	}
	h.stopAgent()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	cfg := target.Config{Name: serverName, NATSURL: "nats://" + h.listen, DataDir: h.dataDir, HeartbeatInterval: time.Second,
		Encrypt: bus.ModeNone, TimeZone: time.Local, Logger: bustest.Logger(h.t),
		AgentMode: target.AgentModeMSDB, SQLDSN: dsn, HarvestInterval: 100 * time.Millisecond}
	go func() { errc <- target.Run(ctx, cfg) }()
	var once sync.Once
	h.stopAgent = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					h.t.Errorf("agent: %v", err)
				}
			case <-time.After(45 * time.Second):
				h.t.Error("agent did not stop")
			}
		})
	}
	h.t.Cleanup(h.stopAgent)
}

func guid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func TestAgentModeConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  target.Config
	}{
		{"msdb without SQL Server", target.Config{AgentMode: target.AgentModeMSDB}},
		{"unknown mode", target.Config{AgentMode: "sqlagent", SQLDSN: "sqlserver://sa:x@localhost"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name, cfg.NATSURL, cfg.DataDir = "SQL01", "nats://127.0.0.1:1", t.TempDir()
			if err := target.Run(t.Context(), cfg); !errors.Is(err, target.ErrConfig) || !strings.Contains(err.Error(), "agent-mode") {
				t.Errorf("Run: %v, want ErrConfig about --agent-mode", err)
			}
		})
	}
}

// TestMSDBMode drives an agent in msdb mode through the bus: its jobs land in msdb, START and
// STOP reach SQL Server Agent, and the history Agent writes comes back as run results. It runs
// against the fake TDS server, and against a real SQL Server when MSSQL_DSN is set.
func TestMSDBMode(t *testing.T) {
	t.Run("fake", func(t *testing.T) {
		fake := mssqltest.Start(t)
		testMSDBMode(t, fake.DSN(), fake)
	})
	t.Run("sqlserver", func(t *testing.T) {
		dsn := os.Getenv("MSSQL_DSN")
		if dsn == "" {
			t.Skip("MSSQL_DSN not set: to run against SQL Server 2022 with Agent enabled, see README (SQL Server)")
		}
		testMSDBMode(t, dsn, nil)
	})
}

func testMSDBMode(t *testing.T, dsn string, fake *mssqltest.Server) {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := newHarness(t)
	h.startMSDBAgent(dsn)

	steps := func(id string) []string {
		rows, err := db.QueryContext(t.Context(), `SELECT s.step_name FROM msdb.dbo.sysjobsteps s JOIN msdb.dbo.sysjobs j ON j.job_id = s.job_id
			JOIN msdb.dbo.syscategories c ON c.category_id = j.category_id WHERE j.job_id = @p1 AND c.name = @p2 ORDER BY s.step_id`,
			strings.ToUpper(id), msdb.Category)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}

	j := &jobs.Job{JobID: guid(), VersionNumber: 1, Name: "msx agent test " + rand.Text()[:8],
		Steps: []jobs.Step{
			{StepID: 1, StepName: "one", Command: "SELECT 1", OnSuccessAction: jobs.ActionNextStep},
			{StepID: 2, StepName: "two", Command: "SELECT 2"},
		},
		Schedules: []schedule.Schedule{{Name: "nightly", FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: 1, ActiveStartTime: 230000}}}
	h.insert(j)
	t.Cleanup(func() { // on a real SQL Server, when the test fails before its DELETE
		_, _ = db.ExecContext(context.Background(), "msdb.dbo.sp_delete_job", sql.Named("job_id", j.JobID))
	})
	if got := steps(j.JobID); strings.Join(got, ",") != "one,two" {
		t.Fatalf("steps in msdb after INSERT: %v", got)
	}

	// A new version replaces the steps; on a real SQL Server the step fails by itself.
	j.VersionNumber = 2
	j.Steps = []jobs.Step{{StepID: 1, StepName: "failing", Command: "RAISERROR('boom', 16, 1)"}}
	h.insert(j)
	if got := steps(j.JobID); strings.Join(got, ",") != "failing" {
		t.Fatalf("steps in msdb after UPDATE: %v", got)
	}
	if fake != nil {
		fake.Agent().SetStepOutcome(j.Name, 1, mssqltest.RunFailed, "boom")
	}

	if st := h.status(h.post(schemas.OpStart, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("START: %+v", st.Error)
	}
	r := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 90*time.Second)[0]
	rs := rows(t, r)
	if r.RunStatus != int(jobs.RunFailed) || r.VersionNumber != 2 || r.Server != serverName || len(rs) != 2 ||
		rs[0].StepID != 0 || rs[1].StepName != "failing" || rs[1].RunStatus != jobs.RunFailed {
		t.Errorf("harvested run = %+v, rows %+v", r, rs)
	}
	waitFor(t, 10*time.Second, "job failure event", func() bool {
		for _, e := range h.events.all() {
			if e.RunID == r.RunID && e.Source == "job" {
				return true
			}
		}
		return false
	})

	// STOP of a job that is not running: SQL Server Agent's refusal comes back as 22022.
	if st := h.status(h.post(schemas.OpStop, j.JobID, j.Name, nil)); errCode(st) != target.CodeJobRunning {
		t.Errorf("STOP of an idle job: %+v", st)
	}
	// SQL Server Agent cannot run a cron schedule: the INSERT fails and says so.
	cron := &jobs.Job{JobID: guid(), VersionNumber: 1, Name: "msx cron " + rand.Text()[:8],
		Steps:     []jobs.Step{{StepID: 1, StepName: "s", Command: "SELECT 1"}},
		Schedules: []schedule.Schedule{{Name: "every 5 minutes", Cron: "*/5 * * * *"}}}
	if st := h.status(h.post(schemas.OpInsert, cron.JobID, cron.Name, cron)); errCode(st) != msdb.CodeNotExpressible ||
		!strings.Contains(st.Error.Message, "cron") {
		t.Errorf("cron INSERT: %+v", st)
	}

	if st := h.status(h.post(schemas.OpDelete, j.JobID, j.Name, nil)); st.Status != schemas.StatusApplied {
		t.Fatalf("DELETE: %+v", st.Error)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM msdb.dbo.sysjobs WHERE job_id = @p1", strings.ToUpper(j.JobID)).Scan(&n); err != nil || n != 0 {
		t.Errorf("job still in msdb after DELETE: %d, %v", n, err)
	}
}
