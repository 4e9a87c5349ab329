package jobs

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/problem"
	"github.com/msx-project/msx/schemas/schedule"
)

var testToday = time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)

// validJob returns a normalised three-step job that Validate accepts.
func validJob() Job {
	j := Job{
		Name: "Nightly",
		Steps: []Step{
			{StepID: 1, StepName: "load", Command: "EXEC etl.Load;", OnSuccessAction: ActionNextStep, OnFailAction: ActionGoToStep, OnFailStepID: 3},
			{StepID: 2, StepName: "export", Subsystem: SubsystemCmdExec, Command: "bcp ...", ProxyName: "etl", OnSuccessAction: ActionQuitSuccess},
			{StepID: 3, StepName: "alert", Command: "EXEC dbo.Alert;", OnSuccessAction: ActionQuitFailure},
		},
		Schedules: []schedule.Schedule{
			{Name: "nightly", FreqType: schedule.FreqDaily, FreqInterval: 1, ActiveStartTime: 230000},
			{Name: "weekly", FreqType: schedule.FreqWeekly, FreqInterval: 1, FreqRecurrenceFactor: 1},
		},
		Targets: Targets{Servers: []string{"SQL01", `SQL02\SALES`}, Groups: []string{"Production"}},
	}
	j.Normalize(testToday)
	return j
}

func ptr[T any](v T) *T { return &v }

func TestValidateValid(t *testing.T) {
	if probs := validJob().Validate(); len(probs) != 0 {
		t.Fatalf("Validate: %v", probs.Err())
	}
	// Zero values that Normalize fills are accepted before normalising too.
	raw := Job{Name: "x", Steps: []Step{{StepName: "a", Command: "c"}, {StepName: "b", Command: "c"}}}
	if probs := raw.Validate(); len(probs) != 0 {
		t.Fatalf("Validate before Normalize: %v", probs.Err())
	}
}

// validateCases has one case per rule: a change to validJob and the problem it must cause.
var validateCases = []struct {
	name   string
	change func(j *Job)
	path   string
	code   int
	inMsg  string
}{
	{"name required", func(j *Job) { j.Name = "" }, "name", 0, "needs a name"},
	{"name blank", func(j *Job) { j.Name = "  " }, "name", 0, "needs a name"},
	{"name too long", func(j *Job) { j.Name = strings.Repeat("n", 129) }, "name", 0, "limit is 128"},
	{"description too long", func(j *Job) { j.Description = strings.Repeat("d", 513) }, "description", 0, "512"},
	{"notify eventlog level", func(j *Job) { j.NotifyLevelEventlog = ptr(4) }, "notify_level_eventlog", 14266, "0 never"},
	{"notify email level", func(j *Job) { j.NotifyLevelEmail = -1 }, "notify_level_email", 14266, ""},
	{"notify page level", func(j *Job) { j.NotifyLevelPage = 9 }, "notify_level_page", 14266, ""},
	{"notify webhook level", func(j *Job) { j.NotifyLevelWebhook = 4 }, "notify_level_webhook", 14266, ""},
	{"notify after failures", func(j *Job) { j.NotifyAfterFailures = -2 }, "notify_after_failures", 14266, "1..10000"},
	{"missed run grace too short", func(j *Job) { j.NotifyMissedRunGrace = Duration(time.Second) }, "notify_missed_run_grace", 14266, "1m to 168h"},
	{"webhook operator too long", func(j *Job) { j.NotifyWebhookOperator = strings.Repeat("o", 129) }, "notify_webhook_operator_name", 0, "limit is 128"},
	{"delete level", func(j *Job) { j.DeleteLevel = 4 }, "delete_level", 14266, ""},
	{"no steps", func(j *Job) { j.Steps = nil }, "steps", 0, "at least one step"},
	{"start step missing", func(j *Job) { j.StartStepID = 4 }, "start_step_id", 14262, "('4') does not exist"},
	{"start step negative", func(j *Job) { j.StartStepID = -1 }, "start_step_id", 14262, ""},
	{"step id gap", func(j *Job) { j.Steps[2].StepID = 4 }, "steps[2].step_id", 14266, "1..3"},
	{"step id duplicate", func(j *Job) { j.Steps[1].StepID = 1 }, "steps[1].step_id", 14266, ""},
	{"step name required", func(j *Job) { j.Steps[1].StepName = "" }, "steps[1].step_name", 0, "needs a name"},
	{"step name too long", func(j *Job) { j.Steps[1].StepName = strings.Repeat("s", 129) }, "steps[1].step_name", 0, "limit is 128"},
	{"step name duplicate ignoring case", func(j *Job) { j.Steps[2].StepName = "LOAD" }, "steps[2].step_name", 14261, "already exists (steps[0])"},
	{"subsystem unknown", func(j *Job) { j.Steps[0].Subsystem = "Python" }, "steps[0].subsystem", 14234, "'Python'"},
	{"subsystem not supported", func(j *Job) { j.Steps[0].Subsystem = "ssis" }, "steps[0].subsystem", 0, "not supported by msx"},
	{"command required", func(j *Job) { j.Steps[0].Command = " \n" }, "steps[0].command", 0, "needs a command"},
	{"database name too long", func(j *Job) { j.Steps[0].DatabaseName = strings.Repeat("d", 129) }, "steps[0].database_name", 0, ""},
	{"on success action", func(j *Job) { j.Steps[0].OnSuccessAction = 5 }, "steps[0].on_success_action", 14266, "go to step"},
	{"on fail action", func(j *Job) { j.Steps[0].OnFailAction = -2 }, "steps[0].on_fail_action", 14266, ""},
	{"go to self", func(j *Job) { j.Steps[0].OnFailStepID = 1 }, "steps[0].on_fail_step_id", 14235, "excluding 1"},
	{"go to step zero", func(j *Job) { j.Steps[0].OnFailStepID = 0 }, "steps[0].on_fail_step_id", 14235, ""},
	{"go to missing step", func(j *Job) { j.Steps[0].OnFailStepID = 9 }, "steps[0].on_fail_step_id", 14262, "('9') does not exist"},
	{
		"on success go to self", func(j *Job) { j.Steps[1].OnSuccessAction, j.Steps[1].OnSuccessStepID = ActionGoToStep, 2 },
		"steps[1].on_success_step_id", 14235, "",
	},
	{"retry attempts negative", func(j *Job) { j.Steps[0].RetryAttempts = -1 }, "steps[0].retry_attempts", 14266, "0..9999"},
	{"retry attempts too many", func(j *Job) { j.Steps[0].RetryAttempts = 10000 }, "steps[0].retry_attempts", 14266, ""},
	{"retry interval negative", func(j *Job) { j.Steps[0].RetryInterval = -5 }, "steps[0].retry_interval", 14266, "minutes"},
	{"flags", func(j *Job) { j.Steps[0].Flags = 1 }, "steps[0].flags", 14266, ""},
	{"proxy on tsql", func(j *Job) { j.Steps[0].ProxyName = "etl" }, "steps[0].proxy_name", 14517, "Transact-SQL"},
	{"timeout negative", func(j *Job) { j.Steps[0].Timeout = Duration(-time.Second) }, "steps[0].timeout", 0, "negative"},
	{"connection profile on cmdexec", func(j *Job) { j.Steps[1].ConnectionProfile = "warehouse" }, "steps[1].connection_profile", 0, "Transact-SQL steps only"},
	{"connection profile too long", func(j *Job) { j.Steps[0].ConnectionProfile = strings.Repeat("p", 129) }, "steps[0].connection_profile", 0, "longer than 128"},
	{"schedule name duplicate", func(j *Job) { j.Schedules[1].Name = "NIGHTLY" }, "schedules[1].name", 14261, "already exists"},
	{"server name invalid", func(j *Job) { j.Targets.Servers[1] = "sql02.corp.local" }, "targets.servers[1]", 0, "hyphens"},
	{"server name empty", func(j *Job) { j.Targets.Servers[0] = "" }, "targets.servers[0]", 0, "empty"},
	{"group name empty", func(j *Job) { j.Targets.Groups[0] = "" }, "targets.groups[0]", 0, "needs a name"},
	{"group name comma", func(j *Job) { j.Targets.Groups[0] = "East,West" }, "targets.groups[0]", 14289, "commas"},
	{"group name too long", func(j *Job) { j.Targets.Groups[0] = strings.Repeat("g", 129) }, "targets.groups[0]", 0, ""},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.change(&j)
			probs := j.Validate()
			i := slices.IndexFunc(probs, func(p problem.Problem) bool { return p.Path == tc.path })
			if i < 0 {
				t.Fatalf("no problem at %s; got %v", tc.path, probs)
			}
			if p := probs[i]; p.Code != tc.code || !strings.Contains(p.Message, tc.inMsg) {
				t.Errorf("problem = %+v, want code %d and a message containing %q", p, tc.code, tc.inMsg)
			}
			if len(probs) != 1 {
				t.Errorf("got %d problems, want 1: %v", len(probs), probs)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	j := validJob()
	for _, tc := range validateCases {
		if tc.name == "no steps" {
			continue
		}
		tc.change(&j)
	}
	probs := j.Validate()
	if len(probs) < 20 {
		t.Errorf("got %d problems for every rule broken at once, want many:\n%v", len(probs), probs.Err())
	}
}

func TestValidateSchedules(t *testing.T) {
	j := validJob()
	// A schedule problem comes from schedule.Validate under the schedule's path.
	j.Schedules[1].FreqType = 3
	probs := j.Validate()
	if len(probs) == 0 || !strings.HasPrefix(probs[0].Path, "schedules[1]") {
		t.Fatalf("problems = %v, want one under schedules[1]", probs)
	}
}

func TestCheckTargets(t *testing.T) {
	known := map[string]bool{"SQL01": true, `SQL02\SALES`: true, "Production": true}
	exists := func(s string) bool { return known[s] }
	tests := []struct {
		name    string
		targets Targets
		want    []string // "path code"
	}{
		{"all known", Targets{Servers: []string{"sql01", ` sql02\sales`}, Groups: []string{"Production"}}, nil},
		{"unknown server", Targets{Servers: []string{"SQL01", "SQL09"}}, []string{"targets.servers[1] 14262"}},
		{"unknown group", Targets{Groups: []string{"Production", "Test"}}, []string{"targets.groups[1] 14262"}},
		{"both", Targets{Servers: []string{"X"}, Groups: []string{"Y"}}, []string{"targets.servers[0] 14262", "targets.groups[0] 14262"}},
		{"invalid names are for Validate", Targets{Servers: []string{"a.b"}, Groups: []string{""}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{Targets: tc.targets}
			var got []string
			for _, p := range j.CheckTargets(exists, exists) {
				got = append(got, fmt.Sprintf("%s %d", p.Path, p.Code))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("CheckTargets = %q, want %q", got, tc.want)
			}
		})
	}
	if probs := (Job{Targets: Targets{Servers: []string{"X"}}}).CheckTargets(nil, nil); probs != nil {
		t.Errorf("nil functions: got %v", probs)
	}
}

func TestNormalize(t *testing.T) {
	j := Job{
		Name: "n",
		Steps: []Step{
			{StepName: "a", Command: "c"},
			{StepName: "b", Command: "c", Subsystem: " cmdexec "},
			{StepName: "c", Command: "c", Subsystem: "POWERSHELL", OnSuccessAction: 3, OnFailAction: 1},
			{StepName: "d", Command: "c", Subsystem: "tsql", DatabaseName: "DBA"},
			{StepName: "e", Command: "c", Subsystem: "SSIS"},
		},
		Schedules: []schedule.Schedule{{Name: "s", FreqType: schedule.FreqDaily, FreqInterval: 1}},
		Targets: Targets{
			Servers: []string{" sql01", `Sql02\Sales`, "SQL01", `sql02\SALES `, "bad.name"},
			Groups:  []string{" Prod ", "prod", "Test"},
		},
	}
	orig := slices.Clone(j.Targets.Servers)
	j.Normalize(testToday)

	if !j.IsEnabled() || j.StartStepID != 1 || j.NotifyLevelEventlog == nil || *j.NotifyLevelEventlog != 2 {
		t.Errorf("job defaults: enabled %v start %d eventlog %v", j.IsEnabled(), j.StartStepID, j.NotifyLevelEventlog)
	}
	wantSteps := []struct {
		id                int
		subsystem, db     string
		onSuccess, onFail int
	}{
		{1, "TSQL", "master", 1, 2},
		{2, "CmdExec", "", 1, 2},
		{3, "PowerShell", "", 3, 1},
		{4, "TSQL", "DBA", 1, 2},
		{5, "SSIS", "", 1, 2},
	}
	for i, w := range wantSteps {
		s := j.Steps[i]
		if s.StepID != w.id || s.Subsystem != w.subsystem || s.DatabaseName != w.db || s.OnSuccessAction != w.onSuccess || s.OnFailAction != w.onFail {
			t.Errorf("steps[%d] = %+v, want %+v", i, s, w)
		}
	}
	if want := []string{"SQL01", `SQL02\SALES`, "BAD.NAME"}; !slices.Equal(j.Targets.Servers, want) {
		t.Errorf("servers = %q, want %q", j.Targets.Servers, want)
	}
	if want := []string{"Prod", "Test"}; !slices.Equal(j.Targets.Groups, want) {
		t.Errorf("groups = %q, want %q", j.Targets.Groups, want)
	}
	if orig[0] != " sql01" {
		t.Errorf("Normalize changed the caller's server slice: %q", orig)
	}
	if j.Schedules[0].ActiveStartDate == 0 {
		t.Errorf("schedule not normalised: %+v", j.Schedules[0])
	}

	again := j.Clone()
	again.Normalize(testToday.AddDate(0, 0, 7))
	if d := Diff(j, again); d != nil {
		t.Errorf("Normalize is not idempotent: %q", d)
	}
}

func TestNormalizeKeepsExplicitValues(t *testing.T) {
	j := Job{Enabled: ptr(false), StartStepID: 2, NotifyLevelEventlog: ptr(0)}
	j.Normalize(testToday)
	if j.IsEnabled() || j.StartStepID != 2 || *j.NotifyLevelEventlog != 0 {
		t.Errorf("explicit values overwritten: %+v", j)
	}
}
