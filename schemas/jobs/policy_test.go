package jobs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidatePolicy(t *testing.T) {
	tests := []validateCase{
		{"defaults", func(j *Job) {}, "", ""},
		{"all set", func(j *Job) {
			j.Overlap, j.CatchUp, j.CatchUpWindow = OverlapReplace, CatchUpAll, Duration(2*time.Hour)
			j.OnSuccessStart, j.OnFailureStart = "Report", "Alert"
		}, "", ""},
		{"overlap", func(j *Job) { j.Overlap = "parallel" }, "overlap", "valid values are: skip, queue, replace"},
		{"overlap case", func(j *Job) { j.Overlap = "Skip" }, "overlap", "invalid"},
		{"catch up", func(j *Job) { j.CatchUp = "always" }, "catch_up", "valid values are: none, once, all"},
		{"negative window", func(j *Job) { j.CatchUp, j.CatchUpWindow = CatchUpOnce, Duration(-time.Hour) }, "catch_up_window", "negative"},
		{"window too long", func(j *Job) { j.CatchUp, j.CatchUpWindow = CatchUpAll, Duration(200*time.Hour) }, "catch_up_window", "the limit is 168h"},
		{"window without catch-up", func(j *Job) { j.CatchUpWindow = Duration(time.Hour) }, "catch_up_window", "catch_up is none"},
		{"chain to itself", func(j *Job) { j.OnFailureStart = " nightly " }, "on_failure_start", "cannot start itself"},
		{"chain name too long", func(j *Job) { j.OnSuccessStart = strings.Repeat("x", 200) }, "on_success_start", "the limit is 128"},
	}
	runValidateCases(t, tests)
}

func TestPolicyParsedAndDiffed(t *testing.T) {
	j, err := Parse([]byte("name: a\noverlap: queue\ncatch_up: all\ncatch_up_window: 2h\non_success_start: b\nsteps: [{step_name: s, command: c}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Overlap != OverlapQueue || j.CatchUp != CatchUpAll || j.Window() != 2*time.Hour || j.OnSuccessStart != "b" {
		t.Fatalf("parsed %+v", j.RunPolicy)
	}
	if _, err := Parse([]byte("name: a\novelrap: queue\nsteps: [{step_name: s, command: c}]\n")); err == nil ||
		!strings.Contains(err.Error(), `did you mean "overlap"?`) {
		t.Errorf("misspelt overlap: %v", err)
	}
	old := j.Clone()
	j.Overlap = OverlapReplace
	if d := Diff(old, j); !slices.Equal(d, []string{`overlap: "queue" -> "replace"`}) {
		t.Errorf("Diff = %q", d)
	}
	if old.Digest() == j.Digest() {
		t.Error("the overlap policy is not part of the digest")
	}
	var none Job
	if none.OverlapPolicy() != OverlapSkip || none.CatchUpPolicy() != CatchUpNone || none.Window() != DefaultCatchUpWindow {
		t.Errorf("defaults %q %q %s", none.OverlapPolicy(), none.CatchUpPolicy(), none.Window())
	}
}

func TestChainCycle(t *testing.T) {
	chain := func(name, success, failure string) Job {
		return Job{Name: name, RunPolicy: RunPolicy{OnSuccessStart: success, OnFailureStart: failure}}
	}
	tests := []struct {
		name string
		list []Job
		want []string
	}{
		{"none", []Job{chain("a", "", ""), chain("b", "", "")}, nil},
		{"a line", []Job{chain("a", "b", ""), chain("b", "c", ""), chain("c", "", "")}, nil},
		{"a tree", []Job{chain("a", "b", "c"), chain("b", "d", ""), chain("c", "d", ""), chain("d", "", "")}, nil},
		{"to a missing job", []Job{chain("a", "gone", "")}, nil},
		{"two", []Job{chain("a", "b", ""), chain("b", "", "A")}, []string{"a", "b", "a"}},
		{"three, on failure", []Job{chain("x", "", ""), chain("a", "", "b"), chain("b", "c", ""), chain("c", "", "a")}, []string{"a", "b", "c", "a"}},
		{"self", []Job{chain("a", "a", "")}, []string{"a", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChainCycle(tc.list); !slices.Equal(got, tc.want) {
				t.Errorf("ChainCycle = %q, want %q", got, tc.want)
			}
		})
	}
	var p RunPolicy
	p.OnSuccessStart, p.OnFailureStart = "ok", "bad"
	if p.Chain(RunSucceeded) != "ok" || p.Chain(RunFailed) != "bad" || p.Chain(RunCanceled) != "" {
		t.Errorf("Chain: %q %q %q", p.Chain(RunSucceeded), p.Chain(RunFailed), p.Chain(RunCanceled))
	}
}

func TestUnreachable(t *testing.T) {
	step := func(success, successID, fail, failID int) Step {
		return Step{StepName: "s", Command: "c", OnSuccessAction: success, OnSuccessStepID: successID, OnFailAction: fail, OnFailStepID: failID}
	}
	tests := []struct {
		name  string
		start int
		steps []Step
		want  []int
	}{
		{"one step", 0, []Step{step(0, 0, 0, 0)}, nil},
		{"defaults on step 1 of 3", 0, []Step{step(0, 0, 0, 0), step(0, 0, 0, 0), step(0, 0, 0, 0)}, []int{2, 3}},
		{"next step", 0, []Step{step(ActionNextStep, 0, 0, 0), step(ActionNextStep, 0, 0, 0), step(0, 0, 0, 0)}, nil},
		{"failure path", 0, []Step{step(0, 0, ActionGoToStep, 3), step(0, 0, 0, 0), step(0, 0, 0, 0)}, []int{2}},
		{"start at 2", 2, []Step{step(0, 0, 0, 0), step(ActionGoToStep, 1, 0, 0)}, nil},
		{"loop", 0, []Step{step(ActionGoToStep, 2, 0, 0), step(0, 0, ActionGoToStep, 1), step(0, 0, 0, 0)}, []int{3}},
		{"bad reference ignored", 0, []Step{step(ActionGoToStep, 9, 0, 0), step(0, 0, 0, 0)}, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{Name: "j", StartStepID: tc.start, Steps: tc.steps}
			if got := j.Unreachable(); !slices.Equal(got, tc.want) {
				t.Errorf("Unreachable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForTarget(t *testing.T) {
	j := validJob()
	j.DisabledOn = []string{`sql02\sales`}
	if got := j.ForTarget(`SQL02\SALES`); got.IsEnabled() {
		t.Error("a server in disabled_on gets the job enabled")
	}
	if got := j.ForTarget("SQL01"); !got.IsEnabled() {
		t.Error("a server not in disabled_on gets the job disabled")
	}
	if !j.IsEnabled() {
		t.Error("ForTarget changed the job")
	}
	j.DisabledOn = []string{"bad.name"}
	if p := j.Validate(); len(p) != 1 || p[0].Path != "disabled_on[0]" {
		t.Errorf("Validate = %v, want a problem at disabled_on[0]", p)
	}
}
