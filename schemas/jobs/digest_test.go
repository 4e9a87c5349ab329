package jobs

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/schedule"
)

func TestDigestStable(t *testing.T) {
	base := validJob()
	d := base.Digest()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(d) {
		t.Fatalf("Digest = %q, want 16 hex digits", d)
	}
	tests := []struct {
		name   string
		change func(j *Job)
	}{
		{"same job", func(j *Job) {}},
		{"job id", func(j *Job) { j.JobID = "0b0c6b0e-2a4a-4c57-a7a1-6f1f3f4f2a11" }},
		{"version number", func(j *Job) { j.VersionNumber = 42 }},
		{"targets", func(j *Job) { j.Targets = Targets{Servers: []string{"OTHER"}} }},
		{"no targets", func(j *Job) { j.Targets = Targets{} }},
		{"unset defaults", func(j *Job) {
			j.Enabled, j.NotifyLevelEventlog, j.StartStepID = nil, nil, 0
			j.Steps[0].Subsystem, j.Steps[0].DatabaseName, j.Steps[0].StepID = "", "", 0
			j.Steps[1].Subsystem = "CMDEXEC"
			j.Steps[1].OnFailAction = 0
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.change(&j)
			if got := j.Digest(); got != d {
				t.Errorf("Digest = %s, want %s", got, d)
			}
		})
	}
}

func TestDigestChanges(t *testing.T) {
	d := validJob().Digest()
	tests := []struct {
		name   string
		change func(j *Job)
	}{
		{"name", func(j *Job) { j.Name = "Other" }},
		{"disabled", func(j *Job) { j.Enabled = ptr(false) }},
		{"description", func(j *Job) { j.Description = "x" }},
		{"step command", func(j *Job) { j.Steps[1].Command += " -x" }},
		{"step timeout", func(j *Job) { j.Steps[0].Timeout = Duration(time.Minute) }},
		{"step retry", func(j *Job) { j.Steps[0].RetryAttempts = 1 }},
		{"step removed", func(j *Job) { j.Steps = j.Steps[:2] }},
		{"steps swapped", func(j *Job) { j.Steps[0], j.Steps[1] = j.Steps[1], j.Steps[0] }},
		{"schedule time", func(j *Job) { j.Schedules[0].ActiveStartTime = 10000 }},
		{"schedule disabled", func(j *Job) { j.Schedules[0].Enabled = ptr(false) }},
		{"schedule added", func(j *Job) { j.Schedules = append(j.Schedules, schedule.Schedule{Name: "x", Cron: "0 1 * * *"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.change(&j)
			if got := j.Digest(); got == d {
				t.Errorf("Digest unchanged (%s)", got)
			}
		})
	}
}

func TestDigestDoesNotModify(t *testing.T) {
	j := Job{
		Name:      "x",
		Steps:     []Step{{StepName: "a", Command: "c"}},
		Schedules: []schedule.Schedule{{Name: "s", FreqType: schedule.FreqDaily}},
		Targets:   Targets{Servers: []string{"sql01"}},
	}
	before := j.Clone()
	_ = j.Digest()
	if d := Diff(before, j); d != nil || j.Enabled != nil || j.Steps[0].Subsystem != "" || j.Schedules[0].ActiveStartDate != 0 ||
		!slices.Equal(j.Targets.Servers, []string{"sql01"}) {
		t.Errorf("Digest modified the job: %q %+v", d, j)
	}
}
