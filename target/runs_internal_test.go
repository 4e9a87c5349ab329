package target

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/scheduler"
)

func TestCheckDSN(t *testing.T) {
	cases := []struct {
		name, dsn, label string
		err              error
	}{
		{"embedded", "", "SQLite (embedded)", nil},
		{"sql_server", "sqlserver://sa:s3cret@db1:1433/PROD?database=msdb&password=other", "SQL Server (sa@db1:1433/PROD)", nil},
		{"no_user", "sqlserver://db1", "SQL Server (db1)", nil},
		{"other_scheme", "postgres://u:p@db1/x", "", ErrConfig},
		{"ado_string", "server=db1;user id=sa;password=x", "", ErrConfig},
		{"no_host", "sqlserver:///x", "", ErrConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			label, err := checkDSN(tc.dsn)
			if !errors.Is(err, tc.err) || label != tc.label {
				t.Errorf("checkDSN(%q) = %q, %v; want %q, %v", tc.dsn, label, err, tc.label, tc.err)
			}
			if strings.Contains(label, "s3cret") || strings.Contains(label, "other") {
				t.Errorf("label %q shows a password", label)
			}
		})
	}
}

func TestEncodeRowsStaysInBudget(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	rows := []jobs.HistoryRow{{StepName: jobs.JobOutcomeStepName, Message: "The job failed."}}
	for i := 1; i <= 200; i++ {
		rows = append(rows, jobs.HistoryRow{StepID: i, StepName: "s", Output: big})
	}
	out := jobs.EncodeRows(rows, jobs.MaxRowsBytes)
	n := 0
	for _, r := range out {
		n += len(r) + 1
	}
	if n > jobs.MaxRowsBytes {
		t.Errorf("rows take %d bytes, budget %d", n, jobs.MaxRowsBytes)
	}
	if !strings.Contains(string(out[0]), jobs.JobOutcomeStepName) || !strings.Contains(string(out[1]), "[output truncated") {
		t.Errorf("first rows %s / %.200s", out[0], out[1])
	}
	if small := jobs.EncodeRows(rows[:3], 1<<20); len(small) != 3 || strings.Contains(string(small[1]), "truncated") {
		t.Error("rows within the budget were changed")
	}
}

func TestRunEvents(t *testing.T) {
	m := &runManager{server: "SQL01", token: "SQL01", log: slog.New(slog.DiscardHandler)}
	job := jobs.Job{JobID: "J1", Name: "nightly"}
	out := runner.Outcome{Status: jobs.RunFailed, Job: jobs.HistoryRow{Message: "The job failed."},
		Cause: errors.Join(runner.ErrSubsystemUnavailable)}
	for i := 1; i <= 30; i++ {
		out.Steps = append(out.Steps, jobs.HistoryRow{StepID: 1, StepName: "s", RunStatus: jobs.RunFailed, SQLMessageID: 50000})
	}
	msgs := m.runEvents(job, "R1", out)
	counts := map[string]int{}
	for _, msg := range msgs {
		var ev schemas.Event
		if err := schemas.Decode(msg.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		counts[ev.Source]++
		if msg.Subject != "msx.event.SQL01.16" || msg.MsgID != "event-"+ev.ID {
			t.Errorf("event %s on %s with id %s", ev.ID, msg.Subject, msg.MsgID)
		}
	}
	if counts["step"] != maxStepEvents || counts["job"] != 1 || counts["agent"] != 1 {
		t.Errorf("events by source %v, want %d step, 1 job, 1 agent", counts, maxStepEvents)
	}
}

func TestRunningErrorCrossesTheBus(t *testing.T) {
	m := &runManager{active: map[string]*activeRun{}}
	r, err := m.claim("J1", "nightly", "Schedule 1 (every minute)")
	if err != nil {
		t.Fatal(err)
	}
	defer m.release("J1", r)
	_, err = m.claim("J1", "nightly", "User sa")
	if !errors.Is(err, scheduler.ErrRunning) {
		t.Fatalf("second claim: %v, want scheduler.ErrRunning", err)
	}
	be := codeOf(err)
	want := "SQLServerAgent Error: Request to run job nightly (from User sa) refused because the job is already running from a request by Schedule 1 (every minute)."
	if be.Code != CodeJobRunning || be.Message != want {
		t.Errorf("bus error %d %q", be.Code, be.Message)
	}
	m.release("J1", r)
	if _, ok := m.running("J1"); ok {
		t.Error("released slot still running")
	}
}
