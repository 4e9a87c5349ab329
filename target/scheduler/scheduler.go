// Package scheduler fires a target's downloaded jobs at the times their schedules give, in the
// target's local time zone, the way SQL Server Agent's job scheduler does.
//
// It keeps every job's next run in a min-heap and sleeps on one timer for the earliest, so
// that a thousand jobs firing every ten seconds cost a heap operation and a Schedule.Next per
// run, not a timer per job. Each firing asks a Starter to start the run; what a firing does
// while the job still runs is the Starter's to decide by the job's overlap policy (SQL Server
// Agent runs at most one instance of a job and skips the firing). The next run is computed
// after the current time. Runs missed while the agent was stopped are made up only for jobs
// with a catch_up policy (catchup.go): a Marker records up to when each such job's firings were
// handled, and CatchUp plans the missed ones, inside the job's window, when the agent starts.
//
// Schedule kinds that do not fire on a clock:
//   - 64 (when the agent starts) fires once when Run starts, for the jobs loaded then;
//   - 128 (when the computer is idle) is not supported on targets: it is logged once per job
//     and schedule, and never fires.
//
// Job states in the scheduler:
//
//	         Reload or Put: enabled, a schedule with a next run
//	unknown ──────────────────────────────────────────► queued (next run, invoked by)
//	   ▲                                                   │
//	   │ Reload without the job, Remove, or a Put that     │ timer reaches next run
//	   │ disables it,                                      │
//	   │ or no further run                                 ▼
//	   └──────────────────────────────────────────────── due ──► Starter.StartRun
//	                                  next run after now │        (ErrRunning: skipped, logged)
//	                                  queued again ◄─────┘
package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// ErrRunning is what a Starter returns (wrapped or matched with errors.Is) when the job is
// already running; the scheduler then skips the firing.
var ErrRunning = errors.New("job is already running")

// Starter starts runs of jobs. The target agent's run manager satisfies it. StartRun must
// start the run (or follow the job's overlap policy) and return without waiting for it to end.
// It returns an error that matches ErrRunning when the job is already running and the firing
// was not taken.
type Starter interface {
	StartRun(job jobs.Job, f Firing) error
}

// Marker records, for the jobs with a catch-up policy, the time up to which their firings were
// handled, so that an agent started again knows which it missed (see CatchUp). The target
// agent's local database satisfies it. The scheduler calls it outside its lock, after a firing
// of such a job started and when such a job is put; a Marker that fails logs it (the next
// catch-up then looks further back, inside the job's window).
type Marker interface {
	Mark(jobID string, handled time.Time)
}

// Config configures a Scheduler. The zero value of each field is its default.
type Config struct {
	// Starter starts the runs. Required.
	Starter Starter
	// Location is the target's time zone, in which schedules run (a schedule's own time_zone
	// wins). Default: time.Local.
	Location *time.Location
	// Logger; default: discard.
	Logger *slog.Logger
	// Marker records the firings of jobs with a catch-up policy; default: none (catch-up
	// then finds nothing missed).
	Marker Marker
}

// Scheduler fires runs of jobs on their schedules. Reload, Put, Remove and NextRun may be
// called from any goroutine, before and while Run runs.
type Scheduler struct {
	starter Starter
	marker  Marker
	loc     *time.Location
	log     *slog.Logger
	wake    chan struct{}

	mu      sync.Mutex
	entries map[string]*entry // by job id
	queue   queue
	idle    map[idleKey]bool // idle schedules already logged as not supported
	missed  []firing         // catch-up firings Run starts first (CatchUp)
}

// idleKey names one schedule of one job.
type idleKey struct {
	jobID string
	pos   int
}

// entry is one job and its next firing.
type entry struct {
	job   jobs.Job
	next  time.Time // zero: no further run
	by    string    // invoked-by text of the next firing
	index int       // position in queue; -1 when not queued
}

// New returns a Scheduler with no jobs.
func New(cfg Config) *Scheduler {
	s := &Scheduler{starter: cfg.Starter, marker: cfg.Marker, loc: cfg.Location, log: cfg.Logger, wake: make(chan struct{}, 1),
		entries: map[string]*entry{}, idle: map[idleKey]bool{}}
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "target.scheduler")
	return s
}

// InvokedBy returns SQL Server Agent's name for a run started by the schedule at position i
// (0-based) of a job: "Schedule 3 (nightly)".
func InvokedBy(i int, sc schedule.Schedule) string {
	return fmt.Sprintf("Schedule %d (%s)", i+1, sc.Name)
}

// Reload replaces the set of jobs. A job whose version number did not change keeps its next
// run; the others get theirs computed after the current time.
func (s *Scheduler) Reload(list []jobs.Job) {
	now := time.Now()
	s.mu.Lock()
	old := s.entries
	s.entries = make(map[string]*entry, len(list))
	s.queue = s.queue[:0]
	for _, j := range list {
		e := &entry{job: j, index: -1}
		if o, ok := old[j.JobID]; ok && o.job.VersionNumber == j.VersionNumber {
			e.next, e.by = o.next, o.by
		} else {
			s.plan(e, now)
		}
		s.entries[j.JobID] = e
		if !e.next.IsZero() {
			e.index = len(s.queue)
			s.queue = append(s.queue, e)
		}
	}
	heap.Init(&s.queue)
	for k := range s.idle {
		if _, ok := s.entries[k.jobID]; !ok {
			delete(s.idle, k)
		}
	}
	n := len(s.queue)
	s.mu.Unlock()
	s.log.Debug("jobs reloaded", "jobs", len(list), "scheduled", n)
	s.poke()
}

// Put adds job, or replaces the job with its id: a job whose version number did not change
// keeps its next run; otherwise its next run is computed after the current time. It costs a
// heap operation, whatever the number of jobs held.
func (s *Scheduler) Put(job jobs.Job) {
	now := time.Now()
	s.mu.Lock()
	e, ok := s.entries[job.JobID]
	if !ok {
		e = &entry{index: -1}
		s.entries[job.JobID] = e
	}
	same := ok && e.job.VersionNumber == job.VersionNumber
	e.job = job
	if !same {
		s.forgetIdle(job.JobID)
		s.plan(e, now)
	}
	s.requeue(e)
	s.mu.Unlock()
	s.poke()
	if !same {
		s.mark(job, now) // firings before now were not this version's to run
	}
}

// Remove forgets the job jobID when version is its version number, or any version when version
// is 0, and reports whether it did.
func (s *Scheduler) Remove(jobID string, version int) bool {
	s.mu.Lock()
	e, ok := s.entries[jobID]
	if ok && (version == 0 || e.job.VersionNumber == version) {
		if e.index >= 0 {
			heap.Remove(&s.queue, e.index)
		}
		delete(s.entries, jobID)
		s.forgetIdle(jobID)
	} else {
		ok = false
	}
	s.mu.Unlock()
	if ok {
		s.poke()
	}
	return ok
}

// requeue puts e in the queue at its next run, or out of it when it has none. Called with s.mu
// held.
func (s *Scheduler) requeue(e *entry) {
	switch {
	case e.next.IsZero() && e.index >= 0:
		heap.Remove(&s.queue, e.index)
	case e.next.IsZero():
	case e.index >= 0:
		heap.Fix(&s.queue, e.index)
	default:
		heap.Push(&s.queue, e)
	}
}

// forgetIdle forgets which idle schedules of the job were logged. Called with s.mu held.
func (s *Scheduler) forgetIdle(jobID string) {
	for k := range s.idle {
		if k.jobID == jobID {
			delete(s.idle, k)
		}
	}
}

// poke wakes Run to look at the earliest run again.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// NextRun returns when the job runs next and what invokes it; ok is false for a job that is
// unknown, disabled, or has no further scheduled run.
func (s *Scheduler) NextRun(jobID string) (next time.Time, invokedBy string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.entries[jobID]
	if !found || e.next.IsZero() {
		return time.Time{}, "", false
	}
	return e.next, e.by, true
}

// Run fires the agent-start schedules of the jobs loaded and the catch-up firings CatchUp
// planned, then fires scheduled runs until ctx ends. It returns nil when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.agentStart()
	s.mu.Lock()
	missed := s.missed
	s.missed = nil
	s.mu.Unlock()
	for _, f := range missed {
		s.start(f.job, f.f)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		var wait time.Duration
		queued := len(s.queue) > 0
		if queued {
			wait = time.Until(s.queue[0].next)
		}
		s.mu.Unlock()
		if queued && wait <= 0 {
			s.fire()
			continue
		}
		var tick <-chan time.Time
		if queued {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
			timer.Stop()
		case <-tick:
		}
	}
}

type firing struct {
	job jobs.Job
	f   Firing
}

// fire starts every job that is due and queues its next run.
func (s *Scheduler) fire() {
	now := time.Now()
	var due []firing
	s.mu.Lock()
	for len(s.queue) > 0 && !s.queue[0].next.After(now) {
		e := s.queue[0]
		due = append(due, firing{e.job, Firing{InvokedBy: e.by, Due: e.next}})
		s.plan(e, now)
		if e.next.IsZero() {
			heap.Pop(&s.queue)
		} else {
			heap.Fix(&s.queue, 0)
		}
	}
	s.mu.Unlock()
	for _, f := range due {
		s.start(f.job, f.f)
		s.mark(f.job, f.f.Due)
	}
}

// mark records that the job's firings up to t were handled, for a job with a catch-up policy.
func (s *Scheduler) mark(job jobs.Job, t time.Time) {
	if s.marker != nil && job.CatchUpPolicy() != jobs.CatchUpNone {
		s.marker.Mark(job.JobID, t)
	}
}

// agentStart starts, once, every enabled job with an enabled "when the agent starts" schedule.
func (s *Scheduler) agentStart() {
	var due []firing
	s.mu.Lock()
	for _, e := range s.entries {
		if !e.job.IsEnabled() {
			continue
		}
		for i, sc := range e.job.Schedules {
			if sc.IsEnabled() && sc.Cron == "" && sc.FreqType == schedule.FreqAgentStart {
				due = append(due, firing{e.job, Firing{InvokedBy: InvokedBy(i, sc), Due: time.Now()}})
				break
			}
		}
	}
	s.mu.Unlock()
	for _, f := range due {
		s.start(f.job, f.f)
	}
}

func (s *Scheduler) start(job jobs.Job, f Firing) {
	by := f.InvokedBy
	err := s.starter.StartRun(job, f)
	switch {
	case err == nil:
		s.log.Debug("run started", "job", job.Name, "job_id", job.JobID, "invoked_by", by)
	case errors.Is(err, ErrRunning):
		s.log.Info("scheduled run skipped: the job is still running", "job", job.Name, "job_id", job.JobID, "invoked_by", by)
	default:
		s.log.Error("scheduled run not started", "job", job.Name, "job_id", job.JobID, "invoked_by", by, "err", err)
	}
}

// plan sets e's next run: the earliest run strictly after after over the job's enabled
// schedules. Called with s.mu held.
func (s *Scheduler) plan(e *entry, after time.Time) {
	e.next, e.by = time.Time{}, ""
	if !e.job.IsEnabled() {
		return
	}
	for i, sc := range e.job.Schedules {
		if !sc.IsEnabled() {
			continue
		}
		if sc.Cron == "" && sc.FreqType == schedule.FreqIdle {
			key := idleKey{e.job.JobID, i}
			if !s.idle[key] {
				s.idle[key] = true
				s.log.Warn("schedule not supported: \"when the computer is idle\" (freq_type 128) never fires on a target",
					"job", e.job.Name, "job_id", e.job.JobID, "schedule", InvokedBy(i, sc))
			}
			continue
		}
		t, ok := sc.Next(after, s.loc)
		if ok && (e.next.IsZero() || t.Before(e.next)) {
			e.next, e.by = t, InvokedBy(i, sc)
		}
	}
}

// queue is a min-heap of entries by next run.
type queue []*entry

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *queue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}
