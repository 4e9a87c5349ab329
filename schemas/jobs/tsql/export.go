package tsql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// exportDay is the date Export gives Normalize; the start dates it fills are not written (see
// Export), so the day does not show in the script.
var exportDay = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Export writes a job as the T-SQL script SQL Server Management Studio's "Script Job as CREATE"
// writes, so that it can be run on a plain SQL Server Agent: one transaction with @ReturnCode
// checks that creates the category if it is missing, then sp_add_job, sp_add_jobstep for each
// step, sp_update_job for the start step, sp_add_jobschedule for each schedule and
// sp_add_jobserver @server_name = N'(local)'. Strings are written as N'...' with quotes
// doubled. The job is exported with SQL Server Agent's defaults filled in (jobs.Job.Normalize);
// a schedule without active_start_date is written without it, so that SQL Server Agent starts it
// on the day the script runs, as msx does.
//
// An empty description is written as N'No description available.' and an empty category as
// N'[Uncategorized (Local)]', as SSMS writes them; Import reads both back as empty.
//
// What SQL Server Agent cannot express is left out of the script, noted in a comment where it
// would be, and returned as a warning: cron schedules, schedule time zones, step timeouts, step
// connection profiles, and the job's targets (the script creates a local job; run it on each target). Import(Export(j))
// gives back j, normalised, without those.
func Export(j jobs.Job) ([]byte, []string) {
	var warnings []string
	warn := func(format string, args ...any) string {
		w := fmt.Sprintf(format, args...)
		warnings = append(warnings, w)
		return w
	}
	starts := make([]bool, len(j.Schedules)) // which schedules have an active_start_date
	for i, s := range j.Schedules {
		starts[i] = s.ActiveStartDate != 0
	}
	j = j.Clone()
	j.Normalize(exportDay)

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	check := "IF (@@ERROR <> 0 OR @ReturnCode <> 0) GOTO QuitWithRollback\n"

	w("USE [msdb]\nGO\n\n")
	w("/****** Object:  Job [%s] ******/\n", commentText(j.Name))
	if len(j.Targets.Servers) > 0 || len(j.Targets.Groups) > 0 {
		w("-- %s\n", oneLine(warn("targets not exported: the script creates a job on the server it runs on; run it on %s",
			describeTargets(j.Targets))))
	}
	w("BEGIN TRANSACTION\nDECLARE @ReturnCode INT\nSELECT @ReturnCode = 0\n")
	category := j.Category
	if category == "" {
		category = uncategorized[0]
	}
	w("/****** Object:  JobCategory [%s] ******/\n", commentText(category))
	w("IF NOT EXISTS (SELECT name FROM msdb.dbo.syscategories WHERE name=%s AND category_class=1)\nBEGIN\n", quote(category))
	w("EXEC @ReturnCode = msdb.dbo.sp_add_category @class=N'JOB', @type=N'LOCAL', @name=%s\n%s\nEND\n\n", quote(category), check)

	description := j.Description
	if description == "" {
		description = NoDescription
	}
	params := []string{
		"@job_name=" + quote(j.Name),
		"@enabled=" + boolText(j.IsEnabled()),
		"@notify_level_eventlog=" + strconv.Itoa(*j.NotifyLevelEventlog),
		"@notify_level_email=" + strconv.Itoa(j.NotifyLevelEmail),
		"@notify_level_netsend=0",
		"@notify_level_page=" + strconv.Itoa(j.NotifyLevelPage),
		"@delete_level=" + strconv.Itoa(j.DeleteLevel),
		"@description=" + quote(description),
		"@category_name=" + quote(category),
	}
	params = appendString(params, "owner_login_name", j.Owner)
	params = appendString(params, "notify_email_operator_name", j.NotifyEmailOperator)
	params = appendString(params, "notify_page_operator_name", j.NotifyPageOperator)
	w("DECLARE @jobId BINARY(16)\nEXEC @ReturnCode =  msdb.dbo.sp_add_job %s, @job_id = @jobId OUTPUT\n%s",
		strings.Join(params, ", \n\t\t"), check)

	for i, s := range j.Steps {
		w("/****** Object:  Step [%s] ******/\n", commentText(s.StepName))
		if s.Timeout != 0 {
			w("-- %s\n", oneLine(warn("step %d (%s): timeout %s not exported: SQL Server Agent has no step timeout",
				i+1, s.StepName, time.Duration(s.Timeout))))
		}
		if s.ConnectionProfile != "" {
			w("-- %s\n", oneLine(warn("step %d (%s): connection profile %s not exported: SQL Server Agent runs T-SQL steps on its own instance",
				i+1, s.StepName, s.ConnectionProfile)))
		}
		params := []string{
			"@step_id=" + strconv.Itoa(s.StepID),
			"@cmdexec_success_code=" + strconv.Itoa(s.CmdExecSuccessCode),
			"@on_success_action=" + strconv.Itoa(s.OnSuccessAction),
			"@on_success_step_id=" + strconv.Itoa(s.OnSuccessStepID),
			"@on_fail_action=" + strconv.Itoa(s.OnFailAction),
			"@on_fail_step_id=" + strconv.Itoa(s.OnFailStepID),
			"@retry_attempts=" + strconv.Itoa(s.RetryAttempts),
			"@retry_interval=" + strconv.Itoa(s.RetryInterval),
			"@os_run_priority=0, @subsystem=" + quote(s.Subsystem),
			"@command=" + quote(s.Command),
		}
		params = appendString(params, "database_name", s.DatabaseName)
		params = appendString(params, "output_file_name", s.OutputFileName)
		params = append(params, "@flags="+strconv.Itoa(s.Flags))
		params = appendString(params, "proxy_name", s.ProxyName)
		w("EXEC @ReturnCode = msdb.dbo.sp_add_jobstep @job_id=@jobId, @step_name=%s, \n\t\t%s\n%s",
			quote(s.StepName), strings.Join(params, ", \n\t\t"), check)
	}
	w("EXEC @ReturnCode = msdb.dbo.sp_update_job @job_id = @jobId, @start_step_id = %d\n%s", j.StartStepID, check)

	for i, s := range j.Schedules {
		if s.Cron != "" {
			zone := ""
			if s.TimeZone != "" {
				zone = " in " + s.TimeZone
			}
			w("-- %s\n", oneLine(warn("schedule %q not exported: the cron schedule %q%s cannot be expressed as a SQL Server Agent schedule",
				s.Name, s.Cron, zone)))
			continue
		}
		if s.TimeZone != "" {
			w("-- %s\n", oneLine(warn("schedule %q: time zone %s not exported: SQL Server Agent runs schedules in the server's local time",
				s.Name, s.TimeZone)))
		}
		params := []string{
			"@enabled=" + boolText(s.IsEnabled()),
			"@freq_type=" + strconv.Itoa(s.FreqType),
			"@freq_interval=" + strconv.Itoa(s.FreqInterval),
			"@freq_subday_type=" + strconv.Itoa(s.FreqSubdayType),
			"@freq_subday_interval=" + strconv.Itoa(s.FreqSubdayInterval),
			"@freq_relative_interval=" + strconv.Itoa(s.FreqRelativeInterval),
			"@freq_recurrence_factor=" + strconv.Itoa(s.FreqRecurrenceFactor),
		}
		if starts[i] {
			params = append(params, "@active_start_date="+strconv.Itoa(s.ActiveStartDate))
		}
		params = append(params,
			"@active_end_date="+strconv.Itoa(s.ActiveEndDate),
			"@active_start_time="+strconv.Itoa(s.ActiveStartTime),
			"@active_end_time="+strconv.Itoa(s.ActiveEndTime))
		w("EXEC @ReturnCode = msdb.dbo.sp_add_jobschedule @job_id=@jobId, @name=%s, \n\t\t%s\n%s",
			quote(s.Name), strings.Join(params, ", \n\t\t"), check)
	}
	w("EXEC @ReturnCode = msdb.dbo.sp_add_jobserver @job_id = @jobId, @server_name = N'(local)'\n%s", check)
	w("COMMIT TRANSACTION\nGOTO EndSave\nQuitWithRollback:\n    IF (@@TRANCOUNT > 0) ROLLBACK TRANSACTION\nEndSave:\nGO\n")
	return []byte(b.String()), warnings
}

// quote writes s as a Unicode string literal.
func quote(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

func appendString(params []string, name, v string) []string {
	if v == "" {
		return params
	}
	return append(params, "@"+name+"="+quote(v))
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// oneLine makes s safe in a -- comment: one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// commentText makes s safe inside a /* */ comment: one line, and no /* or */ (T-SQL block
// comments nest, so either would change where the comment ends).
func commentText(s string) string {
	s = oneLine(s)
	for strings.Contains(s, "/*") || strings.Contains(s, "*/") {
		s = strings.NewReplacer("/*", "/ *", "*/", "* /").Replace(s)
	}
	return s
}

func describeTargets(t jobs.Targets) string {
	var parts []string
	if len(t.Servers) > 0 {
		parts = append(parts, "the servers "+strings.Join(t.Servers, ", "))
	}
	if len(t.Groups) > 0 {
		parts = append(parts, "the servers of the groups "+strings.Join(t.Groups, ", "))
	}
	return strings.Join(parts, " and ")
}
