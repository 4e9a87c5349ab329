package jobs

import (
	"strings"
	"time"
)

// DefaultDatabase is the database a T-SQL step runs in when it names none.
const DefaultDatabase = "master"

// Normalize fills SQL Server Agent's defaults in place: enabled true, start_step_id 1,
// notify_level_eventlog 2 (on failure); for each step a missing step_id becomes its position
// (1..n, as sp_add_jobstep appends), subsystem TSQL (names are matched case-insensitively and
// written TSQL, CmdExec, PowerShell), database_name master for T-SQL steps, on_success_action 1
// (quit with success) and on_fail_action 2 (quit with failure). Each schedule is normalised with
// schedule.Schedule.Normalize(today). Target server names are trimmed and upper-cased, group names
// trimmed, and duplicates (compared case-insensitively) removed, keeping the first.
//
// Normalize never fails: values it cannot make sense of are left for Validate to report.
// Normalising a normalised job changes nothing.
func (j *Job) Normalize(today time.Time) {
	if j.Enabled == nil {
		t := true
		j.Enabled = &t
	}
	if j.StartStepID == 0 {
		j.StartStepID = 1
	}
	if j.NotifyLevelEventlog == nil {
		l := LevelOnFailure
		j.NotifyLevelEventlog = &l
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		if s.StepID == 0 {
			s.StepID = i + 1
		}
		s.Subsystem = canonicalSubsystem(s.Subsystem)
		if s.Subsystem == SubsystemTSQL && s.DatabaseName == "" {
			s.DatabaseName = DefaultDatabase
		}
		if s.OnSuccessAction == 0 {
			s.OnSuccessAction = ActionQuitSuccess
		}
		if s.OnFailAction == 0 {
			s.OnFailAction = ActionQuitFailure
		}
	}
	for i := range j.Schedules {
		j.Schedules[i].Normalize(today)
	}
	j.Targets.Servers = dedupe(j.Targets.Servers, func(s string) string {
		if c, err := CanonicalServerName(s); err == nil {
			return c
		}
		return strings.ToUpper(strings.TrimSpace(s))
	})
	j.Targets.Groups = dedupe(j.Targets.Groups, strings.TrimSpace)
	j.DisabledOn = dedupe(j.DisabledOn, func(s string) string {
		if c, err := CanonicalServerName(s); err == nil {
			return c
		}
		return strings.ToUpper(strings.TrimSpace(s))
	})
}

// canonicalSubsystem returns the msx spelling of a subsystem name, TSQL when it is empty, and
// the trimmed name when msx does not know it.
func canonicalSubsystem(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return SubsystemTSQL
	}
	for _, s := range subsystems {
		if strings.EqualFold(name, s) {
			return s
		}
	}
	return name
}

// subsystems are the subsystems msx runs.
var subsystems = []string{SubsystemTSQL, SubsystemCmdExec, SubsystemPowerShell}

// dedupe returns a new slice of the names after clean, without the ones equal (ignoring case)
// to an earlier one; nil when none is left. It never modifies names.
func dedupe(names []string, clean func(string) string) []string {
	var out []string
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = clean(n)
		k := strings.ToUpper(n)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, n)
	}
	return out
}
