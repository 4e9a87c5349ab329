package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
	"github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/schemas/schedule"
)

// DefaultTimeout bounds Open's connection and every read when the caller gives no deadline.
const DefaultTimeout = 15 * time.Second

// Open connects to the SQL Server of dsn (a go-mssqldb DSN: sqlserver://user:pass@host:port?
// database=msdb, or ADO style) and checks that it answers within timeout (DefaultTimeout when 0).
// Errors name the server, never the password: ErrDSN for a DSN that does not parse,
// ErrNoAnswer when the server does not answer in time or refuses the connection.
func Open(ctx context.Context, dsn string, timeout time.Duration) (*sql.DB, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDSN, err)
	}
	where := cfg.Host
	if cfg.Instance != "" {
		where += `\` + cfg.Instance
	}
	if cfg.Port != 0 {
		where += fmt.Sprint(":", cfg.Port)
	}
	// go-mssqldb does not watch the context while it waits for the server's first answer
	// (PRELOGIN): a read deadline on the connection bounds that wait.
	if cfg.ConnTimeout <= 0 || cfg.ConnTimeout > timeout {
		cfg.ConnTimeout = timeout
	}
	if cfg.DialTimeout <= 0 || cfg.DialTimeout > timeout {
		cfg.DialTimeout = timeout
	}
	db := sql.OpenDB(mssql.NewConnectorConfig(cfg))
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		var ne net.Error
		if (pctx.Err() != nil || errors.As(err, &ne) && ne.Timeout()) && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: SQL Server at %s did not answer within %s: check the host, port, instance and firewall, "+
				"or give --timeout a longer time (%w)", ErrNoAnswer, where, timeout, err)
		}
		var me mssql.Error
		if errors.As(err, &me) {
			return nil, fmt.Errorf("SQL Server at %s refused the login: %w", where, err)
		}
		return nil, fmt.Errorf("%w: SQL Server at %s: %w", ErrNoAnswer, where, err)
	}
	return db, nil
}

// Source is what Read found in a SQL Server's msdb.
type Source struct {
	// Server is the server's @@SERVERNAME.
	Server string `json:"server"`
	// Jobs are the jobs read, converted to msx jobs; targets.servers holds the target servers
	// of multiserver jobs as msdb names them.
	Jobs []SourceJob `json:"jobs"`
	// Targets are the enlisted target servers (systargetservers).
	Targets []Target `json:"targets,omitempty"`
	// Groups are the target server groups with their members.
	Groups    []Group           `json:"groups,omitempty"`
	Operators []notify.Operator `json:"operators,omitempty"`
	Alerts    []notify.Alert    `json:"alerts,omitempty"`
	// History is SQL Server Agent's job history limits (-1 or 0: none).
	History HistoryLimits `json:"history"`
	// Skipped are the objects read that cannot come across, with the reason.
	Skipped []Item `json:"skipped,omitempty"`
}

// SourceJob is one job read from msdb.
type SourceJob struct {
	Job jobs.Job `json:"job"`
	// Notes are what the conversion lost (parameters msx does not model), each with why.
	Notes []string `json:"notes,omitempty"`
	// originating is sysjobs.originating_server_id (not 0: downloaded from an MSX master);
	// local is whether the job has a sysjobservers row for server_id 0.
	originating int
	local       bool
}

// Target is one target server of an MSX master.
type Target struct {
	ServerID int    `json:"server_id"`
	Name     string `json:"server_name"`
	Location string `json:"location,omitempty"`
}

// Group is one target server group.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// HistoryLimits are sp_get_sqlagent_properties' jobhistory_max_rows and
// jobhistory_max_rows_per_job.
type HistoryLimits struct {
	MaxRows       int  `json:"jobhistory_max_rows"`
	MaxRowsPerJob int  `json:"jobhistory_max_rows_per_job"`
	Known         bool `json:"known"`
}

// Scope chooses the jobs Read returns.
type Scope struct {
	// Local reads the server's local jobs (a sysjobservers row with server_id 0) instead of
	// an MSX master's multiserver jobs, and no targets or groups.
	Local bool
	// Job and Category, when set, keep only the job of that name, or the jobs of that
	// category (case-insensitive).
	Job, Category string
}

// Read reads the jobs of scope, and for an MSX master its target servers, groups, operators,
// alerts and history limits. Reading a master (scope.Local false) that has no target server
// returns ErrNotMaster.
func Read(ctx context.Context, db *sql.DB, scope Scope) (*Source, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*DefaultTimeout)
		defer cancel()
	}
	r := &reader{ctx: ctx, db: db, scope: scope, src: &Source{}}
	var name sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&name); err != nil {
		return nil, fmt.Errorf("read @@SERVERNAME: %w", err)
	}
	r.src.Server = name.String
	if !scope.Local {
		if err := r.targets(); err != nil {
			return nil, err
		}
		if len(r.src.Targets) == 0 {
			return nil, fmt.Errorf("%w: %s has no target server in msdb.dbo.systargetservers; "+
				"to import its local jobs use msx job import --from-server", ErrNotMaster, r.src.Server)
		}
	}
	for _, step := range []func() error{r.jobs, r.steps, r.schedules, r.servers} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	r.keep()
	if !scope.Local {
		for _, step := range []func() error{r.groups, r.operators, r.alerts, r.history} {
			if err := step(); err != nil {
				return nil, err
			}
		}
	}
	return r.src, nil
}

type reader struct {
	ctx   context.Context
	db    *sql.DB
	scope Scope
	src   *Source
	byID  map[string]*SourceJob
	ids   []string // job ids in name order
	// targetsByID maps systargetservers.server_id to the server's name.
	targetsByID map[int]string
}

// query runs q and calls scan for each row.
func (r *reader) query(what, q string, scan func(*sql.Rows) error) error {
	rows, err := r.db.QueryContext(r.ctx, q)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

func (r *reader) targets() error {
	r.targetsByID = map[int]string{}
	err := r.query("msdb.dbo.systargetservers", `SELECT server_id, server_name, location FROM msdb.dbo.systargetservers ORDER BY server_name`,
		func(rows *sql.Rows) error {
			var t Target
			var loc sql.NullString
			if err := rows.Scan(&t.ServerID, &t.Name, &loc); err != nil {
				return err
			}
			t.Location = loc.String
			r.targetsByID[t.ServerID] = t.Name
			r.src.Targets = append(r.src.Targets, t)
			return nil
		})
	var me mssql.Error
	if errors.As(err, &me) && me.Number == 208 {
		return fmt.Errorf("%w: msdb has no systargetservers table (%w)", ErrNotMaster, err)
	}
	return err
}

func (r *reader) jobs() error {
	r.byID = map[string]*SourceJob{}
	return r.query("msdb.dbo.sysjobs", `SELECT j.job_id, j.name, j.enabled, j.description, j.start_step_id, c.name, p.name,
		j.notify_level_eventlog, j.notify_level_email, j.notify_level_netsend, j.notify_level_page, oe.name, op.name,
		j.notify_netsend_operator_id, j.delete_level, j.originating_server_id
		FROM msdb.dbo.sysjobs j
		LEFT JOIN msdb.dbo.syscategories c ON c.category_id = j.category_id
		LEFT JOIN master.sys.server_principals p ON p.sid = j.owner_sid
		LEFT JOIN msdb.dbo.sysoperators oe ON oe.id = j.notify_email_operator_id
		LEFT JOIN msdb.dbo.sysoperators op ON op.id = j.notify_page_operator_id
		ORDER BY j.name`, func(rows *sql.Rows) error {
		var (
			id                               mssql.UniqueIdentifier
			sj                               SourceJob
			enabled                          int
			desc, cat, owner, email, pager   sql.NullString
			eventlog, netsend, netsendOp     int
			email_, page                     int
			start, deleteLevel, originServer int
		)
		if err := rows.Scan(&id, &sj.Job.Name, &enabled, &desc, &start, &cat, &owner, &eventlog, &email_, &netsend, &page,
			&email, &pager, &netsendOp, &deleteLevel, &originServer); err != nil {
			return err
		}
		j := &sj.Job
		on := enabled != 0
		j.Enabled = &on
		if desc.String != tsql.NoDescription {
			j.Description = desc.String
		}
		j.StartStepID = start
		if !tsql.IsUncategorized(cat.String) {
			j.Category = cat.String
		}
		j.Owner = owner.String
		j.NotifyLevelEventlog = &eventlog
		j.NotifyLevelEmail, j.NotifyLevelPage = email_, page
		j.NotifyEmailOperator, j.NotifyPageOperator = email.String, pager.String
		j.DeleteLevel = deleteLevel
		if netsend != 0 || netsendOp != 0 {
			sj.Notes = append(sj.Notes, "notify_level_netsend not migrated: "+tsql.WhyNetSend)
		}
		sj.originating = originServer
		key := id.String()
		r.byID[key] = &sj
		r.ids = append(r.ids, key)
		return nil
	})
}

func (r *reader) steps() error {
	return r.query("msdb.dbo.sysjobsteps", `SELECT s.job_id, s.step_id, s.step_name, s.subsystem, s.command, s.flags,
		s.additional_parameters, s.cmdexec_success_code, s.on_success_action, s.on_success_step_id, s.on_fail_action,
		s.on_fail_step_id, s.server, s.database_name, s.database_user_name, s.retry_attempts, s.retry_interval,
		s.os_run_priority, s.output_file_name, x.name
		FROM msdb.dbo.sysjobsteps s LEFT JOIN msdb.dbo.sysproxies x ON x.proxy_id = s.proxy_id
		ORDER BY s.step_id`, func(rows *sql.Rows) error {
		var (
			id                                           mssql.UniqueIdentifier
			s                                            jobs.Step
			command, addl, server, db, dbUser, out, prox sql.NullString
			prio                                         int
		)
		if err := rows.Scan(&id, &s.StepID, &s.StepName, &s.Subsystem, &command, &s.Flags, &addl, &s.CmdExecSuccessCode,
			&s.OnSuccessAction, &s.OnSuccessStepID, &s.OnFailAction, &s.OnFailStepID, &server, &db, &dbUser,
			&s.RetryAttempts, &s.RetryInterval, &prio, &out, &prox); err != nil {
			return err
		}
		sj := r.byID[id.String()]
		if sj == nil {
			return nil // a step of a job deleted while reading
		}
		s.Command, s.DatabaseName, s.OutputFileName, s.ProxyName = command.String, db.String, out.String, prox.String
		at := fmt.Sprintf("step %d (%s): ", s.StepID, s.StepName)
		for _, lost := range []struct {
			field, value, why string
		}{
			{"additional_parameters", addl.String, "msx does not use it (SQL Server Agent does not either)"},
			{"server", server.String, "msx runs a step on the target it is sent to"},
			{"database_user_name", dbUser.String, "msx runs T-SQL steps as the agent's login; use EXECUTE AS USER in the command"},
		} {
			if strings.TrimSpace(lost.value) != "" {
				sj.Notes = append(sj.Notes, fmt.Sprintf("%s%s '%s' not migrated: %s", at, lost.field, lost.value, lost.why))
			}
		}
		if prio != 0 {
			sj.Notes = append(sj.Notes, fmt.Sprintf("%sos_run_priority %d not migrated: msx does not set OS priority", at, prio))
		}
		sj.Job.Steps = append(sj.Job.Steps, s)
		return nil
	})
}

func (r *reader) schedules() error {
	type use struct {
		job string
		s   schedule.Schedule
		id  int
	}
	var uses []use
	count := map[int]int{}
	err := r.query("msdb.dbo.sysjobschedules", `SELECT js.job_id, s.schedule_id, s.name, s.enabled, s.freq_type, s.freq_interval,
		s.freq_subday_type, s.freq_subday_interval, s.freq_relative_interval, s.freq_recurrence_factor,
		s.active_start_date, s.active_end_date, s.active_start_time, s.active_end_time
		FROM msdb.dbo.sysjobschedules js JOIN msdb.dbo.sysschedules s ON s.schedule_id = js.schedule_id
		ORDER BY s.schedule_id`, func(rows *sql.Rows) error {
		var (
			id      mssql.UniqueIdentifier
			u       use
			enabled int
		)
		s := &u.s
		if err := rows.Scan(&id, &u.id, &s.Name, &enabled, &s.FreqType, &s.FreqInterval, &s.FreqSubdayType, &s.FreqSubdayInterval,
			&s.FreqRelativeInterval, &s.FreqRecurrenceFactor, &s.ActiveStartDate, &s.ActiveEndDate, &s.ActiveStartTime,
			&s.ActiveEndTime); err != nil {
			return err
		}
		on := enabled != 0
		s.Enabled = &on
		u.job = id.String()
		uses = append(uses, u)
		count[u.id]++
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range uses {
		sj := r.byID[u.job]
		if sj == nil {
			continue
		}
		if n := count[u.id]; n > 1 {
			sj.Notes = append(sj.Notes, fmt.Sprintf("shared schedule '%s' (used by %d jobs) copied into this job: an msx schedule belongs to one job",
				u.s.Name, n))
		}
		// msdb lets a job have two schedules of one name; msx names each schedule of a job once.
		if name := uniqueName(u.s.Name, sj.Job.Schedules); name != u.s.Name {
			sj.Notes = append(sj.Notes, fmt.Sprintf("schedule '%s' renamed '%s': the job has another schedule of that name", u.s.Name, name))
			u.s.Name = name
		}
		sj.Job.Schedules = append(sj.Job.Schedules, u.s)
	}
	return nil
}

func (r *reader) servers() error {
	return r.query("msdb.dbo.sysjobservers", `SELECT job_id, server_id FROM msdb.dbo.sysjobservers ORDER BY server_id`,
		func(rows *sql.Rows) error {
			var id mssql.UniqueIdentifier
			var sid int
			if err := rows.Scan(&id, &sid); err != nil {
				return err
			}
			sj := r.byID[id.String()]
			if sj == nil {
				return nil
			}
			if sid == 0 {
				sj.local = true
				return nil
			}
			name, ok := r.targetsByID[sid]
			switch {
			case r.scope.Local:
			case !ok:
				sj.Notes = append(sj.Notes, fmt.Sprintf("sysjobservers names server_id %d, which is not in systargetservers: that target is not migrated", sid))
			default:
				sj.Job.Targets.Servers = append(sj.Job.Targets.Servers, name)
			}
			return nil
		})
}

// keep chooses the jobs of the scope, and lists the others a migration leaves behind.
func (r *reader) keep() {
	scope := r.scope
	for _, id := range r.ids {
		sj := r.byID[id]
		j := sj.Job
		if scope.Job != "" && !strings.EqualFold(strings.TrimSpace(j.Name), strings.TrimSpace(scope.Job)) {
			continue
		}
		if scope.Category != "" && !strings.EqualFold(strings.TrimSpace(j.Category), strings.TrimSpace(scope.Category)) &&
			!(j.Category == "" && tsql.IsUncategorized(scope.Category)) {
			continue
		}
		multi := len(j.Targets.Servers) > 0
		switch {
		case scope.Local && sj.originating != 0:
			r.skip(KindJob, j.Name, "it was downloaded from an MSX master (originating_server_id %d): migrate it from that master with msx migrate", sj.originating)
		case scope.Local && !sj.local:
			r.skip(KindJob, j.Name, "it is a multiserver job of this server, not a local job: migrate it with msx migrate")
		case scope.Local:
			r.src.Jobs = append(r.src.Jobs, *sj)
		case multi:
			r.src.Jobs = append(r.src.Jobs, *sj)
		case sj.local:
			r.leave(KindJob, j.Name, "it is a local job of the master (server_id 0), not a multiserver job: import it with msx job import --from-server")
		default:
			r.leave(KindJob, j.Name, "it is targeted at no server (no sysjobservers row)")
		}
	}
}

// leave lists an object that is not part of this migration.
func (r *reader) leave(kind, name, format string, args ...any) {
	r.src.Skipped = append(r.src.Skipped, Item{Kind: kind, Name: name, Action: ActionLeftOut, Reason: fmt.Sprintf(format, args...)})
}

func (r *reader) skip(kind, name, format string, args ...any) {
	r.src.Skipped = append(r.src.Skipped, Item{Kind: kind, Name: name, Action: ActionNotMigrated, Reason: fmt.Sprintf(format, args...)})
}

func (r *reader) groups() error {
	byID := map[int]*Group{}
	var order []int
	if err := r.query("msdb.dbo.systargetservergroups", `SELECT servergroup_id, name FROM msdb.dbo.systargetservergroups ORDER BY name`,
		func(rows *sql.Rows) error {
			var id int
			var g Group
			if err := rows.Scan(&id, &g.Name); err != nil {
				return err
			}
			g.Members = []string{}
			byID[id] = &g
			order = append(order, id)
			return nil
		}); err != nil {
		return err
	}
	if err := r.query("msdb.dbo.systargetservergroupmembers", `SELECT m.servergroup_id, t.server_name
		FROM msdb.dbo.systargetservergroupmembers m JOIN msdb.dbo.systargetservers t ON t.server_id = m.server_id
		ORDER BY t.server_name`, func(rows *sql.Rows) error {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		if g := byID[id]; g != nil {
			g.Members = append(g.Members, name)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, id := range order {
		r.src.Groups = append(r.src.Groups, *byID[id])
	}
	return nil
}

func (r *reader) operators() error {
	return r.query("msdb.dbo.sysoperators", `SELECT name, enabled, email_address, pager_address, netsend_address,
		weekday_pager_start_time, weekday_pager_end_time, saturday_pager_start_time, saturday_pager_end_time,
		sunday_pager_start_time, sunday_pager_end_time, pager_days FROM msdb.dbo.sysoperators ORDER BY name`,
		func(rows *sql.Rows) error {
			var (
				o                        notify.Operator
				enabled                  int
				email, pager, netsend    sql.NullString
				ws, we, sas, sae, ss, se int
			)
			if err := rows.Scan(&o.Name, &enabled, &email, &pager, &netsend, &ws, &we, &sas, &sae, &ss, &se, &o.PagerDays); err != nil {
				return err
			}
			on := enabled != 0
			o.Enabled = &on
			o.EmailAddress, o.PagerAddress = email.String, pager.String
			o.WeekdayPagerStartTime, o.WeekdayPagerEndTime = &ws, &we
			o.SaturdayPagerStartTime, o.SaturdayPagerEndTime = &sas, &sae
			o.SundayPagerStartTime, o.SundayPagerEndTime = &ss, &se
			if strings.TrimSpace(netsend.String) != "" {
				r.src.Skipped = append(r.src.Skipped, Item{Kind: KindOperator, Name: o.Name, Action: ActionNote,
					Reason: "netsend_address '" + netsend.String + "' not migrated: " + tsql.WhyNetSend})
			}
			r.src.Operators = append(r.src.Operators, o)
			return nil
		})
}

func (r *reader) alerts() error {
	byID := map[int]int{}
	if err := r.query("msdb.dbo.sysalerts", `SELECT a.id, a.name, a.message_id, a.severity, a.enabled, a.delay_between_responses,
		a.notification_message, a.include_event_description, a.database_name, a.event_description_keyword,
		a.performance_condition, j.name
		FROM msdb.dbo.sysalerts a LEFT JOIN msdb.dbo.sysjobs j ON j.job_id = a.job_id ORDER BY a.name`,
		func(rows *sql.Rows) error {
			var (
				id, enabled, include            int
				a                               notify.Alert
				msg, db, keyword, perf, jobName sql.NullString
			)
			if err := rows.Scan(&id, &a.Name, &a.MessageID, &a.Severity, &enabled, &a.DelayBetweenResponses, &msg, &include,
				&db, &keyword, &perf, &jobName); err != nil {
				return err
			}
			on := enabled != 0
			a.Enabled = &on
			a.NotificationMessage, a.DatabaseName, a.EventDescriptionKeyword = msg.String, db.String, keyword.String
			a.PerformanceCondition, a.JobName = perf.String, jobName.String
			a.IncludeEventDescriptionIn = &include
			byID[id] = len(r.src.Alerts)
			r.src.Alerts = append(r.src.Alerts, a)
			return nil
		}); err != nil {
		return err
	}
	return r.query("msdb.dbo.sysnotifications", `SELECT n.alert_id, o.name, n.notification_method
		FROM msdb.dbo.sysnotifications n JOIN msdb.dbo.sysoperators o ON o.id = n.operator_id ORDER BY o.name`,
		func(rows *sql.Rows) error {
			var id int
			var n notify.AlertNotification
			if err := rows.Scan(&id, &n.OperatorName, &n.NotificationMethod); err != nil {
				return err
			}
			if i, ok := byID[id]; ok {
				r.src.Alerts[i].Notifications = append(r.src.Alerts[i].Notifications, n)
			}
			return nil
		})
}

// history reads SQL Server Agent's job history limits. A server that does not answer
// sp_get_sqlagent_properties (no permission, Azure SQL) leaves them unknown.
func (r *reader) history() error {
	rows, err := r.db.QueryContext(r.ctx, "EXEC msdb.dbo.sp_get_sqlagent_properties")
	if err != nil {
		return nil //nolint:nilerr // unknown limits are reported in the plan, not an error
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || !rows.Next() {
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil //nolint:nilerr // as above
	}
	for i, c := range cols {
		n, ok := vals[i].(int64)
		if !ok {
			continue
		}
		switch strings.ToLower(c) {
		case "jobhistory_max_rows":
			r.src.History.MaxRows, r.src.History.Known = int(n), true
		case "jobhistory_max_rows_per_job":
			r.src.History.MaxRowsPerJob = int(n)
		}
	}
	return nil
}

// uniqueName returns name, or name (2), (3)... when a schedule of have has it (ignoring case).
func uniqueName(name string, have []schedule.Schedule) string {
	taken := func(n string) bool {
		for _, s := range have {
			if strings.EqualFold(strings.TrimSpace(s.Name), strings.TrimSpace(n)) {
				return true
			}
		}
		return false
	}
	out := name
	for i := 2; taken(out); i++ {
		out = fmt.Sprintf("%s (%d)", name, i)
	}
	return out
}
