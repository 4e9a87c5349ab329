package mssqltest

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// msdbSchema creates SQLite tables shaped like msdb's job tables, with the
// columns a harvester or job writer reads. Declared types are SQL Server
// type names, which is how result columns get their wire types.
const msdbSchema = `
CREATE TABLE IF NOT EXISTS syscategories (
	category_id INTEGER PRIMARY KEY, category_class INT NOT NULL, category_type TINYINT NOT NULL,
	name NVARCHAR(128) NOT NULL COLLATE NOCASE);
INSERT OR IGNORE INTO syscategories VALUES
	(0, 1, 1, '[Uncategorized (Local)]'), (1, 1, 1, 'Jobs from MSX'), (2, 1, 2, '[Uncategorized (Multi-Server)]'),
	(3, 1, 1, 'Database Maintenance'), (98, 2, 3, '[Uncategorized]'), (99, 3, 3, '[Uncategorized]');
CREATE TABLE IF NOT EXISTS sysjobs (
	job_id UNIQUEIDENTIFIER PRIMARY KEY, originating_server_id INT NOT NULL DEFAULT 0,
	name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE, enabled TINYINT NOT NULL, description NVARCHAR(512),
	start_step_id INT NOT NULL, category_id INT NOT NULL, owner_sid VARBINARY(85),
	notify_level_eventlog INT NOT NULL, notify_level_email INT NOT NULL DEFAULT 0,
	notify_level_netsend INT NOT NULL DEFAULT 0, notify_level_page INT NOT NULL DEFAULT 0,
	delete_level INT NOT NULL, date_created DATETIME NOT NULL, date_modified DATETIME NOT NULL,
	version_number INT NOT NULL DEFAULT 1, notify_email_operator_id INT NOT NULL DEFAULT 0,
	notify_netsend_operator_id INT NOT NULL DEFAULT 0, notify_page_operator_id INT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sysjobsteps (
	job_id UNIQUEIDENTIFIER NOT NULL, step_id INT NOT NULL, step_name NVARCHAR(128) NOT NULL,
	subsystem NVARCHAR(40) NOT NULL, command NVARCHAR, flags INT NOT NULL DEFAULT 0,
	additional_parameters NVARCHAR, cmdexec_success_code INT NOT NULL DEFAULT 0,
	on_success_action TINYINT NOT NULL, on_success_step_id INT NOT NULL, on_fail_action TINYINT NOT NULL,
	on_fail_step_id INT NOT NULL, server NVARCHAR(128), database_name NVARCHAR(128),
	database_user_name NVARCHAR(128), retry_attempts INT NOT NULL, retry_interval INT NOT NULL,
	os_run_priority INT NOT NULL DEFAULT 0, output_file_name NVARCHAR(200), last_run_outcome INT NOT NULL DEFAULT 0,
	last_run_duration INT NOT NULL DEFAULT 0, last_run_retries INT NOT NULL DEFAULT 0,
	last_run_date INT NOT NULL DEFAULT 0, last_run_time INT NOT NULL DEFAULT 0, proxy_id INT,
	step_uid UNIQUEIDENTIFIER, PRIMARY KEY (job_id, step_id));
CREATE TABLE IF NOT EXISTS sysschedules (
	schedule_id INTEGER PRIMARY KEY AUTOINCREMENT, schedule_uid UNIQUEIDENTIFIER NOT NULL,
	originating_server_id INT NOT NULL DEFAULT 0, name NVARCHAR(128) NOT NULL, owner_sid VARBINARY(85),
	enabled INT NOT NULL, freq_type INT NOT NULL, freq_interval INT NOT NULL, freq_subday_type INT NOT NULL,
	freq_subday_interval INT NOT NULL, freq_relative_interval INT NOT NULL, freq_recurrence_factor INT NOT NULL,
	active_start_date INT NOT NULL, active_end_date INT NOT NULL, active_start_time INT NOT NULL,
	active_end_time INT NOT NULL, date_created DATETIME NOT NULL, date_modified DATETIME NOT NULL,
	version_number INT NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS sysjobschedules (
	schedule_id INT NOT NULL, job_id UNIQUEIDENTIFIER NOT NULL, next_run_date INT NOT NULL DEFAULT 0,
	next_run_time INT NOT NULL DEFAULT 0, PRIMARY KEY (job_id, schedule_id));
CREATE TABLE IF NOT EXISTS sysjobservers (
	job_id UNIQUEIDENTIFIER NOT NULL, server_id INT NOT NULL, last_run_outcome TINYINT NOT NULL DEFAULT 5,
	last_outcome_message NVARCHAR(4000), last_run_date INT NOT NULL DEFAULT 0, last_run_time INT NOT NULL DEFAULT 0,
	last_run_duration INT NOT NULL DEFAULT 0, PRIMARY KEY (job_id, server_id));
CREATE TABLE IF NOT EXISTS sysjobhistory (
	instance_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id UNIQUEIDENTIFIER NOT NULL, step_id INT NOT NULL,
	step_name NVARCHAR(128) NOT NULL, sql_message_id INT NOT NULL, sql_severity INT NOT NULL,
	message NVARCHAR(4000), run_status INT NOT NULL, run_date INT NOT NULL, run_time INT NOT NULL,
	run_duration INT NOT NULL, operator_id_emailed INT NOT NULL DEFAULT 0, operator_id_netsent INT NOT NULL DEFAULT 0,
	operator_id_paged INT NOT NULL DEFAULT 0, retries_attempted INT NOT NULL, server NVARCHAR(128) NOT NULL);
CREATE TABLE IF NOT EXISTS sysproxies (
	proxy_id INTEGER PRIMARY KEY, name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE, enabled TINYINT NOT NULL DEFAULT 1);
`

func createMSDB(db *sql.DB) error {
	if _, err := db.Exec(msdbSchema + errorlogSchema + perfCountersSchema + msxMasterSchema); err != nil {
		return fmt.Errorf("create msdb tables: %w", err)
	}
	return nil
}

// procs are the msdb procedures the fake implements.
var procs = map[string]procDef{
	"sp_add_job": {params: []string{"job_name", "enabled", "description", "start_step_id", "category_name",
		"category_id", "owner_login_name", "notify_level_eventlog", "notify_level_email", "notify_level_netsend",
		"notify_level_page", "notify_email_operator_name", "notify_netsend_operator_name",
		"notify_page_operator_name", "delete_level", "job_id", "originating_server"}, fn: spAddJob},
	"sp_update_job": {params: []string{"job_id", "job_name", "new_name", "enabled", "description", "start_step_id",
		"category_name", "owner_login_name", "notify_level_eventlog", "notify_level_email", "notify_level_netsend",
		"notify_level_page", "notify_email_operator_name", "notify_netsend_operator_name",
		"notify_page_operator_name", "delete_level", "automatic_post"}, fn: spUpdateJob},
	"sp_delete_job": {params: []string{"job_id", "job_name", "originating_server", "delete_history",
		"delete_unused_schedule"}, fn: spDeleteJob},
	"sp_add_jobstep": {params: []string{"job_id", "job_name", "step_id", "step_name", "subsystem", "command",
		"additional_parameters", "cmdexec_success_code", "on_success_action", "on_success_step_id",
		"on_fail_action", "on_fail_step_id", "server", "database_name", "database_user_name", "retry_attempts",
		"retry_interval", "os_run_priority", "output_file_name", "flags", "proxy_id", "proxy_name",
		"step_uid"}, fn: spAddJobStep},
	"sp_delete_jobstep": {params: []string{"job_id", "job_name", "step_id"}, fn: spDeleteJobStep},
	"sp_add_schedule": {params: append([]string{"schedule_name", "enabled"}, append(freqParams,
		"owner_login_name", "schedule_uid", "schedule_id", "originating_server")...), fn: spAddSchedule},
	"sp_attach_schedule": {params: []string{"job_id", "job_name", "schedule_id", "schedule_name",
		"automatic_post"}, fn: spAttachSchedule},
	"sp_add_jobschedule": {params: append([]string{"job_id", "job_name", "name", "enabled"}, append(freqParams,
		"schedule_id", "automatic_post", "schedule_uid")...), fn: spAddJobSchedule},
	"sp_add_jobserver":    {params: []string{"job_id", "job_name", "server_name", "automatic_post"}, fn: spAddJobServer},
	"sp_delete_jobserver": {params: []string{"job_id", "job_name", "server_name"}, fn: spDeleteJobServer},
	"sp_start_job": {params: []string{"job_name", "job_id", "error_flag", "server_name", "step_name",
		"output_flag"}, fn: spStartJob},
	"sp_stop_job": {params: []string{"job_name", "job_id", "originating_server", "server_name"}, fn: spStopJob},
	"sp_help_job": {params: []string{"job_id", "job_name", "job_aspect", "job_type", "owner_login_name",
		"subsystem", "category_name", "enabled", "execution_status", "date_comparator", "date_created",
		"date_last_modified", "description"}, fn: spHelpJob},
}

var freqParams = []string{"freq_type", "freq_interval", "freq_subday_type", "freq_subday_interval",
	"freq_relative_interval", "freq_recurrence_factor", "active_start_date", "active_end_date",
	"active_start_time", "active_end_time"}

// newGUID returns a random UNIQUEIDENTIFIER in SQL Server's text form.
func newGUID() string {
	var g [16]byte
	rand.Read(g[:])
	g[7] = g[7]&0x0F | 0x40 // version 4, in wire layout
	g[8] = g[8]&0x3F | 0x80
	return formatGUID(g)
}

// canonGUID normalises a GUID argument to upper-case text.
func canonGUID(v any) (string, error) {
	g, err := convert(typGUID, v)
	if err != nil {
		return "", err
	}
	return formatGUID(g.([16]byte)), nil
}

func nowText() string { return time.Now().Format("2006-01-02 15:04:05.000") }

// job resolves @job_id or @job_name to the job's id and name (14294, 14262).
func (c *procCall) job() (id, name string, err error) {
	switch {
	case c.has("job_id"):
		id, err = canonGUID(c.args["job_id"])
		if err != nil {
			return "", "", err
		}
		found, err := c.scalar(&name, "SELECT name FROM sysjobs WHERE job_id = ?", id)
		if err != nil {
			return "", "", err
		}
		if !found {
			return "", "", notExist("job_id", id)
		}
	case c.has("job_name"):
		name = c.str("job_name", "")
		found, err := c.scalar(&id, "SELECT job_id FROM sysjobs WHERE name = ?", name)
		if err != nil {
			return "", "", err
		}
		if !found {
			return "", "", notExist("job_name", name)
		}
		c.scalar(&name, "SELECT name FROM sysjobs WHERE job_id = ?", id)
	default:
		return "", "", sqlErrorf(ErrNumJobIDOrName, "Supply either @job_id or @job_name to identify the job.")
	}
	return id, name, nil
}

// category resolves @category_name (default [Uncategorized (Local)]).
func (c *procCall) category() (int64, error) {
	if !c.has("category_name") {
		return c.int("category_id", 0)
	}
	name := c.str("category_name", "")
	var id int64
	found, err := c.scalar(&id, "SELECT category_id FROM syscategories WHERE name = ? AND category_class = 1", name)
	if err == nil && !found {
		err = notExist("category_name", name)
	}
	return id, err
}

// checkAction validates an on_success/on_fail action and its goto step.
func checkAction(param string, action int64) error {
	if action < 1 || action > 4 {
		return invalidValue(param, "1, 2, 3, 4")
	}
	return nil
}

// localServer reports whether name is how msdb may name this server.
func (c *procCall) localServer(name string) bool {
	return name == "" || strings.EqualFold(name, "(local)") || strings.EqualFold(name, c.s.srv.cfg.ServerName)
}
