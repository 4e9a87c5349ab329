package migrate_test

import (
	"errors"
	"os"
	"testing"

	"github.com/msx-project/msx/cmd/msx/internal/migrate"
)

// TestRealSQLServer reads a real SQL Server's msdb with the queries the migration uses, when
// MSSQL_DSN names one (sqlserver://USER:PASSWORD@HOST?database=msdb; skipped when unset): its
// local jobs always, and its multiserver jobs when it is an MSX master (otherwise ErrNotMaster).
// Each job read must be convertible: a valid msx job, or one Validate explains.
func TestRealSQLServer(t *testing.T) {
	dsn := os.Getenv("MSSQL_DSN")
	if dsn == "" {
		t.Skip("MSSQL_DSN is not set: no real SQL Server to read")
	}
	db, err := migrate.Open(t.Context(), dsn, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	local, err := migrate.Read(t.Context(), db, migrate.Scope{Local: true})
	if err != nil {
		t.Fatalf("read local jobs: %v", err)
	}
	t.Logf("%s: %d local job(s), %d left out", local.Server, len(local.Jobs), len(local.Skipped))
	for _, sj := range local.Jobs {
		if sj.Job.Name == "" || len(sj.Job.Steps) == 0 && len(sj.Notes) == 0 {
			t.Logf("job %q has no step", sj.Job.Name)
		}
	}
	src, err := migrate.Read(t.Context(), db, migrate.Scope{})
	switch {
	case errors.Is(err, migrate.ErrNotMaster):
		t.Logf("not an MSX master: %v", err)
	case err != nil:
		t.Fatalf("read as a master: %v", err)
	default:
		t.Logf("MSX master %s: %d multiserver job(s), %d target(s), %d group(s), %d operator(s), %d alert(s), history %+v",
			src.Server, len(src.Jobs), len(src.Targets), len(src.Groups), len(src.Operators), len(src.Alerts), src.History)
		if len(src.Targets) == 0 {
			t.Error("a master without targets was not reported as ErrNotMaster")
		}
	}
}
