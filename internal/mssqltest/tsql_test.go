package mssqltest_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/batch"
	"github.com/microsoft/go-mssqldb/msdsn"
	"github.com/msx-project/msx/internal/mssqltest"
)

func TestErrors(t *testing.T) {
	_, dbs := clients(t)
	db := dbs["tcp"]
	mustExec(t, db, "CREATE TABLE u (id INT PRIMARY KEY, name NVARCHAR(10) NOT NULL)")
	mustExec(t, db, "INSERT INTO u VALUES (1, 'a')")
	tests := []struct {
		name   string
		query  string
		number int32
		class  uint8
		msg    string
	}{
		{"raiserror", "RAISERROR('bad %s %d', 16, 3, 'thing', 42)", 50000, 16, "bad thing 42"},
		{"throw", "THROW 50001, N'thrown', 1", 50001, 16, "thrown"},
		{"throw range", "THROW 5, 'x', 1", 35100, 16, ""},
		{"missing table", "SELECT * FROM nope", 208, 16, "Invalid object name 'nope'."},
		{"missing column", "SELECT nope FROM u", 207, 16, ""},
		{"duplicate key", "INSERT INTO u VALUES (1, 'b')", 2627, 16, ""},
		{"not null", "INSERT INTO u (id) VALUES (9)", 515, 16, ""},
		{"syntax", "SELEC 1", 102, 16, ""},
		{"undeclared variable", "SELECT @x", 137, 16, ""},
		{"unknown database", "USE nowhere", 911, 16, ""},
		{"commit without begin", "COMMIT", 3902, 16, ""},
		{"unknown procedure", "EXEC dbo.sp_nothing @a = 1", 2812, 16, ""},
		{"error after rows", "SELECT 1; RAISERROR('late', 16, 1)", 50000, 16, "late"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.QueryContext(t.Context(), tt.query)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				if cerr := rows.Close(); err == nil {
					err = cerr
				}
			}
			var e mssql.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an mssql.Error", err, err)
			}
			if e.Number != tt.number || e.Class != tt.class || tt.msg != "" && e.Message != tt.msg {
				t.Errorf("got %d class %d %q, want %d class %d %q", e.Number, e.Class, e.Message, tt.number, tt.class, tt.msg)
			}
		})
	}
	// The connection stays usable after errors.
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// messageLog collects the PRINT and informational RAISERROR messages the
// driver logs with log=2 (msdsn.LogMessages).
type messageLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *messageLog) Log(_ context.Context, c msdsn.Log, msg string) {
	if c == msdsn.LogMessages {
		l.mu.Lock()
		l.msgs = append(l.msgs, msg)
		l.mu.Unlock()
	}
}

func TestPrintMessages(t *testing.T) {
	fake := mssqltest.Start(t)
	logs := &messageLog{}
	mssql.SetContextLogger(logs)
	t.Cleanup(func() { mssql.SetContextLogger(&messageLog{}) })
	db, err := sql.Open("sqlserver", fake.DSN()+"&log=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got int
	if err := db.QueryRowContext(t.Context(), "PRINT 'hello'; RAISERROR('note %d', 10, 1, 7); SELECT 5").Scan(&got); err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if got != 5 || !strings.Contains(strings.Join(logs.msgs, "|"), "hello|note 7") {
		t.Errorf("got %d, messages %q", got, logs.msgs)
	}
}

func TestTransactions(t *testing.T) {
	fake, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			tbl := "tx_" + name
			mustExec(t, db, "CREATE TABLE "+tbl+" (id INT)")
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES (@p1)", 1); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT @@TRANCOUNT").Scan(&n); err != nil || n != 1 {
				t.Fatalf("@@TRANCOUNT = %d, %v", n, err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			tx, err = db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES (2)"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			// T-SQL transaction statements in a batch.
			mustExec(t, db, "BEGIN TRAN\nINSERT INTO "+tbl+" VALUES (3)\nROLLBACK")
			mustExec(t, db, "BEGIN TRANSACTION; INSERT INTO "+tbl+" VALUES (4); COMMIT TRANSACTION")
			var ids string
			if err := fake.DB().QueryRowContext(ctx, "SELECT group_concat(id) FROM "+tbl).Scan(&ids); err != nil || ids != "2,4" {
				t.Errorf("ids = %q, %v", ids, err)
			}
		})
	}
}

func TestWaitforCancel(t *testing.T) {
	_, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := db.ExecContext(ctx, "WAITFOR DELAY '00:00:05'")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("cancel took %v", d)
			}
			mustExec(t, db, "WAITFOR DELAY '00:00:00.01'")
			var v int
			if err := db.QueryRowContext(t.Context(), "SELECT 7").Scan(&v); err != nil || v != 7 {
				t.Fatalf("after cancel: %d, %v", v, err)
			}
		})
	}
}

func TestLoginFailure(t *testing.T) {
	fake := mssqltest.Start(t, mssqltest.Login("msx", "right"))
	db := fake.Client(t)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("good login: %v", err)
	}
	bad := strings.Replace(fake.DSN(), "right", "wrong", 1)
	db2, err := sql.Open("sqlserver", bad)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	err = db2.PingContext(t.Context())
	if n := sqlErr(err); n != 18456 {
		t.Fatalf("err = %v (number %d), want 18456", err, n)
	}
}

func TestUseAndBatchSplit(t *testing.T) {
	fake, dbs := clients(t)
	db := dbs["tcp"]
	script := `CREATE TABLE s (id INT, note NVARCHAR(50))
GO
INSERT INTO s VALUES (1, N'it''s one') -- comment; with semicolon
INSERT INTO s VALUES (2, 'two')
GO
USE msdb
SELECT DB_NAME()
GO
`
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var dbName string
	for i, b := range batch.Split(script, "GO") {
		if i == 1 {
			// Two INSERTs on separate lines without semicolons: not supported.
			if _, err := conn.ExecContext(t.Context(), b); sqlErr(err) == 0 {
				t.Fatalf("unseparated statements: %v", err)
			}
			b = strings.Replace(b, "-- comment; with semicolon\n", ";", 1)
		}
		if i == 2 {
			if err := conn.QueryRowContext(t.Context(), b).Scan(&dbName); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := conn.ExecContext(t.Context(), b); err != nil {
			t.Fatalf("batch %d %q: %v", i, b, err)
		}
	}
	if dbName != "msdb" {
		t.Errorf("DB_NAME() = %q", dbName)
	}
	var note string
	if err := fake.DB().QueryRow("SELECT note FROM s WHERE id = 1").Scan(&note); err != nil || note != "it's one" {
		t.Errorf("note = %q, %v", note, err)
	}
}

func TestExecForms(t *testing.T) {
	fake := mssqltest.Start(t)
	db := fake.Client(t)
	var v int
	if err := db.QueryRowContext(t.Context(), "EXEC ('SELECT 6 * 7')").Scan(&v); err != nil || v != 42 {
		t.Fatalf("EXEC ('sql') = %d, %v", v, err)
	}
	// Positional arguments bind in declaration order; a bare word is a string.
	mustExec(t, db, "EXECUTE msdb.dbo.sp_add_job positional, 0")
	var enabled int
	if err := fake.DB().QueryRow("SELECT enabled FROM sysjobs WHERE name = 'positional'").Scan(&enabled); err != nil || enabled != 0 {
		t.Errorf("enabled = %d, %v", enabled, err)
	}
	if _, err := db.ExecContext(t.Context(), "DECLARE @x INT"); sqlErr(err) != 50000 {
		t.Errorf("DECLARE: %v", err)
	}
}
