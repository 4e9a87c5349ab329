package target

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the "sqlserver" database/sql driver
	_ "modernc.org/sqlite"              // the "sqlite" database/sql driver

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
)

// localDBFile is the embedded SQLite database T-SQL steps run on when no SQL Server is
// configured. It is not the agent's own database (target.db).
const localDBFile = "local.db"

// sqlServerScheme is the scheme of go-mssqldb's URL connection strings.
const sqlServerScheme = "sqlserver"

// checkDSN validates Config.SQLDSN and returns the heartbeat label of the local database.
func checkDSN(dsn string) (string, error) {
	if dsn == "" {
		return "SQLite (embedded)", nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != sqlServerScheme || u.Host == "" {
		return "", fmt.Errorf("%w: the SQL Server connection string must look like sqlserver://user:password@host:1433/INSTANCE?database=master", ErrConfig)
	}
	return "SQL Server (" + redactDSN(u) + ")", nil
}

// redactDSN returns the connection string without its password and query parameters (which
// may hold one), for logs and heartbeats.
func redactDSN(u *url.URL) string {
	r := *u
	if r.User != nil {
		r.User = url.User(r.User.Username())
	}
	r.RawQuery, r.Fragment = "", ""
	return strings.TrimPrefix(r.String(), sqlServerScheme+"://")
}

// openLocalDB opens the database T-SQL steps run on: the SQL Server of cfg.SQLDSN, or the
// embedded SQLite database in the data directory. Opening does not connect to SQL Server.
func openLocalDB(cfg *Config) (*sql.DB, error) {
	if cfg.SQLDSN != "" {
		db, err := sql.Open("sqlserver", cfg.SQLDSN)
		if err != nil {
			return nil, fmt.Errorf("open SQL Server %s: %w", cfg.Database, err)
		}
		return db, nil
	}
	path := filepath.Join(cfg.DataDir, localDBFile)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("open embedded database %s: %w", path, err)
	}
	return db, nil
}

// pingLocalDB checks that the local database answers; a SQL Server that does not is reported
// but does not stop the agent (its T-SQL steps fail until it is back).
func pingLocalDB(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// executors returns the step executors of the agent: T-SQL on db, CmdExec in cfg.WorkDir,
// PowerShell through pwsh.
func executors(cfg *Config, db *sql.DB) (map[string]runner.Executor, error) {
	if err := os.MkdirAll(cfg.WorkDir, 0o750); err != nil {
		return nil, fmt.Errorf("create CmdExec working directory: %w", err)
	}
	return map[string]runner.Executor{
		jobs.SubsystemTSQL:       &runner.SQLExecutor{DB: db, UseDatabase: cfg.SQLDSN != ""},
		jobs.SubsystemCmdExec:    &runner.CmdExecExecutor{Dir: cfg.WorkDir, KeepChildren: cfg.KeepStepChildren},
		jobs.SubsystemPowerShell: &runner.PowerShellExecutor{KeepChildren: cfg.KeepStepChildren},
	}, nil
}
