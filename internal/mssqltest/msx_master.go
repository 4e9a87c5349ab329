package mssqltest

import (
	"fmt"
	"strings"
)

// The msdb tables of an MSX master (a SQL Server Agent multiserver administration master):
// target servers, target server groups and their members, operators, alerts and their
// notifications, and SQL Server Agent's job history limits, with the procedures that fill them.
//
// systargetservers is filled when a target enlists; the fake has no enlisting targets, so a
// test calls EnlistTarget. sp_add_targetservergroup, sp_add_targetsvrgrp_member,
// sp_add_category, sp_add_operator, sp_add_alert and sp_add_notification run as msdb's do (the
// parameters a migration reads), and sp_add_jobserver also accepts the name of an enlisted
// target: the job becomes a multiserver job with a sysjobservers row for that server_id.
// sp_get_sqlagent_properties returns one row with jobhistory_max_rows and
// jobhistory_max_rows_per_job (SetJobHistoryLimits). master.sys.server_principals is a view
// naming each job owner's sid (the fake stores the owner's login name as its sid). The columns
// of sysjobs and sysalerts a migration reads are in msdbSchema and errorlogSchema.
const msxMasterSchema = `
CREATE TABLE IF NOT EXISTS systargetservers (
	server_id INTEGER PRIMARY KEY AUTOINCREMENT, server_name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE,
	location NVARCHAR(200), time_zone_adjustment INT NOT NULL DEFAULT 0, enlist_date DATETIME NOT NULL,
	last_poll_date DATETIME NOT NULL, status INT NOT NULL DEFAULT 1, local_time_at_last_poll DATETIME NOT NULL,
	enlisted_by_nt_user NVARCHAR(100) NOT NULL DEFAULT '', poll_interval INT NOT NULL DEFAULT 60);
CREATE TABLE IF NOT EXISTS systargetservergroups (
	servergroup_id INTEGER PRIMARY KEY AUTOINCREMENT, name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS systargetservergroupmembers (
	servergroup_id INT NOT NULL, server_id INT NOT NULL, PRIMARY KEY (servergroup_id, server_id));
CREATE TABLE IF NOT EXISTS sysoperators (
	id INTEGER PRIMARY KEY AUTOINCREMENT, name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE,
	enabled TINYINT NOT NULL DEFAULT 1, email_address NVARCHAR(100), pager_address NVARCHAR(100),
	netsend_address NVARCHAR(100), weekday_pager_start_time INT NOT NULL DEFAULT 90000,
	weekday_pager_end_time INT NOT NULL DEFAULT 180000, saturday_pager_start_time INT NOT NULL DEFAULT 90000,
	saturday_pager_end_time INT NOT NULL DEFAULT 180000, sunday_pager_start_time INT NOT NULL DEFAULT 90000,
	sunday_pager_end_time INT NOT NULL DEFAULT 180000, pager_days TINYINT NOT NULL DEFAULT 0,
	category_id INT NOT NULL DEFAULT 99);
CREATE TABLE IF NOT EXISTS sysnotifications (
	alert_id INT NOT NULL, operator_id INT NOT NULL, notification_method TINYINT NOT NULL,
	PRIMARY KEY (alert_id, operator_id));
CREATE TABLE IF NOT EXISTS sqlagent_properties (
	jobhistory_max_rows INT NOT NULL, jobhistory_max_rows_per_job INT NOT NULL);
INSERT INTO sqlagent_properties SELECT 1000, 100 WHERE NOT EXISTS (SELECT 1 FROM sqlagent_properties);
CREATE VIEW IF NOT EXISTS server_principals AS
	SELECT DISTINCT owner_sid AS sid, CAST(owner_sid AS TEXT) AS name FROM sysjobs WHERE owner_sid IS NOT NULL;
`

func init() {
	procs["sp_add_targetservergroup"] = procDef{params: []string{"name"}, fn: spAddTargetServerGroup}
	procs["sp_add_targetsvrgrp_member"] = procDef{params: []string{"group_name", "server_name"}, fn: spAddTargetSvrGrpMember}
	procs["sp_add_category"] = procDef{params: []string{"class", "type", "name"}, fn: spAddCategory}
	procs["sp_add_operator"] = procDef{params: []string{"name", "enabled", "email_address", "pager_address",
		"weekday_pager_start_time", "weekday_pager_end_time", "saturday_pager_start_time", "saturday_pager_end_time",
		"sunday_pager_start_time", "sunday_pager_end_time", "pager_days", "netsend_address", "category_name"}, fn: spAddOperator}
	procs["sp_add_alert"] = procDef{params: []string{"name", "message_id", "severity", "enabled", "delay_between_responses",
		"notification_message", "include_event_description_in", "database_name", "event_description_keyword", "job_id",
		"job_name", "raise_snmp_trap", "performance_condition", "category_name", "wmi_namespace", "wmi_query"}, fn: spAddAlert}
	procs["sp_add_notification"] = procDef{params: []string{"alert_name", "operator_name", "notification_method"}, fn: spAddNotification}
	procs["sp_get_sqlagent_properties"] = procDef{fn: spGetSQLAgentProperties}
	local := procs["sp_add_jobserver"]
	procs["sp_add_jobserver"] = procDef{params: local.params, fn: func(c *procCall) (int32, error) {
		server := c.str("server_name", "(local)")
		if c.localServer(server) {
			return local.fn(c)
		}
		return spAddJobServerTarget(c, server)
	}}
}

// EnlistTarget records a target server enlisted into this fake MSX master, as msdb does when a
// target runs sp_msx_enlist, and returns its server_id.
func (s *Server) EnlistTarget(name, location string) (int64, error) {
	now := nowText()
	res, err := s.db.Exec(`INSERT INTO systargetservers (server_name, location, enlist_date, last_poll_date,
		local_time_at_last_poll, enlisted_by_nt_user) VALUES (?, ?, ?, ?, ?, ?)`,
		strings.ToUpper(strings.TrimSpace(name)), location, now, now, now, `CORP\dba`)
	if err != nil {
		return 0, fmt.Errorf("mssqltest: enlist %s: %w", name, err)
	}
	return res.LastInsertId()
}

// SetJobHistoryLimits sets SQL Server Agent's job history limits (sp_set_sqlagent_properties
// @jobhistory_max_rows, @jobhistory_max_rows_per_job); -1 means no limit, as in SSMS.
func (s *Server) SetJobHistoryLimits(maxRows, maxRowsPerJob int) error {
	if _, err := s.db.Exec(`UPDATE sqlagent_properties SET jobhistory_max_rows = ?, jobhistory_max_rows_per_job = ?`,
		maxRows, maxRowsPerJob); err != nil {
		return fmt.Errorf("mssqltest: set job history limits: %w", err)
	}
	return nil
}

func spAddTargetServerGroup(c *procCall) (int32, error) {
	name := strings.TrimSpace(c.str("name", ""))
	if name == "" {
		return 1, sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_add_targetservergroup' expects parameter '@name', which was not supplied.")
	}
	if strings.Contains(name, ",") {
		return 1, sqlErrorf(14289, "'%s' cannot contain commas.", name)
	}
	var id int64
	if found, err := c.scalar(&id, "SELECT servergroup_id FROM systargetservergroups WHERE name = ?", name); err != nil || found {
		if err != nil {
			return 1, err
		}
		return 1, sqlErrorf(ErrNumNameExists, "The specified @name ('%s') already exists.", name)
	}
	_, err := c.exec("INSERT INTO systargetservergroups (name) VALUES (?)", name)
	return boolStatus(err)
}

func spAddTargetSvrGrpMember(c *procCall) (int32, error) {
	group, server := c.str("group_name", ""), c.str("server_name", "")
	var gid, sid int64
	if err := c.lookup(&gid, "group_name", group, "SELECT servergroup_id FROM systargetservergroups WHERE name = ?"); err != nil {
		return 1, err
	}
	if err := c.lookup(&sid, "server_name", server, "SELECT server_id FROM systargetservers WHERE server_name = ?"); err != nil {
		return 1, err
	}
	var n int64
	if _, err := c.scalar(&n, "SELECT count(*) FROM systargetservergroupmembers WHERE servergroup_id = ? AND server_id = ?", gid, sid); err != nil {
		return 1, err
	}
	if n > 0 {
		return 1, sqlErrorf(14263, "Target server '%s' is already a member of group '%s'.", server, group)
	}
	_, err := c.exec("INSERT INTO systargetservergroupmembers (servergroup_id, server_id) VALUES (?, ?)", gid, sid)
	return boolStatus(err)
}

// spAddCategory adds a job category: @type LOCAL (category_type 1) or MULTI-SERVER (2).
func spAddCategory(c *procCall) (int32, error) {
	name := c.str("name", "")
	if class := c.str("class", "JOB"); !strings.EqualFold(class, "JOB") {
		return 1, invalidValue("class", "JOB")
	}
	typ := 1
	switch strings.ToUpper(c.str("type", "LOCAL")) {
	case "LOCAL":
	case "MULTI-SERVER":
		typ = 2
	default:
		return 1, invalidValue("type", "LOCAL, MULTI-SERVER")
	}
	var id int64
	if found, err := c.scalar(&id, "SELECT category_id FROM syscategories WHERE name = ? AND category_class = 1", name); err != nil || found {
		if err != nil {
			return 1, err
		}
		return 1, sqlErrorf(ErrNumNameExists, "The specified @name ('%s') already exists.", name)
	}
	_, err := c.exec(`INSERT INTO syscategories (category_id, category_class, category_type, name)
		VALUES ((SELECT max(category_id) + 1 FROM syscategories), 1, ?, ?)`, typ, name)
	return boolStatus(err)
}

func spAddOperator(c *procCall) (int32, error) {
	n, err := c.ints(map[string]int64{"enabled": 1, "weekday_pager_start_time": 90000, "weekday_pager_end_time": 180000,
		"saturday_pager_start_time": 90000, "saturday_pager_end_time": 180000, "sunday_pager_start_time": 90000,
		"sunday_pager_end_time": 180000, "pager_days": 0})
	if err != nil {
		return 1, err
	}
	_, err = c.exec(`INSERT INTO sysoperators (name, enabled, email_address, pager_address, netsend_address,
		weekday_pager_start_time, weekday_pager_end_time, saturday_pager_start_time, saturday_pager_end_time,
		sunday_pager_start_time, sunday_pager_end_time, pager_days) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.str("name", ""), n["enabled"], c.nullStr("email_address"), c.nullStr("pager_address"), c.nullStr("netsend_address"),
		n["weekday_pager_start_time"], n["weekday_pager_end_time"], n["saturday_pager_start_time"],
		n["saturday_pager_end_time"], n["sunday_pager_start_time"], n["sunday_pager_end_time"], n["pager_days"])
	return boolStatus(err)
}

func spAddAlert(c *procCall) (int32, error) {
	n, err := c.ints(map[string]int64{"message_id": 0, "severity": 0, "enabled": 1, "delay_between_responses": 0,
		"include_event_description_in": 5})
	if err != nil {
		return 1, err
	}
	if c.has("wmi_query") {
		return 1, sqlErrorf(ErrNumNotFakeSupported, "the fake does not store WMI alerts")
	}
	var job any
	if c.has("job_name") {
		var id string
		if err := c.lookup(&id, "job_name", c.str("job_name", ""), "SELECT job_id FROM sysjobs WHERE name = ?"); err != nil {
			return 1, err
		}
		job = id
	}
	_, err = c.exec(`INSERT INTO sysalerts (name, message_id, severity, enabled, delay_between_responses,
		notification_message, include_event_description, database_name, event_description_keyword,
		performance_condition, job_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		c.str("name", ""), n["message_id"], n["severity"], n["enabled"], n["delay_between_responses"],
		c.nullStr("notification_message"), n["include_event_description_in"], c.nullStr("database_name"),
		c.nullStr("event_description_keyword"), c.nullStr("performance_condition"), job)
	return boolStatus(err)
}

func spAddNotification(c *procCall) (int32, error) {
	alert, op := c.str("alert_name", ""), c.str("operator_name", "")
	method, err := c.int("notification_method", 1)
	if err != nil {
		return 1, err
	}
	var aid, oid int64
	if err := c.lookup(&aid, "alert_name", alert, "SELECT id FROM sysalerts WHERE name = ?"); err != nil {
		return 1, err
	}
	if err := c.lookup(&oid, "operator_name", op, "SELECT id FROM sysoperators WHERE name = ?"); err != nil {
		return 1, err
	}
	_, err = c.exec("INSERT INTO sysnotifications (alert_id, operator_id, notification_method) VALUES (?, ?, ?)", aid, oid, method)
	return boolStatus(err)
}

func spGetSQLAgentProperties(c *procCall) (int32, error) {
	return boolStatus(c.resultSet(`SELECT jobhistory_max_rows, jobhistory_max_rows_per_job FROM sqlagent_properties`))
}

// spAddJobServerTarget targets a job at an enlisted target server (a multiserver job).
func spAddJobServerTarget(c *procCall, server string) (int32, error) {
	id, name, err := c.job()
	if err != nil {
		return 1, err
	}
	var sid int64
	if err := c.lookup(&sid, "server_name", server, "SELECT server_id FROM systargetservers WHERE server_name = ?"); err != nil {
		return 1, err
	}
	var n int64
	if _, err := c.scalar(&n, "SELECT count(*) FROM sysjobservers WHERE job_id = ? AND server_id = ?", id, sid); err != nil {
		return 1, err
	}
	if n > 0 {
		return 1, sqlErrorf(ErrNumAlreadyTargeted, "Job '%s' is already targeted at server '%s'.", name, server)
	}
	_, err = c.exec("INSERT INTO sysjobservers (job_id, server_id) VALUES (?, ?)", id, sid)
	return boolStatus(err)
}

// nullStr is a string parameter, or NULL when not given.
func (c *procCall) nullStr(name string) any {
	if !c.has(name) {
		return nil
	}
	return c.str(name, "")
}
