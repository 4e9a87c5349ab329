package runner

import (
	"encoding/json"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// TestHistoryRowJSON checks the wire names of the rows the runner produces.
func TestHistoryRowJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{output: "x"}}}}
		out := newFakeRunner(f, Config{}).Run(t.Context(), jobs.Job{JobID: "j", Name: "n", Steps: steps(1)}, RunInfo{RunID: "r"})
		b, err := json.Marshal(out.Steps[0])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		want := []string{"instance_id", "run_id", "job_id", "job_name", "step_id", "step_name", "run_status", "message",
			"run_date", "run_time", "run_started", "run_duration", "duration_ms", "retries_attempted", "server",
			"sql_message_id", "sql_severity", "output"}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("keys = %v, want %v", got, want)
		}
		if m["run_started"] != "2000-01-01T00:00:00Z" || m["run_status"] != float64(1) || m["run_date"] != float64(20000101) {
			t.Errorf("row = %s", b)
		}
	})
}

func TestStatusNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{jobs.RunRetry.String(), "Retry"},
		{jobs.RunInProgress.String(), "In Progress"},
		{jobs.RunStatus(9).String(), "RunStatus(9)"},
		{jobs.OutcomeUnknown.String(), "Unknown"},
		{jobs.RunCanceled.Outcome().String(), "Canceled"},
		{jobs.OutcomeSucceeded.String(), "Succeeded"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	durations := map[int64]int{0: 0, 59: 59, 61: 101, 3661: 10101, 90000: 250000, -5: 0}
	for secs, want := range durations {
		if got := jobs.DurationInt(time.Duration(secs) * time.Second); got != want {
			t.Errorf("DurationInt(%ds) = %d, want %d", secs, got, want)
		}
	}
}
