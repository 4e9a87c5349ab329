package jobs

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/problem"
)

// SQL Server message numbers used as problem codes, with the text SQL Server gives them.
const (
	// codeInvalidSubsystem: "The specified '%s' is invalid (valid values are returned by %s)."
	codeInvalidSubsystem = 14234
	// codeStepRefSelf: "The specified '%s' is invalid (valid values are greater than 0 but
	// excluding %ld)."
	codeStepRefSelf = 14235
	// codeExists: "The specified %s ('%s') already exists."
	codeExists = 14261
	// codeNotExist: "The specified %s ('%s') does not exist."
	codeNotExist = 14262
	// codeInvalidValue: "The specified '%s' is invalid (valid values are: %s)."
	codeInvalidValue = 14266
	// codeCommas: "'%s' cannot contain commas."
	codeCommas = 14289
	// codeProxyTSQL: "A proxy account is not allowed for a Transact-SQL subsystem."
	codeProxyTSQL = 14517
)

// Limits from msdb's column types and sp_verify_jobstep.
const (
	MaxDescriptionLen = 512 // sysjobs.description nvarchar(512)
	// MaxCommandBytes bounds a step's command (msdb's is nvarchar(max)): a job travels to its
	// targets as one message, and the API takes documents of at most 1 MiB.
	MaxCommandBytes = 512 << 10
	maxRetry        = 9999 // retry_attempts and retry_interval: 0..9999
	validFlags      = 2 | 4 | 8 | 16 | 32 | 64
)

// unsupportedSubsystems are SQL Server Agent subsystems that msx does not run, so that a job
// using one gets "not supported by msx" rather than "unknown".
var unsupportedSubsystems = []string{
	"ActiveScripting", "ANALYSISCOMMAND", "ANALYSISQUERY", "Distribution", "Dts", "LogReader",
	"Merge", "QueueReader", "Snapshot", "SSIS",
}

// Validate returns every problem with the job at once, nil when there is none. Paths are
// document paths with 0-based indices ("steps[1].on_fail_step_id" is the second step), and codes
// are SQL Server's message numbers where SQL Server has one for the condition (see the code*
// constants). Zero values that Normalize would fill (a missing step_id, action or subsystem)
// are accepted, but call Normalize first so that the job checked is the job stored.
//
// Whether target servers and groups exist is the master's knowledge: see CheckTargets.
func (j Job) Validate() problem.List {
	var l problem.List
	checkName(&l, "name", "job", j.Name)
	if utf8.RuneCountInString(j.Description) > MaxDescriptionLen {
		l.Add("description", 0, "the description is %d characters long; the limit is %d",
			utf8.RuneCountInString(j.Description), MaxDescriptionLen)
	}
	if j.NotifyLevelEventlog != nil {
		checkLevel(&l, "notify_level_eventlog", *j.NotifyLevelEventlog)
	}
	checkLevel(&l, "notify_level_email", j.NotifyLevelEmail)
	checkLevel(&l, "notify_level_page", j.NotifyLevelPage)
	checkLevel(&l, "notify_level_webhook", j.NotifyLevelWebhook)
	for _, f := range [][2]string{{"notify_email_operator_name", j.NotifyEmailOperator},
		{"notify_page_operator_name", j.NotifyPageOperator}, {"notify_webhook_operator_name", j.NotifyWebhookOperator}} {
		if utf8.RuneCountInString(f[1]) > MaxNameLen {
			l.Add(f[0], 0, "the operator name is %d characters long; the limit is %d", utf8.RuneCountInString(f[1]), MaxNameLen)
		}
	}
	if g := time.Duration(j.NotifyMissedRunGrace); g < 0 || (g > 0 && g < time.Minute) || g > 7*24*time.Hour {
		l.Add("notify_missed_run_grace", codeInvalidValue, "The specified 'notify_missed_run_grace' (%s) is invalid (valid values are: 1m to 168h, or 0 for none)", g)
	}
	if j.NotifyAfterFailures < 0 || j.NotifyAfterFailures > MaxNotifyAfterFailures {
		l.Add("notify_after_failures", codeInvalidValue, "The specified 'notify_after_failures' (%d) is invalid (valid values are: 1..%d failures in a row, 0 for the default 1)", j.NotifyAfterFailures, MaxNotifyAfterFailures)
	}
	checkLevel(&l, "delete_level", j.DeleteLevel)
	validatePolicy(&l, j)
	validateVars(&l, j)

	n := len(j.Steps)
	if n == 0 {
		l.Add("steps", 0, "a job needs at least one step")
	} else if start := cmp0(j.StartStepID, 1); start < 1 || start > n {
		l.Add("start_step_id", codeNotExist, "The specified start_step_id ('%d') does not exist: the job has steps 1..%d", start, n)
	}
	names := map[string]int{}
	for i, s := range j.Steps {
		validateStep(&l, s, i, n, names)
	}

	scheds := map[string]int{}
	for i, s := range j.Schedules {
		path := fmt.Sprintf("schedules[%d]", i)
		if s.Name != "" {
			key := strings.ToUpper(strings.TrimSpace(s.Name))
			if first, dup := scheds[key]; dup {
				l.Add(problem.Join(path, "name"), codeExists,
					"The specified schedule name ('%s') already exists (schedules[%d]); give each schedule of a job its own name", s.Name, first)
			} else {
				scheds[key] = i
			}
		}
		l = append(l, s.Validate(path)...)
	}

	for i, s := range j.Targets.Servers {
		if err := ValidServerName(s); err != nil {
			l.Add(fmt.Sprintf("targets.servers[%d]", i), 0, "%s", err.Error())
		}
	}
	for i, g := range j.Targets.Groups {
		path := fmt.Sprintf("targets.groups[%d]", i)
		checkName(&l, path, "target server group", g)
		if strings.Contains(g, ",") {
			l.Add(path, codeCommas, "'%s' cannot contain commas: a target server group name has no commas", g)
		}
	}
	return l
}

func validateStep(l *problem.List, s Step, i, n int, names map[string]int) {
	path := fmt.Sprintf("steps[%d]", i)
	at := func(field string) string { return problem.Join(path, field) }
	id := cmp0(s.StepID, i+1)
	if id != i+1 {
		l.Add(at("step_id"), codeInvalidValue,
			"The specified 'step_id' (%d) is invalid (valid values are: %d): steps are numbered 1..%d in the order they are listed", s.StepID, i+1, n)
	}
	checkName(l, at("step_name"), "step", s.StepName)
	if s.StepName != "" {
		key := strings.ToUpper(s.StepName)
		if first, dup := names[key]; dup {
			l.Add(at("step_name"), codeExists,
				"The specified step_name ('%s') already exists (steps[%d]); step names are unique in a job, ignoring case", s.StepName, first)
		} else {
			names[key] = i
		}
	}
	sub := canonicalSubsystem(s.Subsystem)
	switch {
	case isOneOf(sub, subsystems):
	case isOneOf(sub, unsupportedSubsystems):
		l.Add(at("subsystem"), 0, "the %s subsystem is not supported by msx: msx runs TSQL, CmdExec and PowerShell steps", sub)
	default:
		l.Add(at("subsystem"), codeInvalidSubsystem,
			"The specified 'subsystem' ('%s') is invalid (valid values are: TSQL, CmdExec, PowerShell)", s.Subsystem)
	}
	if strings.TrimSpace(s.Command) == "" {
		l.Add(at("command"), 0, "a step needs a command")
	} else if len(s.Command) > MaxCommandBytes {
		l.Add(at("command"), 0, "the command is %d bytes long; the limit is %d bytes (512 KiB): put a long script in a file the step runs",
			len(s.Command), MaxCommandBytes)
	}
	if utf8.RuneCountInString(s.DatabaseName) > MaxNameLen {
		l.Add(at("database_name"), 0, "the database name is longer than %d characters", MaxNameLen)
	}
	checkAction(l, path, "on_success", s.OnSuccessAction, s.OnSuccessStepID, id, n)
	checkAction(l, path, "on_fail", s.OnFailAction, s.OnFailStepID, id, n)
	if s.RetryAttempts < 0 || s.RetryAttempts > maxRetry {
		l.Add(at("retry_attempts"), codeInvalidValue, "The specified 'retry_attempts' (%d) is invalid (valid values are: 0..%d)", s.RetryAttempts, maxRetry)
	}
	if s.RetryInterval < 0 || s.RetryInterval > maxRetry {
		l.Add(at("retry_interval"), codeInvalidValue, "The specified 'retry_interval' (%d) is invalid (valid values are: 0..%d minutes)", s.RetryInterval, maxRetry)
	}
	if s.Flags < 0 || s.Flags&^validFlags != 0 {
		l.Add(at("flags"), codeInvalidValue, "The specified 'flags' (%d) is invalid (valid values are: a sum of 2, 4, 8, 16, 32, 64, or 0)", s.Flags)
	}
	if s.ProxyName != "" && sub == SubsystemTSQL {
		l.Add(at("proxy_name"), codeProxyTSQL,
			"A proxy account is not allowed for a Transact-SQL subsystem: remove proxy_name, or use EXECUTE AS in the command")
	}
	if s.ConnectionProfile != "" && sub != SubsystemTSQL {
		l.Add(at("connection_profile"), 0,
			"a connection profile is for Transact-SQL steps only; a %s step names the account it runs as with proxy_name", sub)
	}
	if utf8.RuneCountInString(s.ConnectionProfile) > MaxNameLen {
		l.Add(at("connection_profile"), 0, "the connection profile name is longer than %d characters", MaxNameLen)
	}
	if s.Timeout < 0 {
		l.Add(at("timeout"), 0, "the timeout is negative; give a duration such as \"30m\", or leave it out for no limit")
	}
}

// checkAction checks on_success_action/on_fail_action (prefix "on_success" or "on_fail") and,
// for action 4, the step it goes to.
func checkAction(l *problem.List, path, prefix string, action, target, self, n int) {
	if action == 0 {
		return // Normalize's default
	}
	if action < ActionQuitSuccess || action > ActionGoToStep {
		l.Add(problem.Join(path, prefix+"_action"), codeInvalidValue,
			"The specified '%s_action' (%d) is invalid (valid values are: 1 quit with success, 2 quit with failure, 3 go to the next step, 4 go to step %s_step_id)",
			prefix, action, prefix)
		return
	}
	if action != ActionGoToStep {
		return
	}
	field := prefix + "_step_id"
	switch {
	case target < 1 || target == self:
		l.Add(problem.Join(path, field), codeStepRefSelf,
			"The specified '%s' (%d) is invalid (valid values are greater than 0 but excluding %d): action 4 goes to another step of the job", field, target, self)
	case target > n:
		l.Add(problem.Join(path, field), codeNotExist, "The specified %s ('%d') does not exist: the job has steps 1..%d", field, target, n)
	}
}

func checkLevel(l *problem.List, field string, v int) {
	if v < LevelNever || v > LevelAlways {
		l.Add(field, codeInvalidValue, "The specified '%s' (%d) is invalid (valid values are: 0 never, 1 on success, 2 on failure, 3 always)", field, v)
	}
}

// checkName reports an empty name or one longer than a sysname.
func checkName(l *problem.List, path, what, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		l.Add(path, 0, "a %s needs a name", what)
	case utf8.RuneCountInString(name) > MaxNameLen:
		l.Add(path, 0, "the %s name is %d characters long; the limit is %d", what, utf8.RuneCountInString(name), MaxNameLen)
	}
}

// cmp0 returns v, or def when v is zero (unset).
func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func isOneOf(s string, set []string) bool {
	for _, v := range set {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// CheckTargets reports, with code 14262, each target server for which serverExists returns false
// and each group for which groupExists returns false, at paths "targets.servers[i]" and
// "targets.groups[i]". Servers are looked up by canonical name; names that are not valid are
// skipped (Validate reports them). A nil function skips that check. The master calls it with its
// registry of enlisted servers and groups.
func (j Job) CheckTargets(serverExists, groupExists func(string) bool) problem.List {
	var l problem.List
	if serverExists != nil {
		for i, s := range j.Targets.Servers {
			c, err := CanonicalServerName(s)
			if err != nil || serverExists(c) {
				continue
			}
			l.Add(fmt.Sprintf("targets.servers[%d]", i), codeNotExist,
				"The specified target server ('%s') does not exist: enlist it first, or correct the name", c)
		}
	}
	if groupExists != nil {
		for i, g := range j.Targets.Groups {
			g = strings.TrimSpace(g)
			if g == "" || groupExists(g) {
				continue
			}
			l.Add(fmt.Sprintf("targets.groups[%d]", i), codeNotExist,
				"The specified target server group ('%s') does not exist: create it first, or correct the name", g)
		}
	}
	return l
}
