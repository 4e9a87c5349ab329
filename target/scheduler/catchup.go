package scheduler

import (
	"fmt"
	"slices"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// Firing is one firing of a job's schedules, as the scheduler hands it to a Starter.
type Firing struct {
	// InvokedBy is SQL Server Agent's name for what fired: "Schedule 3 (nightly)".
	InvokedBy string
	// Due is when the schedule fired; for a catch-up, the missed time.
	Due time.Time
	// CatchUp says the firing was missed while the agent was stopped and is run late.
	CatchUp bool
	// Missed is, for a catch-up, how many missed firings this run stands for: more than one
	// under catch_up "once".
	Missed int
}

// maxMissedScan bounds the firings of one schedule that a catch-up looks at: a schedule every
// second over a long window costs at most this many Next calls.
const maxMissedScan = 100_000

// CatchUp plans the firings missed while the agent was stopped, for each job held whose
// catch_up policy is once or all: the firings of its enabled schedules after marks[job id] (the
// time up to which its firings were handled, as the Marker recorded it) and up to now, inside
// its catch_up_window, computed with schedule.Schedule.Next, the code that plans every run.
// Run starts them first, oldest first; the Starter's overlap policy then decides (a job's
// catch-up firings wait for each other). A job with no mark has missed nothing. It marks every
// catch-up job as handled up to now and returns the number of firings planned. Call it once,
// after the first Reload and before Run.
func (s *Scheduler) CatchUp(marks map[string]time.Time) int {
	now := time.Now()
	type held struct {
		job  jobs.Job
		next time.Time // the first firing the queue fires itself
	}
	var policyJobs []held
	s.mu.Lock()
	for _, e := range s.entries {
		if e.job.CatchUpPolicy() != jobs.CatchUpNone {
			policyJobs = append(policyJobs, held{e.job, e.next})
		}
	}
	s.mu.Unlock()
	// Planning looks at every firing inside each window: done outside the lock.
	var planned []firing
	for _, h := range policyJobs {
		since, ok := marks[h.job.JobID]
		if !ok {
			continue
		}
		missed, dropped := Missed(h.job, since, now, s.loc)
		if dropped > 0 {
			s.log.Warn("catch-up: older missed firings not run", "job", h.job.Name, "job_id", h.job.JobID,
				"dropped", dropped, "limit", jobs.MaxCatchUp)
		}
		for _, f := range missed {
			if h.next.IsZero() || f.Due.Before(h.next) { // from next on, the queue fires it
				planned = append(planned, firing{h.job, f})
			}
		}
	}
	slices.SortStableFunc(planned, func(a, b firing) int { return a.f.Due.Compare(b.f.Due) })
	s.mu.Lock()
	s.missed = append(s.missed, planned...)
	s.mu.Unlock()
	for _, h := range policyJobs {
		s.mark(h.job, now)
	}
	if len(planned) > 0 {
		s.log.Info("catch-up: firings missed while the agent was stopped planned", "runs", len(planned))
	}
	return len(planned)
}

// Missed returns the firings of job's enabled schedules strictly after since and up to now,
// no older than now minus the job's catch-up window, as its catch_up policy runs them: each
// (oldest first, at most jobs.MaxCatchUp, the newest kept; dropped counts the others) for
// "all", the latest one standing for all of them for "once", none for "none". Schedules that
// do not fire on a clock (agent start, idle) miss nothing.
func Missed(job jobs.Job, since, now time.Time, loc *time.Location) (out []Firing, dropped int) {
	policy := job.CatchUpPolicy()
	if policy == jobs.CatchUpNone || !job.IsEnabled() || !since.Before(now) {
		return nil, 0
	}
	from := since
	if w := now.Add(-job.Window()); w.After(from) {
		from = w
	}
	for i, sc := range job.Schedules {
		if !sc.IsEnabled() || sc.Cron == "" && (sc.FreqType == schedule.FreqAgentStart || sc.FreqType == schedule.FreqIdle) {
			continue
		}
		by := InvokedBy(i, sc)
		after := from
		for range maxMissedScan {
			t, ok := sc.Next(after, loc)
			if !ok || t.After(now) {
				break
			}
			out = append(out, Firing{InvokedBy: by, Due: t, CatchUp: true, Missed: 1})
			after = t
		}
	}
	slices.SortStableFunc(out, func(a, b Firing) int { return a.Due.Compare(b.Due) })
	// Two schedules firing at the same instant are one firing, as they are when on time.
	out = slices.CompactFunc(out, func(a, b Firing) bool { return a.Due.Equal(b.Due) })
	switch {
	case len(out) == 0:
		return nil, 0
	case policy == jobs.CatchUpOnce:
		last := out[len(out)-1]
		last.Missed = len(out)
		return []Firing{last}, 0
	case len(out) > jobs.MaxCatchUp:
		dropped = len(out) - jobs.MaxCatchUp
		return slices.Clone(out[dropped:]), dropped
	}
	return out, 0
}

// Note describes a late firing for its run's history: "Catch-up of the run due at
// 2026-12-02 04:00:00 (missed while the agent was stopped), started 2h14m0s late." It returns ""
// for a firing that is not late.
func (f Firing) Note(started time.Time, loc *time.Location) string {
	late := started.Sub(f.Due).Round(time.Second)
	if f.Due.IsZero() || late <= 0 {
		return ""
	}
	due := f.Due.In(loc).Format(time.DateTime)
	switch {
	case f.CatchUp && f.Missed > 1:
		return fmt.Sprintf("Catch-up of %d runs missed while the agent was stopped, the latest due at %s, started %s late.", f.Missed, due, late)
	case f.CatchUp:
		return fmt.Sprintf("Catch-up of the run due at %s (missed while the agent was stopped), started %s late.", due, late)
	}
	return fmt.Sprintf("Queued run due at %s, started %s late when the previous run ended.", due, late)
}
