package runner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/msx-project/msx/schemas/jobs"
	_ "modernc.org/sqlite"
)

// openSQLite opens a SQLite database in a temporary directory.
func openSQLite(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", filepath.Join(tb.TempDir(), "msx.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func sqlRequest(command string) Request {
	return Request{
		Step:        jobs.Step{StepID: 1, Command: command},
		Command:     command,
		Database:    "master",
		OutputLimit: DefaultOutputLimit,
	}
}

func TestSQLExecutor(t *testing.T) {
	tests := []struct {
		name    string
		command string
		output  string
		errText string
	}{
		{
			name: "batches with GO",
			command: "CREATE TABLE t (id INTEGER, name TEXT);\nGO\n" +
				"INSERT INTO t VALUES (1, 'a'), (2, NULL);\ngo\n" +
				"SELECT id, name FROM t ORDER BY id;\nGO\n",
			output: "id name\n-- ----\n1 a\n2 NULL\n\n(2 rows affected)\n",
		},
		{
			name:    "GO count repeats a batch",
			command: "CREATE TABLE c (n INTEGER);\nGO\nINSERT INTO c VALUES (1);\nGO 3\nSELECT count(*) AS n FROM c;",
			output:  "n\n-\n3\n\n(1 row affected)\n",
		},
		{
			name:    "batches share a connection",
			command: "CREATE TEMP TABLE tmp (x INTEGER);\nGO\nINSERT INTO tmp VALUES (7);\nGO\nSELECT x FROM tmp;",
			output:  "x\n-\n7\n\n(1 row affected)\n",
		},
		{
			name:    "failing statement stops the script",
			command: "SELECT 1 AS one;\nGO\nSELECT * FROM missing_table;\nGO\nSELECT 2 AS two;",
			output:  "one\n---\n1\n\n(1 row affected)\n",
			errText: "batch 2 of 3: ",
		},
		{
			name:    "empty script",
			command: "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &SQLExecutor{DB: openSQLite(t)}
			res := e.Execute(t.Context(), sqlRequest(tt.command))
			if res.Output != tt.output {
				t.Errorf("output = %q, want %q", res.Output, tt.output)
			}
			switch {
			case tt.errText == "" && res.Err != nil:
				t.Errorf("error = %v, want none", res.Err)
			case tt.errText != "" && (res.Err == nil || !strings.HasPrefix(res.Err.Error(), tt.errText)):
				t.Errorf("error = %v, want one starting %q", res.Err, tt.errText)
			}
		})
	}
}

func TestSQLExecutorOpen(t *testing.T) {
	db := openSQLite(t)
	var asked []string
	e := &SQLExecutor{Open: func(_ context.Context, database string) (*sql.DB, error) {
		asked = append(asked, database)
		if database == "missing" {
			return nil, errors.New("no such database")
		}
		return db, nil
	}}
	if res := e.Execute(t.Context(), sqlRequest("SELECT 1")); res.Err != nil {
		t.Fatalf("master: %v", res.Err)
	}
	req := sqlRequest("SELECT 1")
	req.Database = "missing"
	if res := e.Execute(t.Context(), req); res.Err == nil || !strings.Contains(res.Err.Error(), "open database missing") {
		t.Errorf("missing database: error = %v", res.Err)
	}
	if fmt.Sprint(asked) != "[master missing]" {
		t.Errorf("Open called with %v", asked)
	}
	if res := (&SQLExecutor{}).Execute(t.Context(), sqlRequest("SELECT 1")); !errors.Is(res.Err, ErrNoDatabase) || !res.NonRetryable {
		t.Errorf("no database: result = %+v", res)
	}
}

func TestSQLErrorNumbers(t *testing.T) {
	err := fmt.Errorf("batch 1 of 1: %w", mssql.Error{Number: 50000, Class: 16, Message: "boom"})
	res := sqlResult(err, "")
	if res.SQLMessageID != 50000 || res.SQLSeverity != 16 {
		t.Errorf("sql_message_id, sql_severity = %d, %d; want 50000, 16", res.SQLMessageID, res.SQLSeverity)
	}
	if res := sqlResult(errors.New("plain"), ""); res.SQLMessageID != 0 || res.SQLSeverity != 0 {
		t.Errorf("plain error: %d, %d", res.SQLMessageID, res.SQLSeverity)
	}
}

func TestRunTSQLWithSQLite(t *testing.T) {
	db := openSQLite(t)
	s := steps(3)
	s[0].Command = "CREATE TABLE runs (job TEXT, step INTEGER);\nGO\nINSERT INTO runs VALUES ('$(ESCAPE_SQUOTE(JOBNAME))', $(STEPID));"
	s[0].OnSuccessAction = jobs.ActionNextStep
	s[1].Command = "SELECT job, step FROM runs;\nGO\nSELECT * FROM nope;"
	s[1].OnFailAction = jobs.ActionNextStep
	s[2].Command, s[2].DatabaseName = "SELECT 'done' AS status;", "master"
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemTSQL: &SQLExecutor{DB: db}}})
	out := r.Run(t.Context(), jobs.Job{Name: "It's", Steps: s}, RunInfo{})
	if want := []row{{1, ok}, {2, fail}, {3, ok}}; !equalRows(rowsOf(out.Steps), want) {
		t.Fatalf("rows = %v, want %v (%+v)", rowsOf(out.Steps), want, out.Steps)
	}
	if got := out.Steps[1].Output; got != "job step\n--- ----\nIt's 1\n\n(1 row affected)\n" {
		t.Errorf("step 2 output = %q", got)
	}
	if msg := out.Steps[1].Message; !strings.Contains(msg, "no such table: nope") || !strings.HasSuffix(msg, "The step failed.") {
		t.Errorf("step 2 message = %q", msg)
	}
	if out.Status != ok {
		t.Errorf("status = %v, want succeeded", out.Status)
	}
}

func TestSQLExecutorUseDatabase(t *testing.T) {
	if got := quoteName("a]b"); got != "[a]]b]" {
		t.Errorf("quoteName = %q", got)
	}
	// SQLite has no USE: the error shows the executor issued it before the script.
	e := &SQLExecutor{DB: openSQLite(t), UseDatabase: true}
	res := e.Execute(t.Context(), sqlRequest("SELECT 1"))
	if res.Err == nil || !strings.HasPrefix(res.Err.Error(), "use database master: ") {
		t.Errorf("error = %v, want a failed USE", res.Err)
	}
}
