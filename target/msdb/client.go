package msdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Category is the SQL Server Agent job category of every job msx writes into msdb, the one
// SQL Server Agent itself gives the jobs a target downloads from its MSX.
const Category = "Jobs from MSX"

// defaultTimeout bounds a call without a deadline.
const defaultTimeout = 30 * time.Second

// Config configures a Client. The zero value of each field is its default.
type Config struct {
	// DB is the local SQL Server, opened with the "sqlserver" driver (go-mssqldb). Required.
	DB *sql.DB
	// Server is the target's canonical name, written on the history rows it reports.
	Server string
	// Location is the target's time zone, in which msdb stores run dates and times; default
	// time.Local.
	Location *time.Location
	// PollInterval is how often the harvester reads sysjobhistory; default 10 s.
	PollInterval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Client writes jobs into msdb, starts and stops them, and harvests their history.
type Client struct {
	db       *sql.DB
	server   string
	loc      *time.Location
	interval time.Duration
	log      *slog.Logger
	category atomic.Bool // Category is known to exist
}

// New returns a Client on cfg.DB. It does not connect. It returns ErrNoDB without a DB.
func New(cfg Config) (*Client, error) {
	if cfg.DB == nil {
		return nil, ErrNoDB
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{db: cfg.DB, server: cfg.Server, loc: cfg.Location, interval: cfg.PollInterval,
		log: cfg.Logger.With("component", "target.msdb")}, nil
}

func withDefault(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// proc runs msdb.dbo.<name> by RPC with named arguments and fails on an error or a non-zero
// return status.
func proc(ctx context.Context, x execer, name string, args ...any) error {
	var rs mssql.ReturnStatus
	if _, err := x.ExecContext(ctx, "msdb.dbo."+name, append(args, &rs)...); err != nil {
		return err
	}
	if rs != 0 {
		return &schemas.Error{Code: CodeNoReturnStatus, Message: fmt.Sprintf("msdb.dbo.%s returned %d", name, rs)}
	}
	return nil
}

// jobID returns id in SQL Server's text form, or a CodeBadJobID error.
func jobID(id string) (string, error) {
	var u mssql.UniqueIdentifier
	if err := u.Scan(id); err != nil || id == "" {
		return "", &schemas.Error{Code: CodeBadJobID, Message: fmt.Sprintf(
			"job id %q is not a uniqueidentifier, which SQL Server Agent requires", id)}
	}
	return u.String(), nil
}

// Apply writes job into msdb, replacing the job with the same job_id if there is one (its
// history is kept). Everything happens in one transaction: on error msdb is unchanged. It
// returns a *schemas.Error: CodeNotExpressible for what SQL Server Agent cannot run,
// CodeBadJobID, or SQL Server's error number (14262 for an owner, operator or proxy that does
// not exist on this server, ...).
func (c *Client) Apply(ctx context.Context, job jobs.Job) error {
	id, err := jobID(job.JobID)
	if err != nil {
		return err
	}
	if err := c.expressible(job); err != nil {
		return err
	}
	ctx, cancel := withDefault(ctx)
	defer cancel()
	if err := c.ensureCategory(ctx); err != nil {
		return err
	}
	what := fmt.Sprintf("write job '%s' into msdb", job.Name)
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return busError(what, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM msdb.dbo.sysjobs WHERE job_id = @p1", id).Scan(&n); err != nil {
		return busError(what, err)
	}
	if n > 0 {
		// Delete and add again rather than patch: the steps and schedules in msdb are then
		// exactly the snapshot's. History stays for the harvester.
		if err := proc(ctx, tx, "sp_delete_job", sql.Named("job_id", id), sql.Named("delete_history", 0),
			sql.Named("delete_unused_schedule", 1)); err != nil {
			return busError(what+": sp_delete_job", err)
		}
	}
	if err := proc(ctx, tx, "sp_add_job", jobArgs(id, job)...); err != nil {
		return busError(what+": sp_add_job", err)
	}
	for _, s := range job.Steps {
		if err := proc(ctx, tx, "sp_add_jobstep", stepArgs(id, s)...); err != nil {
			return busError(fmt.Sprintf("%s: sp_add_jobstep step %d (%s)", what, s.StepID, s.StepName), err)
		}
		if s.Timeout > 0 {
			c.log.Warn("SQL Server Agent has no step timeout: the step is written without it",
				"job", job.Name, "step", s.StepID, "timeout", time.Duration(s.Timeout))
		}
	}
	for _, s := range job.Schedules {
		args := []any{sql.Named("job_id", id), sql.Named("name", s.Name), sql.Named("enabled", boolInt(s.IsEnabled())),
			sql.Named("freq_type", s.FreqType), sql.Named("freq_interval", s.FreqInterval),
			sql.Named("freq_subday_type", s.FreqSubdayType), sql.Named("freq_subday_interval", s.FreqSubdayInterval),
			sql.Named("freq_relative_interval", s.FreqRelativeInterval), sql.Named("freq_recurrence_factor", s.FreqRecurrenceFactor)}
		args = appendNonZero(args, "active_start_date", s.ActiveStartDate)
		args = appendNonZero(args, "active_end_date", s.ActiveEndDate)
		args = appendNonZero(args, "active_start_time", s.ActiveStartTime)
		args = appendNonZero(args, "active_end_time", s.ActiveEndTime)
		if err := proc(ctx, tx, "sp_add_jobschedule", args...); err != nil {
			return busError(fmt.Sprintf("%s: sp_add_jobschedule '%s'", what, s.Name), err)
		}
	}
	if err := proc(ctx, tx, "sp_add_jobserver", sql.Named("job_id", id), sql.Named("server_name", "(local)")); err != nil {
		return busError(what+": sp_add_jobserver", err)
	}
	if err := tx.Commit(); err != nil {
		return busError(what, err)
	}
	c.log.Info("job written into msdb", "job", job.Name, "job_id", id, "version", job.VersionNumber)
	return nil
}

// expressible refuses what SQL Server Agent cannot run as msx would.
func (c *Client) expressible(job jobs.Job) error {
	for _, s := range job.Schedules {
		if s.Cron != "" {
			return &schemas.Error{Code: CodeNotExpressible, Message: fmt.Sprintf(
				"job '%s': schedule '%s' is a cron schedule (%q), which SQL Server Agent cannot express; "+
					"this target runs jobs in SQL Server Agent (agent mode msdb): give the schedule freq_* fields, "+
					"or run the target in agent mode runner", job.Name, s.Name, s.Cron)}
		}
		if s.TimeZone != "" && !strings.EqualFold(s.TimeZone, c.loc.String()) {
			return &schemas.Error{Code: CodeNotExpressible, Message: fmt.Sprintf(
				"job '%s': schedule '%s' runs in time zone %s, but SQL Server Agent runs schedules in the server's "+
					"time zone (%s); remove time_zone or run the target in agent mode runner", job.Name, s.Name, s.TimeZone, c.loc)}
		}
	}
	return nil
}

// ensureCategory creates the category "Jobs from MSX" if msdb lacks it (SQL Server creates it
// at install, so this is rare).
func (c *Client) ensureCategory(ctx context.Context) error {
	if c.category.Load() {
		return nil
	}
	var n int
	err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM msdb.dbo.syscategories WHERE name = @p1 AND category_class = 1",
		Category).Scan(&n)
	if err != nil {
		return busError("look up job category '"+Category+"'", err)
	}
	if n == 0 {
		if err := proc(ctx, c.db, "sp_add_category", sql.Named("class", "JOB"), sql.Named("type", "LOCAL"),
			sql.Named("name", Category)); err != nil {
			return busError("create job category '"+Category+"'", err)
		}
	}
	c.category.Store(true)
	return nil
}

func jobArgs(id string, j jobs.Job) []any {
	args := []any{sql.Named("job_id", id), sql.Named("job_name", j.Name), sql.Named("enabled", boolInt(j.IsEnabled())),
		sql.Named("category_name", Category), sql.Named("delete_level", j.DeleteLevel),
		sql.Named("notify_level_email", j.NotifyLevelEmail), sql.Named("notify_level_page", j.NotifyLevelPage)}
	if j.Description != "" {
		args = append(args, sql.Named("description", j.Description))
	}
	if j.StartStepID != 0 {
		args = append(args, sql.Named("start_step_id", j.StartStepID))
	}
	if j.NotifyLevelEventlog != nil {
		args = append(args, sql.Named("notify_level_eventlog", *j.NotifyLevelEventlog))
	}
	if j.Owner != "" {
		args = append(args, sql.Named("owner_login_name", j.Owner))
	}
	if j.NotifyEmailOperator != "" {
		args = append(args, sql.Named("notify_email_operator_name", j.NotifyEmailOperator))
	}
	return args
}

func stepArgs(id string, s jobs.Step) []any {
	args := []any{sql.Named("job_id", id), sql.Named("step_id", s.StepID), sql.Named("step_name", s.StepName),
		sql.Named("command", s.Command), sql.Named("cmdexec_success_code", s.CmdExecSuccessCode),
		sql.Named("on_success_step_id", s.OnSuccessStepID), sql.Named("on_fail_step_id", s.OnFailStepID),
		sql.Named("retry_attempts", s.RetryAttempts), sql.Named("retry_interval", s.RetryInterval),
		sql.Named("flags", s.Flags)}
	if s.Subsystem != "" {
		args = append(args, sql.Named("subsystem", s.Subsystem))
	}
	args = appendNonZero(args, "on_success_action", s.OnSuccessAction)
	args = appendNonZero(args, "on_fail_action", s.OnFailAction)
	for _, p := range []struct{ name, v string }{{"database_name", s.DatabaseName}, {"output_file_name", s.OutputFileName},
		{"proxy_name", s.ProxyName}} {
		if p.v != "" {
			args = append(args, sql.Named(p.name, p.v))
		}
	}
	return args
}

func appendNonZero(args []any, name string, v int) []any {
	if v == 0 {
		return args
	}
	return append(args, sql.Named(name, v))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Delete deletes the job with id from msdb, with its history and the schedules no other job
// uses, as sp_delete_job does by default. A job msdb does not have is not an error.
func (c *Client) Delete(ctx context.Context, id string) error {
	gid, err := jobID(id)
	if err != nil {
		return err
	}
	ctx, cancel := withDefault(ctx)
	defer cancel()
	err = proc(ctx, c.db, "sp_delete_job", sql.Named("job_id", gid), sql.Named("delete_unused_schedule", 1))
	if err != nil && sqlNumber(err) != numUnknownObject {
		return busError("delete job "+gid+" from msdb", err)
	}
	return nil
}

// Start asks SQL Server Agent to run the job (sp_start_job queues the request and returns). It
// returns SQL Server's 22022 when the job is running, 14262 when msdb does not have it.
func (c *Client) Start(ctx context.Context, id string) error {
	return c.startStop(ctx, "sp_start_job", "start", id)
}

// Stop asks SQL Server Agent to stop the job (sp_stop_job). It returns SQL Server's 22022 when
// the job is not running.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.startStop(ctx, "sp_stop_job", "stop", id)
}

func (c *Client) startStop(ctx context.Context, name, verb, id string) error {
	gid, err := jobID(id)
	if err != nil {
		return err
	}
	ctx, cancel := withDefault(ctx)
	defer cancel()
	if err := proc(ctx, c.db, name, sql.Named("job_id", gid)); err != nil {
		return busError(verb+" job "+gid+" in SQL Server Agent", err)
	}
	return nil
}
