package mssqltest_test

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/internal/mssqltest"
)

func TestReadErrorLog(t *testing.T) {
	fake := mssqltest.Start(t)
	db := fake.Client(t)
	if _, err := fake.DB().Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES
		('2024-05-01 10:00:00.000', 'Server', 'SQL Server is starting.'),
		('2024-05-01 11:00:00.500', 'spid52', 'Error: 9002, Severity: 17, State: 2.'),
		('2024-05-01 11:00:00.500', 'spid52', 'The transaction log is full.'),
		('2024-05-01 12:00:00.000', 'Backup', 'Database backed up.')`); err != nil {
		t.Fatal(err)
	}
	if err := fake.LogError(823, 24, 2, "I/O error"); err != nil {
		t.Fatal(err)
	}
	read := func(q string, args ...any) []string {
		t.Helper()
		rows, err := db.QueryContext(t.Context(), q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var d time.Time
			var p, text string
			if err := rows.Scan(&d, &p, &text); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s %s", d.Format("15:04:05.000"), p, text))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	start := mssql.DateTime1(time.Date(2024, 5, 1, 11, 0, 0, 500e6, time.UTC))
	end := mssql.DateTime1(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	for _, tt := range []struct {
		name string
		q    string
		args []any
		want []string
	}{
		{"from a start time, inclusive", "EXEC master.dbo.xp_readerrorlog 0, 1, NULL, NULL, @start, @end, N'asc'",
			[]any{sql.Named("start", start), sql.Named("end", end)},
			[]string{"11:00:00.500 spid52 Error: 9002, Severity: 17, State: 2.", "11:00:00.500 spid52 The transaction log is full.", "12:00:00.000 Backup Database backed up."}},
		{"descending, searched", "EXEC xp_readerrorlog 0, 1, N'BACKED', NULL, NULL, NULL, N'desc'", nil,
			[]string{"12:00:00.000 Backup Database backed up."}},
		{"string start time", "EXEC sys.xp_readerrorlog 0, 1, N'log', N'full', '2024-05-01 11:00', NULL, N'asc'", nil,
			[]string{"11:00:00.500 spid52 The transaction log is full."}},
		{"archive log is empty", "EXEC master.dbo.xp_readerrorlog 1, 1", nil, nil},
		{"Agent log is empty", "EXEC master.dbo.sp_readerrorlog 0, 2", nil, nil},
		{"sp_readerrorlog searched", "EXEC sp_readerrorlog 0, 1, N'starting'", nil,
			[]string{"10:00:00.000 Server SQL Server is starting."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(tt.q, tt.args...); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// LogError wrote its two lines with one LogDate.
	if got := read("EXEC sp_readerrorlog 0, 1, N'823'"); len(got) != 1 {
		t.Errorf("LogError header: %q", got)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(DISTINCT LogDate) FROM errorlog WHERE Text IN ('I/O error', 'Error: 823, Severity: 24, State: 2.')").Scan(&n); err != nil || n != 1 {
		t.Errorf("LogError dates: %d, %v", n, err)
	}

	if err := fake.AddAlert("full log", 9002, 0, false); err != nil {
		t.Fatal(err)
	}
	var enabled int
	if err := db.QueryRowContext(t.Context(), "SELECT enabled FROM msdb.dbo.sysalerts WHERE message_id = 9002").Scan(&enabled); err != nil || enabled != 0 {
		t.Errorf("alert: enabled %d, %v", enabled, err)
	}
}
