package master

import (
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

func TestKeepStartDates(t *testing.T) {
	old := jobs.Job{Schedules: []schedule.Schedule{{Name: "Nightly", ActiveStartDate: 20261125}, {Name: "other", ActiveStartDate: 20260101}}}
	j := jobs.Job{Schedules: []schedule.Schedule{{Name: "nightly"}, {Name: "new"}, {Name: "other", ActiveStartDate: 20270101}}}
	keepStartDates(&j, old)
	for i, want := range []int{20261125, 0, 20270101} {
		if got := j.Schedules[i].ActiveStartDate; got != want {
			t.Errorf("schedule %q: active_start_date %d, want %d", j.Schedules[i].Name, got, want)
		}
	}
}

func TestFirstFinishCountsARunOnce(t *testing.T) {
	var js JobServer
	for i, tc := range []struct {
		id   string
		want bool
	}{{"a", true}, {"b", true}, {"a", false}, {"c", true}, {"b", false}} {
		if got := js.firstFinish(tc.id); got != tc.want {
			t.Errorf("step %d: firstFinish(%q) = %v, want %v", i, tc.id, got, tc.want)
		}
	}
	for i := range seenRuns + 1 {
		js.firstFinish(string(rune('A' + i)))
	}
	if !js.firstFinish("a") {
		t.Error("a run id older than the window is still remembered: the window is not bounded")
	}
}
