package tsql

import (
	"slices"
	"strings"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// procedure is an msdb procedure Import translates: its parameters in declaration order (for
// positional arguments) and what it does.
type procedure struct {
	params []string
	run    func(*call)
}

var procedures = map[string]procedure{
	"sp_add_job": {strings.Fields(`job_name enabled description start_step_id category_name category_id
			owner_login_name notify_level_eventlog notify_level_email notify_level_netsend notify_level_page
			notify_email_operator_name notify_netsend_operator_name notify_page_operator_name delete_level job_id
			originating_server`), addJob},
	"sp_update_job": {strings.Fields(`job_id job_name new_name enabled description start_step_id category_name
			owner_login_name notify_level_eventlog notify_level_email notify_level_netsend notify_level_page
			notify_email_operator_name notify_netsend_operator_name notify_page_operator_name delete_level
			automatic_post`), updateJob},
	"sp_add_jobstep": {strings.Fields(`job_id job_name step_id step_name subsystem command additional_parameters
			cmdexec_success_code on_success_action on_success_step_id on_fail_action on_fail_step_id server
			database_name database_user_name retry_attempts retry_interval os_run_priority output_file_name flags
			proxy_id proxy_name step_uid`), addJobStep},
	"sp_add_jobschedule": {strings.Fields(`job_id job_name name enabled freq_type freq_interval freq_subday_type
			freq_subday_interval freq_relative_interval freq_recurrence_factor active_start_date active_end_date
			active_start_time active_end_time schedule_id automatic_post schedule_uid`), addJobSchedule},
	"sp_add_schedule": {strings.Fields(`schedule_name enabled freq_type freq_interval freq_subday_type
			freq_subday_interval freq_relative_interval freq_recurrence_factor active_start_date active_end_date
			active_start_time active_end_time owner_login_name schedule_uid schedule_id originating_server`), addSchedule},
	"sp_attach_schedule": {strings.Fields(`job_id job_name schedule_id schedule_name automatic_post`), attachSchedule},
	"sp_add_jobserver":   {strings.Fields(`job_id job_name server_name automatic_post`), addJobServer},
	"sp_apply_job_to_targets": {strings.Fields(`job_id job_name target_server_groups target_servers operation`),
		applyToTargets},
	"sp_add_category": {strings.Fields(`class type name`), addCategory},
	"sp_delete_job":   {strings.Fields(`job_id job_name originating_server delete_history delete_unused_schedule`), deleteJob},
	"sp_update_jobstep": {strings.Fields(`job_id job_name step_id step_name subsystem command additional_parameters
			cmdexec_success_code on_success_action on_success_step_id on_fail_action on_fail_step_id server
			database_name database_user_name retry_attempts retry_interval os_run_priority output_file_name flags
			proxy_id proxy_name`), updateJobStep},
}

// unsupportedProcedures are msdb procedures Import recognises but does not translate, with the
// reason.
var unsupportedProcedures = map[string]string{
	"sp_update_jobschedule":       "Import translates the schedules as sp_add_jobschedule creates them; edit the imported job instead",
	"sp_update_schedule":          "Import translates the schedules as sp_add_schedule creates them; edit the imported job instead",
	"sp_delete_jobstep":           "edit the imported job instead",
	"sp_delete_jobschedule":       "edit the imported job instead",
	"sp_delete_schedule":          "edit the imported job instead",
	"sp_detach_schedule":          "edit the imported job instead",
	"sp_delete_jobserver":         "set the job's targets instead",
	"sp_start_job":                "starting a job is an operation, not part of its definition; use msx to start it",
	"sp_stop_job":                 "stopping a job is an operation, not part of its definition",
	"sp_add_notification":         "msx does not import alerts yet; add them with msx alert add --notify OPERATOR=email",
	"sp_add_alert":                "msx does not import alerts yet; add them with msx alert add",
	"sp_update_alert":             "msx does not import alerts",
	"sp_add_operator":             "msx does not import operators yet; add them with msx operator add (the job keeps the operator names)",
	"sp_add_proxy":                "proxies are set up on each target; a step names its proxy by proxy_name",
	"sp_grant_proxy_to_subsystem": "proxies are set up on each target; a step names its proxy by proxy_name",
	"sp_add_targetservergroup":    "target server groups are managed with msx",
	"sp_add_targetsvrgrp_member":  "target server groups are managed with msx",
	"sp_msx_enlist":               "servers enlist with msx",
	"sp_delete_category":          "a category in msx is a name on the job",
	"sp_update_category":          "a category in msx is a name on the job",
}

// uncategorized are the names of SQL Server Agent's default categories: a job in one has no
// category in msx.
var uncategorized = []string{"[Uncategorized (Local)]", "[Uncategorized (Multi-Server)]", "[Uncategorized]"}

// IsUncategorized reports whether name (spaces around it and case aside) is one of SQL Server
// Agent's default categories, or empty: no category in msx.
func IsUncategorized(name string) bool {
	name = strings.TrimSpace(name)
	return name == "" || containsFold(uncategorized, name)
}

// NoDescription is the description SSMS writes (and msdb gives) a job that has none.
const NoDescription = "No description available."

// Reasons for parameters msx does not model, reported when their value is not empty. WhyNetSend
// is also msx migrate's.
const (
	WhyNetSend       = "net send notifications were removed from SQL Server, and msx does not send them"
	whyOrigin        = "the msx master is the originating server of every job it holds"
	whyAutomaticPost = "msx always sends job changes to the targets"
)

// job returns the job a call refers to by @job_id or @job_name, reporting why when there is
// none.
func (c *call) job() *jobState {
	if a := c.get("job_id"); a != nil && a.val.kind != valNull {
		switch a.val.kind {
		case valUnknown:
			c.p.problem(a.line, "%s not imported: the job it refers to is not known: %s", c.proc, a.val.s)
			return nil
		case valJob:
			if js := c.p.jobs[a.val.ref]; !js.deleted {
				return js
			}
			c.p.problem(a.line, "%s not imported: the job it refers to is deleted at line %d", c.proc, c.p.jobs[a.val.ref].deletedAt)
			return nil
		case valString, valNumber:
			id := strings.ToLower(strings.TrimSpace(a.val.s))
			for _, js := range c.p.jobs {
				if !js.deleted && slices.Contains(js.ids, id) {
					return js
				}
			}
			c.p.problem(a.line, "%s not imported: the job with id %s is not created in this script, and Import translates whole jobs", c.proc, a.val.text())
			return nil
		}
		if a.varTok.kind == kindVariable {
			c.p.problem(a.line, "%s not imported: %s holds no job created in this script (it is set by sp_add_job @job_id = %s OUTPUT)",
				c.proc, a.varTok.value, a.varTok.value)
		} else {
			c.p.problem(a.line, "%s not imported: @job_id %s is not a job created in this script", c.proc, a.val.text())
		}
		return nil
	}
	var name string
	if !c.str("job_name", &name) {
		c.p.problem(c.line, "%s not imported: it names no job (give @job_id or @job_name)", c.proc)
		return nil
	}
	if js := c.p.byName[nameKey(name)]; js != nil {
		return js
	}
	c.p.problem(c.line, "%s not imported: the job '%s' is not created in this script, and Import translates whole jobs", c.proc, name)
	return nil
}

func addJob(c *call) {
	var j jobs.Job
	if !c.str("job_name", &j.Name) {
		c.p.problem(c.line, "sp_add_job not imported: it has no @job_name")
		c.useAll()
		return
	}
	if js := c.p.byName[nameKey(j.Name)]; js != nil {
		c.p.problem(c.line, "sp_add_job not imported: the job '%s' is already created at line %d (SQL Server error 14261)", j.Name, js.line)
		c.useAll()
		c.bind("job_id", unknown("the sp_add_job at line %d that sets it was not imported", c.line))
		return
	}
	js := &jobState{line: c.line}
	c.p.jobs = append(c.p.jobs, js)
	c.p.byName[nameKey(j.Name)] = js
	c.jobHeader(&j)
	js.job = j
	if a := c.get("job_id"); a != nil {
		if !c.bind("job_id", value{kind: valJob, ref: len(c.p.jobs) - 1}) && (a.val.kind == valString || a.val.kind == valNumber) {
			js.ids = append(js.ids, strings.ToLower(strings.TrimSpace(a.val.s)))
			c.p.problem(a.line, "@job_id ignored: the msx master assigns job ids (later calls of this script may still use it)")
		}
	}
	c.unsupported("category_id", "category ids are local to a server; msx keeps the category by name (@category_name)")
	c.unsupported("originating_server", whyOrigin)
}

// jobHeader reads the parameters sp_add_job and sp_update_job share.
func (c *call) jobHeader(j *jobs.Job) {
	c.boolPtr("enabled", &j.Enabled)
	if c.str("description", &j.Description) && j.Description == NoDescription {
		j.Description = ""
	}
	c.num("start_step_id", &j.StartStepID)
	if c.str("category_name", &j.Category) && containsFold(uncategorized, j.Category) {
		j.Category = ""
	}
	c.str("owner_login_name", &j.Owner)
	c.numPtr("notify_level_eventlog", &j.NotifyLevelEventlog)
	c.num("notify_level_email", &j.NotifyLevelEmail)
	c.num("notify_level_page", &j.NotifyLevelPage)
	c.str("notify_email_operator_name", &j.NotifyEmailOperator)
	c.num("delete_level", &j.DeleteLevel)
	c.unsupported("notify_level_netsend", WhyNetSend)
	c.unsupported("notify_netsend_operator_name", WhyNetSend)
	c.str("notify_page_operator_name", &j.NotifyPageOperator)
}

func updateJob(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	var name string
	if c.str("new_name", &name) {
		if other := c.p.byName[nameKey(name)]; other != nil && other != js {
			c.p.problem(c.args["new_name"].line, "@new_name ignored: the job '%s' is already created at line %d (SQL Server error 14261)", name, other.line)
		} else {
			delete(c.p.byName, nameKey(js.job.Name))
			js.job.Name = name
			c.p.byName[nameKey(name)] = js
		}
	}
	c.jobHeader(&js.job)
	c.unsupported("automatic_post", whyAutomaticPost, "1")
}

// useAll marks every argument used, after a call that is not imported as a whole (and reported
// once).
func (c *call) useAll() {
	for _, a := range c.args {
		a.used = true
	}
}

func addJobStep(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	var s jobs.Step
	var id int
	idGiven := c.num("step_id", &id)
	c.stepFields(&s)
	if a := c.get("step_uid"); a != nil && !a.output {
		c.unsupported("step_uid", "msx identifies a step by its step_id")
	}

	steps := js.job.Steps
	n := len(steps)
	if !idGiven || id == 0 {
		id = n + 1
	}
	if id < 1 || id > n+1 {
		c.p.problem(c.args["step_id"].line, "@step_id %d is invalid: the job has %d steps, so a new step is 1..%d (SQL Server error 14266); "+
			"the step is added as step %d", id, n, n+1, n+1)
		id = n + 1
	}
	if id <= n {
		// sp_add_jobstep inserts: the steps from id on move down one, and go-to targets follow.
		for i := range steps {
			if steps[i].OnSuccessStepID >= id {
				steps[i].OnSuccessStepID++
			}
			if steps[i].OnFailStepID >= id {
				steps[i].OnFailStepID++
			}
		}
		steps = append(steps[:id-1], append([]jobs.Step{s}, steps[id-1:]...)...)
	} else {
		steps = append(steps, s)
	}
	for i := range steps {
		steps[i].StepID = i + 1
	}
	js.job.Steps = steps
}

// stepFields reads the parameters sp_add_jobstep and sp_update_jobstep share.
func (c *call) stepFields(s *jobs.Step) {
	c.str("step_name", &s.StepName)
	c.str("subsystem", &s.Subsystem)
	c.str("command", &s.Command)
	c.num("cmdexec_success_code", &s.CmdExecSuccessCode)
	c.num("on_success_action", &s.OnSuccessAction)
	c.num("on_success_step_id", &s.OnSuccessStepID)
	c.num("on_fail_action", &s.OnFailAction)
	c.num("on_fail_step_id", &s.OnFailStepID)
	c.str("database_name", &s.DatabaseName)
	c.num("retry_attempts", &s.RetryAttempts)
	c.num("retry_interval", &s.RetryInterval)
	c.str("output_file_name", &s.OutputFileName)
	c.num("flags", &s.Flags)
	c.str("proxy_name", &s.ProxyName)
	c.unsupported("additional_parameters", "msx does not use it (SQL Server Agent does not either)")
	c.unsupported("server", "msx runs a step on the target it is sent to")
	c.unsupported("database_user_name", "msx runs T-SQL steps as the agent's login; use EXECUTE AS USER in the command")
	c.unsupported("os_run_priority", "msx does not set OS priority")
	c.unsupported("proxy_id", "proxy ids are local to a server; give @proxy_name")
}

// updateJobStep changes the parameters given of an existing step; the others keep their values.
func updateJobStep(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	var id int
	if !c.num("step_id", &id) {
		c.p.problem(c.line, "sp_update_jobstep not imported: it has no @step_id")
		c.useAll()
		return
	}
	if id < 1 || id > len(js.job.Steps) {
		c.p.problem(c.args["step_id"].line, "sp_update_jobstep not imported: the job '%s' has no step %d (SQL Server error 14262)", js.job.Name, id)
		c.useAll()
		return
	}
	c.stepFields(&js.job.Steps[id-1])
}

// scheduleFields reads the freq_* and active_* parameters.
func (c *call) scheduleFields(s *schedule.Schedule) {
	c.boolPtr("enabled", &s.Enabled)
	c.num("freq_type", &s.FreqType)
	c.num("freq_interval", &s.FreqInterval)
	c.num("freq_subday_type", &s.FreqSubdayType)
	c.num("freq_subday_interval", &s.FreqSubdayInterval)
	c.num("freq_relative_interval", &s.FreqRelativeInterval)
	c.num("freq_recurrence_factor", &s.FreqRecurrenceFactor)
	c.num("active_start_date", &s.ActiveStartDate)
	c.num("active_end_date", &s.ActiveEndDate)
	c.num("active_start_time", &s.ActiveStartTime)
	c.num("active_end_time", &s.ActiveEndTime)
}

// scheduleUID returns the @schedule_uid given (lower case; "" when it is not a string), and
// whether one is given other than as an OUTPUT parameter.
func (c *call) scheduleUID() (uid string, given bool) {
	a := c.get("schedule_uid")
	if a == nil || a.output {
		return "", false
	}
	s, _ := text(a.val)
	return strings.ToLower(strings.TrimSpace(s)), true
}

func addJobSchedule(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	var s schedule.Schedule
	c.str("name", &s.Name)
	c.scheduleFields(&s)
	if uid, given := c.scheduleUID(); given && !c.p.attachShared(uid) {
		c.unsupported("schedule_uid", "msx identifies a schedule by its name in the job")
	}
	c.unsupported("automatic_post", whyAutomaticPost, "1")
	c.bind("schedule_id", unknown("it is the id of a schedule that sp_add_jobschedule attached to its job at line %d", c.line))
	js.job.Schedules = append(js.job.Schedules, s)
}

// attachShared marks attached the schedule of sp_add_schedule with the @schedule_uid an
// sp_add_jobschedule call gives: the job's copy of a shared schedule written before, as
// dbatools' Export-DbaScript writes them. It reports whether there is one.
func (p *parser) attachShared(uid string) bool {
	if uid == "" {
		return false
	}
	for _, ss := range p.scheds {
		if ss.uid == uid {
			ss.attached = true
			return true
		}
	}
	return false
}

func addSchedule(c *call) {
	ss := &schedState{line: c.line}
	c.str("schedule_name", &ss.s.Name)
	c.scheduleFields(&ss.s)
	// Kept to find the schedule when a job's sp_add_jobschedule gives the same uid.
	ss.uid, _ = c.scheduleUID()
	c.unsupported("owner_login_name", "an msx schedule belongs to its job and has no owner")
	c.unsupported("originating_server", whyOrigin)
	c.p.scheds = append(c.p.scheds, ss)
	c.bind("schedule_id", value{kind: valSchedule, ref: len(c.p.scheds) - 1})
}

func attachSchedule(c *call) {
	var ss *schedState
	if a := c.get("schedule_id"); a != nil && a.val.kind != valNull {
		switch a.val.kind {
		case valSchedule:
			ss = c.p.scheds[a.val.ref]
		case valUnknown:
			c.p.problem(a.line, "sp_attach_schedule not imported: the schedule it refers to is not known: %s", a.val.s)
			c.useAll()
			return
		default:
			c.p.problem(a.line, "sp_attach_schedule not imported: @schedule_id %s is not a schedule created in this script by sp_add_schedule", a.val.text())
			c.useAll()
			return
		}
	} else {
		var name string
		if !c.str("schedule_name", &name) {
			c.p.problem(c.line, "sp_attach_schedule not imported: it names no schedule (give @schedule_id or @schedule_name)")
			c.useAll()
			return
		}
		for i := len(c.p.scheds) - 1; i >= 0 && ss == nil; i-- {
			if strings.EqualFold(strings.TrimSpace(c.p.scheds[i].s.Name), strings.TrimSpace(name)) {
				ss = c.p.scheds[i]
			}
		}
		if ss == nil {
			c.p.problem(c.line, "sp_attach_schedule not imported: the schedule '%s' is not created in this script by sp_add_schedule", name)
			c.useAll()
			return
		}
	}
	c.get("schedule_name") // given with @schedule_id: the id wins
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	c.unsupported("automatic_post", whyAutomaticPost, "1")
	ss.attached = true
	// An msx schedule belongs to one job: each job the schedule is attached to gets a copy.
	s := ss.s
	if s.Enabled != nil {
		e := *s.Enabled
		s.Enabled = &e
	}
	js.job.Schedules = append(js.job.Schedules, s)
}

func addJobServer(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	c.unsupported("automatic_post", whyAutomaticPost, "1")
	a := c.known("server_name")
	if a == nil || a.val.kind == valNull || a.val.kind == valLocal {
		return // (local): the job runs where it is applied
	}
	if a.val.kind != valString {
		c.p.problem(a.line, "@server_name ignored: %s is not a server name", a.val.text())
		return
	}
	name := strings.TrimSpace(a.val.s)
	if strings.EqualFold(name, "(local)") || name == "" {
		return
	}
	js.job.Targets.Servers = append(js.job.Targets.Servers, name)
}

func applyToTargets(c *call) {
	js := c.job()
	if js == nil {
		c.useAll()
		return
	}
	var op string
	if c.str("operation", &op) && !strings.EqualFold(strings.TrimSpace(op), "APPLY") {
		c.p.problem(c.args["operation"].line, "sp_apply_job_to_targets @operation = '%s' not imported: Import adds targets (APPLY); "+
			"remove targets by editing the job", op)
		c.useAll()
		return
	}
	var servers, groups string
	c.str("target_servers", &servers)
	c.str("target_server_groups", &groups)
	js.job.Targets.Servers = append(js.job.Targets.Servers, splitList(servers)...)
	js.job.Targets.Groups = append(js.job.Targets.Groups, splitList(groups)...)
}

// nameKey is the key of a job name: SQL Server compares names ignoring case and trailing
// spaces; msx also ignores leading ones.
func nameKey(name string) string { return strings.ToUpper(strings.TrimSpace(name)) }

// splitList splits a comma-separated list, as sp_apply_job_to_targets does.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// addCategory accepts a job category: in msx a category is a name on the job, which sp_add_job
// and sp_update_job give with @category_name.
func addCategory(c *call) {
	var class string
	if c.str("class", &class) && !strings.EqualFold(strings.TrimSpace(class), "JOB") {
		c.p.problem(c.args["class"].line, "sp_add_category @class = '%s' not imported: msx has job categories only", class)
	}
	typ := 1
	var t string
	if c.str("type", &t) && strings.EqualFold(strings.TrimSpace(t), "MULTI-SERVER") { // every msx job can be sent to servers
		typ = 2
	}
	var name string
	if c.str("name", &name) {
		for _, cat := range c.p.categories {
			if cat.class == 1 && strings.EqualFold(strings.TrimSpace(cat.name), strings.TrimSpace(name)) {
				return // SQL Server refuses a second one (error 14261); the category is there
			}
		}
		c.p.categories = append(c.p.categories, category{name: name, class: 1, typ: typ})
	}
}

// deleteJob deletes a job the script created before (a script that drops and creates its jobs
// again); a job it did not create is not msx's to delete: that is reported.
func deleteJob(c *call) {
	var js *jobState
	if a := c.get("job_id"); a != nil && a.val.kind == valJob && !c.p.jobs[a.val.ref].deleted {
		js = c.p.jobs[a.val.ref]
	}
	var name string
	if js == nil && c.str("job_name", &name) {
		js = c.p.byName[nameKey(name)]
	}
	c.useAll()
	if js == nil {
		c.p.problem(c.line, "sp_delete_job not imported: it deletes a job this script does not create; delete jobs with msx job delete")
		return
	}
	js.deleted, js.deletedAt = true, c.line
	delete(c.p.byName, nameKey(js.job.Name))
}
