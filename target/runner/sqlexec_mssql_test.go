package runner

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the "sqlserver" driver

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestSQLExecutorMSSQL runs T-SQL steps through the real go-mssqldb driver: against the fake TDS
// server on every run, and against a real SQL Server when MSSQL_DSN is set. The scripts are
// written so that both give the same results (statements separated by semicolons, no DECLARE).
func TestSQLExecutorMSSQL(t *testing.T) {
	t.Run("fake", func(t *testing.T) {
		fake := mssqltest.Start(t)
		testSQLExecutorMSSQL(t, fake.Client(t))
	})
	t.Run("sqlserver", func(t *testing.T) {
		dsn := os.Getenv("MSSQL_DSN")
		if dsn == "" {
			t.Skip("MSSQL_DSN not set: to run against SQL Server 2022, see README (SQL Server)")
		}
		db, err := sql.Open("sqlserver", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testSQLExecutorMSSQL(t, db)
	})
}

func testSQLExecutorMSSQL(t *testing.T, db *sql.DB) {
	tests := []struct {
		name     string
		database string
		command  string
		output   string // exact output; "" with wantErr means no output
		contains string // output contains, instead of output
		msgID    int    // sql_message_id of the failure; 0: the step succeeds
		severity int
		errText  string // the error contains
	}{
		{
			name:    "batches split on GO share a connection",
			command: "CREATE TABLE [#msx_t] (id INT, name NVARCHAR(20));\nGO\nINSERT INTO [#msx_t] VALUES (1, N'a');\ngo\nINSERT INTO [#msx_t] VALUES (2, NULL);\nGO 2\nSELECT id, name FROM [#msx_t] ORDER BY id;\nGO\n",
			output:  "id name\n-- ----\n1 a\n2 NULL\n2 NULL\n\n(3 rows affected)\n",
		},
		{
			name:    "PRINT and informational RAISERROR are kept in order with the rows",
			command: "PRINT N'starting';\nSELECT 1 AS one;\nRAISERROR('progress %d', 10, 1, 5);",
			output:  "starting\none\n---\n1\n\n(1 row affected)\nprogress 5\n",
		},
		{
			name:    "output rows of several result sets",
			command: "SELECT N'first' AS word;\nSELECT 42 AS answer;",
			output:  "word\n----\nfirst\n\n(1 row affected)\nanswer\n------\n42\n\n(1 row affected)\n",
		},
		{
			name:     "RAISERROR fails the step after the output of earlier batches",
			command:  "SELECT 1 AS one;\nGO\nRAISERROR('boom', 16, 1);\nGO\nSELECT 2 AS two;",
			output:   "one\n---\n1\n\n(1 row affected)\n",
			msgID:    50000,
			severity: 16,
			errText:  "batch 2 of 3: mssql: boom",
		},
		{
			name:     "THROW",
			command:  "THROW 50001, N'thrown by msx', 1;",
			msgID:    50001,
			severity: 16,
			errText:  "thrown by msx",
		},
		{
			name:     "syntax error",
			command:  "SELECT (1;",
			msgID:    102,
			severity: 15,
			errText:  "Incorrect syntax",
		},
		{
			name:     "USE of the step's database",
			database: "msdb",
			command:  "SELECT DB_NAME() AS db;",
			output:   "db\n--\nmsdb\n\n(1 row affected)\n",
		},
		{
			name:     "unknown database",
			database: "msx_no_such_db",
			command:  "SELECT 1;",
			msgID:    911,
			severity: 16,
			errText:  "use database msx_no_such_db",
		},
	}
	e := &SQLExecutor{DB: db, UseDatabase: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sqlRequest(tt.command)
			if tt.database != "" {
				req.Database = tt.database
			}
			res := e.Execute(t.Context(), req)
			if tt.msgID == 0 && res.Err != nil {
				t.Fatalf("error = %v, want none", res.Err)
			}
			if tt.msgID != 0 {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.errText) {
					t.Errorf("error = %v, want one containing %q", res.Err, tt.errText)
				}
				// SQL Server reports syntax errors at severity 15; the fake reports all its
				// errors at 16.
				if res.SQLMessageID != tt.msgID || (res.SQLSeverity != tt.severity && !(tt.msgID == 102 && res.SQLSeverity == 16)) {
					t.Errorf("sql_message_id, sql_severity = %d, %d; want %d, %d", res.SQLMessageID, res.SQLSeverity, tt.msgID, tt.severity)
				}
			}
			if res.Output != tt.output {
				t.Errorf("output = %q, want %q", res.Output, tt.output)
			}
		})
	}

	t.Run("history row of a RAISERROR step", func(t *testing.T) {
		r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemTSQL: e}})
		s := steps(1)
		s[0].Command = "RAISERROR('boom', 16, 1);"
		out := r.Run(t.Context(), jobs.Job{Name: "raiserror", Steps: s}, RunInfo{})
		if out.Status != jobs.RunFailed || len(out.Steps) != 1 {
			t.Fatalf("outcome = %+v", out)
		}
		row := out.Steps[0]
		if row.RunStatus != jobs.RunFailed || row.SQLMessageID != 50000 || row.SQLSeverity != 16 || !strings.Contains(row.Message, "boom") {
			t.Errorf("row = %+v", row)
		}
	})

	// WAITFOR ends with the step: the driver sends ATTENTION when the context ends.
	const wait = "WAITFOR DELAY '00:00:10';"
	t.Run("WAITFOR ended by the step timeout", func(t *testing.T) {
		r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemTSQL: e}})
		s := steps(1)
		s[0].Command, s[0].Timeout = wait, jobs.Duration(300*time.Millisecond)
		start := time.Now()
		out := r.Run(t.Context(), jobs.Job{Name: "waitfor timeout", Steps: s}, RunInfo{})
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the step ran %v after its timeout of 300ms", d)
		}
		if out.Status != jobs.RunFailed || !errors.Is(out.Cause, ErrStepTimeout) {
			t.Errorf("status = %v, cause = %v; want failed by timeout", out.Status, out.Cause)
		}
	})
	t.Run("WAITFOR ended by cancelling the run", func(t *testing.T) {
		r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemTSQL: e}})
		s := steps(1)
		s[0].Command = wait
		ctx, cancel := context.WithCancelCause(t.Context())
		timer := time.AfterFunc(300*time.Millisecond, func() { cancel(&StopError{User: "sa"}) })
		defer timer.Stop()
		start := time.Now()
		out := r.Run(ctx, jobs.Job{Name: "waitfor stop", Steps: s}, RunInfo{})
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the step ran %v after it was stopped", d)
		}
		if out.Status != jobs.RunCanceled || !errors.Is(out.Cause, ErrStopped) {
			t.Errorf("status = %v, cause = %v; want canceled by the operator", out.Status, out.Cause)
		}
		// The connection went back to the pool in a usable state.
		if res := e.Execute(t.Context(), sqlRequest("SELECT 1 AS one;")); res.Err != nil {
			t.Errorf("next step: %v", res.Err)
		}
	})
}
