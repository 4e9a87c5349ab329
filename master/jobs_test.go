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
