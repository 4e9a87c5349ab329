package mssqltest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/msx-project/msx/internal/mssqltest"
)

// clients returns a TCP and a net.Pipe client of one fake.
func clients(t *testing.T) (*mssqltest.Server, map[string]*sql.DB) {
	t.Helper()
	fake := mssqltest.Start(t)
	return fake, map[string]*sql.DB{"tcp": fake.Client(t), "pipe": fake.PipeClient(t)}
}

func TestPingAndVersion(t *testing.T) {
	fake, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			if err := db.PingContext(t.Context()); err != nil {
				t.Fatal(err)
			}
			var v, server string
			if err := db.QueryRowContext(t.Context(), "SELECT @@VERSION, @@SERVERNAME").Scan(&v, &server); err != nil {
				t.Fatal(err)
			}
			if v != fake.Version() || !strings.Contains(v, "fake") || !strings.Contains(v, "SQLite") {
				t.Errorf("@@VERSION = %q", v)
			}
			if server != "MSXFAKE" {
				t.Errorf("@@SERVERNAME = %q", server)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	_, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			tbl := "t_" + name
			mustExec(t, db, "CREATE TABLE dbo."+tbl+" (id INT PRIMARY KEY, name NVARCHAR(100), score FLOAT, data VARBINARY(MAX), flag BIT, at DATETIME2)")
			res, err := db.ExecContext(ctx, "INSERT INTO "+tbl+" (id, name, score, data, flag, at) VALUES (@p1, @p2, @p3, @p4, @p5, @p6)",
				1, "héllo wörld ✓ 𝄞", 2.5, []byte{0, 1, 2}, true, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Errorf("rows affected = %d", n)
			}
			mustExec(t, db, "INSERT INTO "+tbl+" (id, name) VALUES (2, N'two'); INSERT INTO "+tbl+" (id) VALUES (3)")
			var (
				id    int64
				s     sql.NullString
				score sql.NullFloat64
				data  []byte
				flag  sql.NullBool
				at    sql.NullTime
			)
			err = db.QueryRowContext(ctx, "SELECT id, name, score, data, flag, at FROM "+tbl+" WHERE id = @id", sql.Named("id", 1)).
				Scan(&id, &s, &score, &data, &flag, &at)
			if err != nil {
				t.Fatal(err)
			}
			if id != 1 || s.String != "héllo wörld ✓ 𝄞" || score.Float64 != 2.5 || string(data) != "\x00\x01\x02" || !flag.Bool ||
				!at.Time.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
				t.Errorf("got %v %v %v %v %v %v", id, s, score, data, flag, at)
			}
			err = db.QueryRowContext(ctx, "SELECT name, score, flag, at FROM "+tbl+" WHERE id = 3").Scan(&s, &score, &flag, &at)
			if err != nil || s.Valid || score.Valid || flag.Valid || at.Valid {
				t.Errorf("NULLs: %v %v %v %v %v", err, s, score, flag, at)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT TOP 1 count(*) FROM msdb.dbo."+tbl).Scan(&n); err != nil || n != 3 {
				t.Errorf("count = %d, %v", n, err)
			}
			var expr any
			if err := db.QueryRowContext(ctx, "SELECT @p1 + 1", 41).Scan(&expr); err != nil || expr != int64(42) {
				t.Errorf("expression = %#v, %v", expr, err)
			}
		})
	}
}

func TestLongAndMultiPacket(t *testing.T) {
	_, dbs := clients(t)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			long := strings.Repeat("ab✓", 400_000) // 1.2M characters
			var got string
			if err := db.QueryRowContext(ctx, "SELECT @p1", long).Scan(&got); err != nil || got != long {
				t.Fatalf("long string: len %d, %v", len(got), err)
			}
			rows, err := db.QueryContext(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x, 'row ' || x FROM c")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			count := 0
			for rows.Next() {
				var x int
				var s string
				if err := rows.Scan(&x, &s); err != nil {
					t.Fatal(err)
				}
				count++
				if x != count {
					t.Fatalf("row %d has x = %d", count, x)
				}
			}
			if err := rows.Err(); err != nil || count != 100000 {
				t.Fatalf("rows = %d, %v", count, err)
			}
		})
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// sqlErr returns the SQL Server error number of err, or 0.
func sqlErr(err error) int32 {
	var e mssql.Error
	if errors.As(err, &e) {
		return e.Number
	}
	return 0
}

var _ = context.Background

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
