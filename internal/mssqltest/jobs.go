package mssqltest

import (
	"strings"
	"time"
)

// subsystems are the values @subsystem accepts.
var subsystems = []string{"TSQL", "CmdExec", "PowerShell", "SSIS", "Distribution", "Snapshot", "LogReader",
	"Merge", "QueueReader", "ANALYSISQUERY", "ANALYSISCOMMAND"}

func spAddJob(c *procCall) (int32, error) {
	name := c.str("job_name", "")
	if name == "" {
		return 1, sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_add_job' expects parameter '@job_name', which was not supplied.")
	}
	var dup string
	if found, err := c.scalar(&dup, "SELECT job_id FROM sysjobs WHERE name = ?", name); err != nil || found {
		if err != nil {
			return 1, err
		}
		return 1, sqlErrorf(ErrNumNameExists, "The specified @job_name ('%s') already exists.", name)
	}
	cat, err := c.category()
	if err != nil {
		return 1, err
	}
	n, err := c.ints(map[string]int64{"enabled": 1, "start_step_id": 1, "notify_level_eventlog": 2,
		"notify_level_email": 0, "notify_level_netsend": 0, "notify_level_page": 0, "delete_level": 0})
	if err != nil {
		return 1, err
	}
	if n["delete_level"] < 0 || n["delete_level"] > 3 {
		return 1, invalidValue("delete_level", "0, 1, 2, 3")
	}
	id := newGUID()
	if c.has("job_id") {
		if id, err = canonGUID(c.args["job_id"]); err != nil {
			return 1, err
		}
	}
	owner := c.str("owner_login_name", c.s.user)
	now := nowText()
	_, err = c.exec(`INSERT INTO sysjobs (job_id, name, enabled, description, start_step_id, category_id, owner_sid,
		notify_level_eventlog, notify_level_email, notify_level_netsend, notify_level_page, delete_level,
		date_created, date_modified) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		id, name, n["enabled"], c.str("description", "No description available."), n["start_step_id"], cat,
		[]byte(owner), n["notify_level_eventlog"], n["notify_level_email"], n["notify_level_netsend"],
		n["notify_level_page"], n["delete_level"], now, now)
	if err != nil {
		return 1, err
	}
	c.outs["job_id"] = id
	return 0, nil
}

func spUpdateJob(c *procCall) (int32, error) {
	id, _, err := c.job()
	if err != nil {
		return 1, err
	}
	sets := []string{}
	args := []any{}
	if c.has("new_name") {
		newName := c.str("new_name", "")
		var other string
		if found, err := c.scalar(&other, "SELECT job_id FROM sysjobs WHERE name = ? AND job_id <> ?", newName, id); err != nil || found {
			if err != nil {
				return 1, err
			}
			return 1, sqlErrorf(ErrNumNameExists, "The specified @new_name ('%s') already exists.", newName)
		}
		sets, args = append(sets, "name = ?"), append(args, newName)
	}
	if c.has("description") {
		sets, args = append(sets, "description = ?"), append(args, c.str("description", ""))
	}
	if c.has("owner_login_name") {
		sets, args = append(sets, "owner_sid = ?"), append(args, []byte(c.str("owner_login_name", "")))
	}
	if c.has("category_name") {
		cat, err := c.category()
		if err != nil {
			return 1, err
		}
		sets, args = append(sets, "category_id = ?"), append(args, cat)
	}
	for _, p := range []string{"enabled", "start_step_id", "notify_level_eventlog", "notify_level_email",
		"notify_level_netsend", "notify_level_page", "delete_level"} {
		if c.has(p) {
			v, err := c.int(p, 0)
			if err != nil {
				return 1, err
			}
			sets, args = append(sets, p+" = ?"), append(args, v)
		}
	}
	sets, args = append(sets, "date_modified = ?", "version_number = version_number + 1"), append(args, nowText())
	_, err = c.exec("UPDATE sysjobs SET "+strings.Join(sets, ", ")+" WHERE job_id = ?", append(args, id)...)
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func spDeleteJob(c *procCall) (int32, error) {
	id, _, err := c.job()
	if err != nil {
		return 1, err
	}
	n, err := c.ints(map[string]int64{"delete_history": 1, "delete_unused_schedule": 1})
	if err != nil {
		return 1, err
	}
	if c.s.srv.agent.running(id) {
		c.s.srv.agent.cancel(id)
	}
	stmts := []string{"DELETE FROM sysjobsteps WHERE job_id = ?", "DELETE FROM sysjobservers WHERE job_id = ?"}
	if n["delete_history"] != 0 {
		stmts = append(stmts, "DELETE FROM sysjobhistory WHERE job_id = ?")
	}
	if n["delete_unused_schedule"] != 0 {
		stmts = append(stmts, `DELETE FROM sysschedules WHERE schedule_id IN (SELECT schedule_id FROM sysjobschedules
			WHERE job_id = ?1 AND schedule_id NOT IN (SELECT schedule_id FROM sysjobschedules WHERE job_id <> ?1))`)
	}
	stmts = append(stmts, "DELETE FROM sysjobschedules WHERE job_id = ?", "DELETE FROM sysjobs WHERE job_id = ?")
	for _, q := range stmts {
		if _, err := c.exec(q, id); err != nil {
			return 1, err
		}
	}
	return 0, nil
}

func spAddJobStep(c *procCall) (int32, error) {
	id, _, err := c.job()
	if err != nil {
		return 1, err
	}
	stepName := c.str("step_name", "")
	if stepName == "" {
		return 1, sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_add_jobstep' expects parameter '@step_name', which was not supplied.")
	}
	subsystem := c.str("subsystem", "TSQL")
	canonSub := ""
	for _, s := range subsystems {
		if strings.EqualFold(s, subsystem) {
			canonSub = s
		}
	}
	if canonSub == "" {
		return 1, sqlErrorf(ErrNumInvalidSubsystem, "The specified '@subsystem' is invalid (valid values are returned by sp_enum_sqlagent_subsystems).")
	}
	var count int64
	if _, err := c.scalar(&count, "SELECT count(*) FROM sysjobsteps WHERE job_id = ?", id); err != nil {
		return 1, err
	}
	n, err := c.ints(map[string]int64{"step_id": count + 1, "cmdexec_success_code": 0, "on_success_action": 1,
		"on_success_step_id": 0, "on_fail_action": 2, "on_fail_step_id": 0, "retry_attempts": 0,
		"retry_interval": 0, "os_run_priority": 0, "flags": 0})
	if err != nil {
		return 1, err
	}
	if n["step_id"] < 1 || n["step_id"] > count+1 {
		return 1, sqlErrorf(ErrNumInvalidValueList, "The specified '@step_id' is invalid (valid values are: 1..%d).", count+1)
	}
	if err := checkAction("on_success_action", n["on_success_action"]); err != nil {
		return 1, err
	}
	if err := checkAction("on_fail_action", n["on_fail_action"]); err != nil {
		return 1, err
	}
	if n["retry_attempts"] < 0 || n["retry_interval"] < 0 {
		return 1, invalidValue("retry_attempts", ">= 0")
	}
	var dup int64
	if found, err := c.scalar(&dup, "SELECT step_id FROM sysjobsteps WHERE job_id = ? AND step_name = ?", id, stepName); err != nil || found {
		if err != nil {
			return 1, err
		}
		return 1, sqlErrorf(ErrNumNameExists, "The specified @step_name ('%s') already exists.", stepName)
	}
	var proxy any
	if c.has("proxy_name") {
		var pid int64
		found, err := c.scalar(&pid, "SELECT proxy_id FROM sysproxies WHERE name = ?", c.str("proxy_name", ""))
		if err != nil {
			return 1, err
		}
		if !found {
			return 1, notExist("proxy_name", c.str("proxy_name", ""))
		}
		proxy = pid
	} else if c.has("proxy_id") {
		proxy = c.args["proxy_id"]
	}
	// Inserting before existing steps moves them down, as msdb does.
	if _, err := c.exec("UPDATE sysjobsteps SET step_id = -(step_id + 1) WHERE job_id = ? AND step_id >= ?", id, n["step_id"]); err != nil {
		return 1, err
	}
	if _, err := c.exec("UPDATE sysjobsteps SET step_id = -step_id WHERE job_id = ? AND step_id < 0", id); err != nil {
		return 1, err
	}
	uid := newGUID()
	_, err = c.exec(`INSERT INTO sysjobsteps (job_id, step_id, step_name, subsystem, command, flags,
		additional_parameters, cmdexec_success_code, on_success_action, on_success_step_id, on_fail_action,
		on_fail_step_id, server, database_name, database_user_name, retry_attempts, retry_interval,
		os_run_priority, output_file_name, proxy_id, step_uid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		id, n["step_id"], stepName, canonSub, c.args["command"], n["flags"], c.args["additional_parameters"],
		n["cmdexec_success_code"], n["on_success_action"], n["on_success_step_id"], n["on_fail_action"],
		n["on_fail_step_id"], c.args["server"], c.str("database_name", "master"), c.args["database_user_name"],
		n["retry_attempts"], n["retry_interval"], n["os_run_priority"], c.args["output_file_name"], proxy, uid)
	if err != nil {
		return 1, err
	}
	c.outs["step_uid"] = uid
	return 0, nil
}

func spDeleteJobStep(c *procCall) (int32, error) {
	id, _, err := c.job()
	if err != nil {
		return 1, err
	}
	step, err := c.int("step_id", -1)
	if err != nil {
		return 1, err
	}
	if step == 0 {
		_, err := c.exec("DELETE FROM sysjobsteps WHERE job_id = ?", id)
		return boolStatus(err)
	}
	res, err := c.exec("DELETE FROM sysjobsteps WHERE job_id = ? AND step_id = ?", id, step)
	if err != nil {
		return 1, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 1, notExist("step_id", formatValue(step))
	}
	_, err = c.exec("UPDATE sysjobsteps SET step_id = step_id - 1 WHERE job_id = ? AND step_id > ?", id, step)
	return boolStatus(err)
}

func boolStatus(err error) (int32, error) {
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// addSchedule inserts a schedule from the freq_* and active_* parameters.
func (c *procCall) addSchedule(name string) (int64, string, error) {
	n, err := c.ints(map[string]int64{"enabled": 1, "freq_type": 0, "freq_interval": 0, "freq_subday_type": 0,
		"freq_subday_interval": 0, "freq_relative_interval": 0, "freq_recurrence_factor": 0,
		"active_start_date": int64(time.Now().Year()*10000 + int(time.Now().Month())*100 + time.Now().Day()),
		"active_end_date":   99991231, "active_start_time": 0, "active_end_time": 235959})
	if err != nil {
		return 0, "", err
	}
	switch n["freq_type"] {
	case 1, 4, 8, 16, 32, 64, 128:
	default:
		return 0, "", invalidValue("freq_type", "1, 4, 8, 16, 32, 64, 128")
	}
	uid := newGUID()
	now := nowText()
	res, err := c.exec(`INSERT INTO sysschedules (schedule_uid, name, owner_sid, enabled, freq_type, freq_interval,
		freq_subday_type, freq_subday_interval, freq_relative_interval, freq_recurrence_factor, active_start_date,
		active_end_date, active_start_time, active_end_time, date_created, date_modified)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, uid, name, []byte(c.str("owner_login_name", c.s.user)),
		n["enabled"], n["freq_type"], n["freq_interval"], n["freq_subday_type"], n["freq_subday_interval"],
		n["freq_relative_interval"], n["freq_recurrence_factor"], n["active_start_date"], n["active_end_date"],
		n["active_start_time"], n["active_end_time"], now, now)
	if err != nil {
		return 0, "", err
	}
	id, _ := res.LastInsertId()
	return id, uid, nil
}

func spAddSchedule(c *procCall) (int32, error) {
	name := c.str("schedule_name", "")
	if name == "" {
		return 1, sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_add_schedule' expects parameter '@schedule_name', which was not supplied.")
	}
	id, uid, err := c.addSchedule(name)
	if err != nil {
		return 1, err
	}
	c.outs["schedule_id"], c.outs["schedule_uid"] = id, uid
	return 0, nil
}

func spAttachSchedule(c *procCall) (int32, error) {
	job, _, err := c.job()
	if err != nil {
		return 1, err
	}
	var id int64
	switch {
	case c.has("schedule_id"):
		if id, err = c.int("schedule_id", 0); err != nil {
			return 1, err
		}
		if found, err := c.scalar(&id, "SELECT schedule_id FROM sysschedules WHERE schedule_id = ?", id); err != nil || !found {
			if err != nil {
				return 1, err
			}
			return 1, notExist("schedule_id", formatValue(id))
		}
	case c.has("schedule_name"):
		name := c.str("schedule_name", "")
		if found, err := c.scalar(&id, "SELECT schedule_id FROM sysschedules WHERE name = ? ORDER BY schedule_id", name); err != nil || !found {
			if err != nil {
				return 1, err
			}
			return 1, notExist("schedule_name", name)
		}
	default:
		return 1, sqlErrorf(ErrNumScheduleIDOrName, "Supply either @schedule_id or @schedule_name to identify the schedule.")
	}
	_, err = c.exec("INSERT OR IGNORE INTO sysjobschedules (schedule_id, job_id) VALUES (?, ?)", id, job)
	return boolStatus(err)
}

func spAddJobSchedule(c *procCall) (int32, error) {
	job, _, err := c.job()
	if err != nil {
		return 1, err
	}
	name := c.str("name", "")
	if name == "" {
		return 1, sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_add_jobschedule' expects parameter '@name', which was not supplied.")
	}
	id, uid, err := c.addSchedule(name)
	if err != nil {
		return 1, err
	}
	if _, err := c.exec("INSERT INTO sysjobschedules (schedule_id, job_id) VALUES (?, ?)", id, job); err != nil {
		return 1, err
	}
	c.outs["schedule_id"], c.outs["schedule_uid"] = id, uid
	return 0, nil
}

func spAddJobServer(c *procCall) (int32, error) {
	id, name, err := c.job()
	if err != nil {
		return 1, err
	}
	server := c.str("server_name", "(local)")
	if !c.localServer(server) {
		return 1, notExist("server_name", server)
	}
	var dup int64
	if found, err := c.scalar(&dup, "SELECT server_id FROM sysjobservers WHERE job_id = ? AND server_id = 0", id); err != nil || found {
		if err != nil {
			return 1, err
		}
		return 1, sqlErrorf(ErrNumAlreadyTargeted, "Job '%s' is already targeted at server '%s'.", name, c.s.srv.cfg.ServerName)
	}
	_, err = c.exec("INSERT INTO sysjobservers (job_id, server_id) VALUES (?, 0)", id)
	return boolStatus(err)
}

func spDeleteJobServer(c *procCall) (int32, error) {
	id, name, err := c.job()
	if err != nil {
		return 1, err
	}
	server := c.str("server_name", "")
	res, err := c.exec("DELETE FROM sysjobservers WHERE job_id = ? AND server_id = 0", id)
	if err != nil {
		return 1, err
	}
	if n, _ := res.RowsAffected(); n == 0 || !c.localServer(server) {
		return 1, sqlErrorf(14270, "Job '%s' is not currently targeted at server '%s'.", name, server)
	}
	return 0, nil
}

// spHelpJob returns one result set describing the job, or all jobs; unlike
// msdb it never adds the steps, schedules and targets result sets.
func spHelpJob(c *procCall) (int32, error) {
	where, args := "", []any{}
	if c.has("job_id") || c.has("job_name") {
		id, _, err := c.job()
		if err != nil {
			return 1, err
		}
		where, args = " WHERE j.job_id = ?", append(args, id)
	}
	err := c.resultSet(`SELECT j.job_id, '(local)' AS originating_server, j.name, j.enabled, j.description,
		j.start_step_id, c.name AS category, CAST(j.owner_sid AS TEXT) AS owner, j.notify_level_eventlog,
		j.delete_level, j.date_created, j.date_modified, j.version_number,
		CAST(coalesce(s.last_run_date, 0) AS INT) AS last_run_date, CAST(coalesce(s.last_run_time, 0) AS INT) AS last_run_time,
		CAST(coalesce(s.last_run_outcome, 5) AS INT) AS last_run_outcome,
		CAST((SELECT count(*) FROM sysjobsteps t WHERE t.job_id = j.job_id) AS INT) AS has_step,
		CAST((SELECT count(*) FROM sysjobschedules t WHERE t.job_id = j.job_id) AS INT) AS has_schedule,
		CAST((SELECT count(*) FROM sysjobservers t WHERE t.job_id = j.job_id) AS INT) AS has_target
		FROM sysjobs j LEFT JOIN syscategories c ON c.category_id = j.category_id
		LEFT JOIN sysjobservers s ON s.job_id = j.job_id AND s.server_id = 0`+where+" ORDER BY j.name", args...)
	return boolStatus(err)
}
