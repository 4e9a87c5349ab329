package jobs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/schedule"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(j *Job)
		want   []string
	}{
		{"same", func(j *Job) {}, nil},
		{"ignores master fields", func(j *Job) { j.JobID, j.VersionNumber = "abc", 7 }, nil},
		{"enabled", func(j *Job) { j.Enabled = ptr(false) }, []string{"enabled: true -> false"}},
		{"name", func(j *Job) { j.Name = "Nightly v2" }, []string{`name: "Nightly" -> "Nightly v2"`}},
		{"long description", func(j *Job) { j.Description = strings.Repeat("words ", 20) }, []string{"description changed"}},
		{"event log level", func(j *Job) { j.NotifyLevelEventlog = ptr(3) }, []string{"notify_level_eventlog: 2 -> 3"}},
		{"step command", func(j *Job) { j.Steps[2].Command = "EXEC dbo.Alert2;" }, []string{`steps[2].command: "EXEC dbo.Alert;" -> "EXEC dbo.Alert2;"`}},
		{"multi-line command", func(j *Job) { j.Steps[1].Command = "bcp\n..." }, []string{"steps[1].command changed"}},
		{"step fields", func(j *Job) {
			j.Steps[0].RetryAttempts = 3
			j.Steps[0].Timeout = Duration(90 * time.Minute)
		}, []string{"steps[0].retry_attempts: 0 -> 3", "steps[0].timeout: 0s -> 1h30m0s"}},
		{"step added", func(j *Job) {
			j.Steps = append(j.Steps, Step{StepID: 4, StepName: "cleanup", Command: "x"})
		}, []string{`steps[3] "cleanup" added`}},
		{"step removed", func(j *Job) { j.Steps = j.Steps[:2] }, []string{`steps[2] "alert" removed`}},
		{"schedule added", func(j *Job) {
			j.Schedules = append(j.Schedules, schedule.Schedule{Name: "hourly", Cron: "0 * * * *"})
		}, []string{`schedule "hourly" added`}},
		{"schedule removed", func(j *Job) { j.Schedules = j.Schedules[1:] }, []string{`schedule "nightly" removed`}},
		{"schedule changed", func(j *Job) { j.Schedules[0].ActiveStartTime = 10000 }, []string{`schedule "nightly".active_start_time: 230000 -> 10000`}},
		{"schedule disabled", func(j *Job) { j.Schedules[1].Enabled = ptr(false) }, []string{`schedule "weekly".enabled: (default) -> false`}},
		{"schedules reordered", func(j *Job) { j.Schedules[0], j.Schedules[1] = j.Schedules[1], j.Schedules[0] }, nil},
		{"schedule renamed", func(j *Job) { j.Schedules[1].Name = "sundays" }, []string{`schedule "weekly" removed`, `schedule "sundays" added`}},
		{"targets", func(j *Job) {
			j.Targets.Servers = []string{"SQL01", "SQL03"}
			j.Targets.Groups = append(j.Targets.Groups, "Test")
		}, []string{`targets.servers: SQL02\SALES removed`, "targets.servers: SQL03 added", "targets.groups: Test added"}},
		{"targets case only", func(j *Job) { j.Targets.Groups = []string{"PRODUCTION"} }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := validJob(), validJob()
			tc.change(&cur)
			if got := Diff(old, cur); !slices.Equal(got, tc.want) {
				t.Errorf("Diff =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func TestDiffReverse(t *testing.T) {
	old, cur := validJob(), validJob()
	cur.Enabled = ptr(false)
	if got, want := Diff(cur, old), []string{"enabled: false -> true"}; !slices.Equal(got, want) {
		t.Errorf("Diff = %q, want %q", got, want)
	}
}
