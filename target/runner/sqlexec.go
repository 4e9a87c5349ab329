package runner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/batch"
)

// SQLExecutor runs TSQL steps through database/sql: it splits the command into batches on GO
// lines (as sqlcmd and SQL Server Agent do, "GO 3" included) and runs them in order on one
// connection, so that temporary tables and SET options last from batch to batch. Result sets
// are written to the output as text. The first batch that fails ends the step (sqlcmd -b);
// its SQL Server error number and severity go to sql_message_id and sql_severity.
//
// On SQL Server, PRINT and RAISERROR messages below severity 11 (how maintenance scripts such as
// Ola Hallengren's report progress) are written to the output in order with the result sets, as
// SQL Server Agent keeps them in the step's history.
type SQLExecutor struct {
	// DB is the pool steps run on when Open is nil. With SQLite (modernc.org/sqlite, driver
	// "sqlite") the step's database name is ignored.
	DB *sql.DB
	// Open, when set, returns the pool for a step's database (default "master"). It may
	// return the same pool for every database.
	Open func(ctx context.Context, database string) (*sql.DB, error)
	// UseDatabase runs "USE [database]" on the connection before the batches, for SQL Server
	// pools that are not opened on the step's database.
	UseDatabase bool
}

var _ Executor = (*SQLExecutor)(nil)

// sqlError is what SQL Server errors tell about themselves; mssql.Error of
// github.com/microsoft/go-mssqldb satisfies it.
type sqlError interface {
	error
	SQLErrorNumber() int32
	SQLErrorClass() uint8
}

// batchSeparator is the batch separator of sqlcmd and SQL Server Agent.
const batchSeparator = "GO"

// Execute runs req.Command in req.Database. Result.Err wraps ErrNoDatabase when the executor
// has no database, and otherwise the driver's error (an mssql.Error) with the failing batch.
func (e *SQLExecutor) Execute(ctx context.Context, req Request) Result {
	db := e.DB
	if e.Open != nil {
		var err error
		if db, err = e.Open(ctx, req.Database); err != nil {
			return sqlResult(fmt.Errorf("open database %s: %w", req.Database, err), "")
		}
	}
	if db == nil {
		return Result{Err: ErrNoDatabase, NonRetryable: true}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return sqlResult(fmt.Errorf("connect: %w", err), "")
	}
	defer conn.Close()

	out := NewCapture(req.OutputLimit)
	if e.UseDatabase {
		if _, err := conn.ExecContext(ctx, "USE "+quoteName(req.Database)); err != nil {
			return sqlResult(fmt.Errorf("use database %s: %w", req.Database, err), "")
		}
	}
	run := runBatch
	if _, ok := db.Driver().(*mssql.Driver); ok {
		run = runBatchMessages
	}
	batches := batch.Split(req.Command, batchSeparator)
	for i, b := range batches {
		if strings.TrimSpace(b) == "" {
			continue
		}
		if err := run(ctx, conn, b, liveWriter(out, req.Live)); err != nil {
			if len(batches) > 1 {
				err = fmt.Errorf("batch %d of %d: %w", i+1, len(batches), err)
			}
			return sqlResult(err, out.String())
		}
	}
	return Result{Output: out.String()}
}

// sqlResult is the result of a failed step: err, and its SQL Server number and severity when it
// has them.
func sqlResult(err error, output string) Result {
	res := Result{Err: err, Output: output}
	if se, ok := errors.AsType[sqlError](err); ok {
		res.SQLMessageID, res.SQLSeverity = int(se.SQLErrorNumber()), int(se.SQLErrorClass())
	}
	return res
}

// runBatch runs one batch and writes its result sets to out.
func runBatch(ctx context.Context, conn *sql.Conn, query string, out io.Writer) error {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		if err := writeRows(rows, out); err != nil {
			return err
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// runBatchMessages runs one batch on SQL Server through the driver's message queue, so that
// informational messages (PRINT, RAISERROR below severity 11) are written to out in order with
// the result sets. The first error message is returned.
func runBatchMessages(ctx context.Context, conn *sql.Conn, query string, out io.Writer) error {
	msgs := &sqlexp.ReturnMessage{}
	rows, err := conn.QueryContext(ctx, query, msgs)
	if err != nil {
		return err
	}
	defer rows.Close()
	var first error
	for active := true; active; {
		switch m := msgs.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			fmt.Fprintln(out, m.Message.String())
		case sqlexp.MsgNext:
			if err := writeRows(rows, out); err != nil && first == nil {
				first = err
			}
		case sqlexp.MsgNextResultSet: // also what a cancelled context gives
			active = rows.NextResultSet()
		case sqlexp.MsgError:
			if first == nil {
				first = m.Error
			}
		}
	}
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// writeRows writes the current result set of rows as text: a header of column names, a line of
// dashes, one line per row with values separated by spaces, and "(N rows affected)". A result
// set without columns writes nothing.
func writeRows(rows *sql.Rows, out io.Writer) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	fmt.Fprintln(out, strings.Join(cols, " "))
	dashes := make([]string, len(cols))
	for i, c := range cols {
		dashes[i] = strings.Repeat("-", max(len(c), 1))
	}
	fmt.Fprintln(out, strings.Join(dashes, " "))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	line := make([]string, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			line[i] = formatValue(v)
		}
		fmt.Fprintln(out, strings.Join(line, " "))
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 1 {
		fmt.Fprint(out, "\n(1 row affected)\n")
	} else {
		fmt.Fprintf(out, "\n(%d rows affected)\n", n)
	}
	return nil
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	case time.Time:
		return v.Format("2006-01-02 15:04:05.000")
	}
	return fmt.Sprint(v)
}

// quoteName quotes a name as T-SQL's QUOTENAME does.
func quoteName(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }
