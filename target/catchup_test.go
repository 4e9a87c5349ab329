package target_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target/store"
)

// onceAt is a schedule that fires once, at t (whole seconds, UTC: the harness's time zone).
func onceAt(name string, t time.Time) schedule.Schedule {
	t = t.UTC()
	return schedule.Schedule{Name: name, FreqType: schedule.FreqOnce, ActiveStartDate: jobs.DateInt(t), ActiveStartTime: jobs.TimeInt(t)}
}

// TestCatchUp stops a target across three firings of four jobs, one per catch-up policy, and
// checks what each runs when the agent starts again.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := time.Now().UTC().Truncate(time.Second)
	firings := []time.Time{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Hour)}
	mk := func(name, policy string, window time.Duration) *jobs.Job {
		j := newJob(name, jobs.SubsystemCmdExec, "echo caught up")
		for i, f := range firings {
			j.Schedules = append(j.Schedules, onceAt(fmt.Sprintf("firing %d", i+1), f))
		}
		j.CatchUp, j.CatchUpWindow = policy, jobs.Duration(window)
		return j
	}
	none, once, all := mk("none", "", 0), mk("once", jobs.CatchUpOnce, 0), mk("all", jobs.CatchUpAll, 0)
	windowed := mk("all in 90 minutes", jobs.CatchUpAll, 90*time.Minute)
	list := []*jobs.Job{none, once, all, windowed}
	for _, j := range list {
		h.insert(j)
	}

	// The agent "was stopped" since before the three firings: set each job's mark back.
	h.stopAgent()
	st, err := store.Open(t.Context(), filepath.Join(h.dataDir, "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range list {
		if err := st.SetFired(t.Context(), j.JobID, now.Add(-4*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	h.startAgent()

	dues := func(rs []schemas.RunResult) []time.Time {
		var out []time.Time
		for _, r := range rs {
			out = append(out, r.Due)
		}
		slices.SortFunc(out, time.Time.Compare)
		return out
	}
	gotAll := h.waitRuns(all.JobID, schemas.PhaseFinished, 3, 30*time.Second)
	if d := dues(gotAll); !slices.EqualFunc(d, firings, time.Time.Equal) {
		t.Errorf("catch_up all ran the firings due %v, want %v", d, firings)
	}
	for _, r := range gotAll {
		late := r.Started.Sub(r.Due)
		if r.RunStatus != int(jobs.RunSucceeded) || r.LateSeconds < int64(time.Hour/time.Second) || late < time.Hour ||
			r.LateSeconds > int64(late/time.Second) || !strings.Contains(r.Message, "Catch-up of the run due at ") ||
			!strings.Contains(r.Message, "(missed while the agent was stopped), started ") {
			t.Errorf("catch-up run %+v", r)
		}
	}
	gotOnce := h.waitRuns(once.JobID, schemas.PhaseFinished, 1, 30*time.Second)
	if d := dues(gotOnce); len(d) != 1 || !d[0].Equal(firings[2]) ||
		!strings.Contains(gotOnce[0].Message, "Catch-up of 3 runs missed while the agent was stopped, the latest due at "+firings[2].Format(time.DateTime)) {
		t.Errorf("catch_up once: %+v", gotOnce)
	}
	gotWindow := h.waitRuns(windowed.JobID, schemas.PhaseFinished, 1, 30*time.Second)
	if d := dues(gotWindow); len(d) != 1 || !d[0].Equal(firings[2]) {
		t.Errorf("catch_up all in a 90-minute window ran the firings due %v, want only %v", d, firings[2])
	}
	// The catch-ups started together, oldest first, one at a time per job: by the time all
	// of "all" finished, a catch-up of "none" would have started.
	if rs := h.runs(none.JobID, schemas.PhaseStarted); len(rs) != 0 {
		t.Errorf("catch_up none ran %d times: %+v", len(rs), rs)
	}
	h.checkOneAtATime(all.JobID)
}
