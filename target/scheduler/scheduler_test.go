package scheduler_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target/scheduler"
)

// ny is the target's zone in these tests. A synctest bubble starts at 2000-01-01 00:00 UTC,
// which is 1999-12-31 19:00 in New York.
var ny = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at parses "2006-01-02 15:04:05" in New York.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(time.DateTime, s, ny)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// run is one StartRun call.
type run struct {
	at    time.Time
	jobID string
	by    string
}

// starter records runs; a job is "running" for busy after each start.
type starter struct {
	mu   sync.Mutex
	runs []run
	busy time.Duration
	end  map[string]time.Time
	all  []scheduler.Firing // every firing handed, taken or not
}

func (f *starter) StartRun(job jobs.Job, fr scheduler.Firing) error {
	by := fr.InvokedBy
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = append(f.all, fr)
	now := time.Now()
	if now.Before(f.end[job.JobID]) {
		return fmt.Errorf("job %s: %w", job.Name, scheduler.ErrRunning)
	}
	if f.end == nil {
		f.end = map[string]time.Time{}
	}
	f.end[job.JobID] = now.Add(f.busy)
	f.runs = append(f.runs, run{now, job.JobID, by})
	return nil
}

func (f *starter) firings() []scheduler.Firing {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.all)
}

func (f *starter) taken() []run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]run(nil), f.runs...)
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// start runs a scheduler with jobs until the test's bubble ends it; call inside synctest.Test.
func start(t *testing.T, st *starter, logs *logBuf, list ...jobs.Job) *scheduler.Scheduler {
	t.Helper()
	if logs == nil {
		logs = &logBuf{}
	}
	s := scheduler.New(scheduler.Config{Starter: st, Location: ny,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	s.Reload(list)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func job(id string, scheds ...schedule.Schedule) jobs.Job {
	return jobs.Job{JobID: id, VersionNumber: 1, Name: "job " + id, Schedules: scheds,
		Steps: []jobs.Step{{StepID: 1, StepName: "s", Command: "SELECT 1"}}}
}

func no() *bool { b := false; return &b }

const from = 19991201

func TestFreqTypes(t *testing.T) {
	cases := []struct {
		name  string
		sched schedule.Schedule
		days  int
		want  []string
	}{
		{"once", schedule.Schedule{FreqType: schedule.FreqOnce, ActiveStartDate: 20000101, ActiveStartTime: 83000}, 3,
			[]string{"2000-01-01 08:30:00"}},
		{"daily", schedule.Schedule{FreqType: schedule.FreqDaily, FreqInterval: 1, ActiveStartDate: from, ActiveStartTime: 23000}, 3,
			[]string{"2000-01-01 02:30:00", "2000-01-02 02:30:00", "2000-01-03 02:30:00"}},
		{"every_2_days", schedule.Schedule{FreqType: schedule.FreqDaily, FreqInterval: 2, ActiveStartDate: 20000101, ActiveStartTime: 60000}, 5,
			[]string{"2000-01-01 06:00:00", "2000-01-03 06:00:00", "2000-01-05 06:00:00"}},
		{"every_10_seconds_in_a_window", schedule.Schedule{FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdaySeconds,
			FreqSubdayInterval: 10, ActiveStartDate: from, ActiveStartTime: 120000, ActiveEndTime: 120025}, 2,
			[]string{"2000-01-01 12:00:00", "2000-01-01 12:00:10", "2000-01-01 12:00:20", "2000-01-02 12:00:00", "2000-01-02 12:00:10", "2000-01-02 12:00:20"}},
		{"every_6_hours", schedule.Schedule{FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdayHours,
			FreqSubdayInterval: 6, ActiveStartDate: from}, 1,
			[]string{"2000-01-01 00:00:00", "2000-01-01 06:00:00", "2000-01-01 12:00:00", "2000-01-01 18:00:00"}},
		{"weekly_mon_wed", schedule.Schedule{FreqType: schedule.FreqWeekly, FreqInterval: 2 | 8, FreqRecurrenceFactor: 1,
			ActiveStartDate: from, ActiveStartTime: 90000}, 7,
			[]string{"2000-01-03 09:00:00", "2000-01-05 09:00:00"}},
		{"monthly_15th", schedule.Schedule{FreqType: schedule.FreqMonthly, FreqInterval: 15, FreqRecurrenceFactor: 1,
			ActiveStartDate: from, ActiveStartTime: 60000}, 75,
			[]string{"2000-01-15 06:00:00", "2000-02-15 06:00:00", "2000-03-15 06:00:00"}},
		{"monthly_last_friday", schedule.Schedule{FreqType: schedule.FreqMonthlyRelative, FreqInterval: 6, FreqRelativeInterval: 16,
			FreqRecurrenceFactor: 1, ActiveStartDate: from, ActiveStartTime: 70000}, 60,
			[]string{"2000-01-28 07:00:00", "2000-02-25 07:00:00"}},
		{"cron", schedule.Schedule{Cron: "30 9-10 * * 1-5"}, 4,
			[]string{"2000-01-03 09:30:00", "2000-01-03 10:30:00", "2000-01-04 09:30:00", "2000-01-04 10:30:00"}},
		{"disabled", schedule.Schedule{Enabled: no(), FreqType: schedule.FreqDaily, FreqInterval: 1, ActiveStartDate: from}, 3, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.sched.Name = tc.name
				st := &starter{}
				start(t, st, nil, job("a", tc.sched))
				time.Sleep(time.Duration(tc.days)*24*time.Hour - time.Second)
				got := st.taken()
				if len(got) != len(tc.want) {
					t.Fatalf("%d runs %v, want %d %v", len(got), times(got), len(tc.want), tc.want)
				}
				for i, r := range got {
					if want := at(t, tc.want[i]); !r.at.Equal(want) {
						t.Errorf("run %d at %s, want %s", i, r.at.In(ny), want)
					}
					if want := "Schedule 1 (" + tc.name + ")"; r.by != want {
						t.Errorf("run %d invoked by %q, want %q", i, r.by, want)
					}
				}
			})
		})
	}
}

func TestEarliestScheduleWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{}
		daily := func(name string, hhmmss int) schedule.Schedule {
			return schedule.Schedule{Name: name, FreqType: schedule.FreqDaily, FreqInterval: 1, ActiveStartDate: from, ActiveStartTime: hhmmss}
		}
		// Two schedules at the same instant start one run.
		start(t, st, nil, job("a", daily("late", 30000), daily("early", 20000), daily("same", 20000)))
		time.Sleep(24*time.Hour - time.Second)
		got := st.taken()
		want := []run{{at(t, "2000-01-01 02:00:00"), "a", "Schedule 2 (early)"}, {at(t, "2000-01-01 03:00:00"), "a", "Schedule 1 (late)"}}
		if len(got) != len(want) {
			t.Fatalf("runs %v, want %v", got, want)
		}
		for i := range want {
			if !got[i].at.Equal(want[i].at) || got[i].by != want[i].by {
				t.Errorf("run %d = %v, want %v", i, got[i], want[i])
			}
		}
	})
}

func every10s(name string) schedule.Schedule {
	return schedule.Schedule{Name: name, FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdaySeconds,
		FreqSubdayInterval: 10, ActiveStartDate: from}
}

func TestSkipWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{busy: 25 * time.Second}
		logs := &logBuf{}
		start(t, st, logs, job("a", every10s("fast")))
		t0 := time.Now()
		time.Sleep(75 * time.Second)
		var offsets []time.Duration
		for _, r := range st.taken() {
			offsets = append(offsets, r.at.Sub(t0))
		}
		// Starts at 10 s (runs to 35 s), 40 s (to 65 s), 70 s; 20, 30, 50 and 60 are skipped.
		want := []time.Duration{10 * time.Second, 40 * time.Second, 70 * time.Second}
		if fmt.Sprint(offsets) != fmt.Sprint(want) {
			t.Errorf("runs at %v, want %v", offsets, want)
		}
		if n := logs.count("scheduled run skipped: the job is still running"); n != 4 {
			t.Errorf("%d skip log lines, want 4", n)
		}
	})
}

func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{}
		a := job("a", every10s("a"))
		b := job("b", every10s("b"))
		s := start(t, st, nil, a, b)
		t0 := time.Now()
		time.Sleep(25 * time.Second) // a and b ran at 10 and 20

		// a unchanged (keeps its run at 30 s), b removed, c added, d disabled.
		c := job("c", schedule.Schedule{Name: "c", FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdayMinutes,
			FreqSubdayInterval: 1, ActiveStartDate: from})
		d := job("d", every10s("d"))
		d.Enabled = no()
		s.Reload([]jobs.Job{a, c, d})
		if _, _, ok := s.NextRun("d"); ok {
			t.Error("disabled job d has a next run")
		}
		if next, by, ok := s.NextRun("a"); !ok || !next.Equal(t0.Add(30*time.Second)) || by != "Schedule 1 (a)" {
			t.Errorf("a next run %s by %q (%v), want 30 s by Schedule 1 (a)", next.Sub(t0), by, ok)
		}
		time.Sleep(40 * time.Second) // to 65 s

		// a version 2: every minute; its next run is recomputed.
		a2 := job("a", c.Schedules[0])
		a2.VersionNumber = 2
		s.Reload([]jobs.Job{a2, c})
		time.Sleep(60 * time.Second) // to 125 s

		count := map[string][]time.Duration{}
		for _, r := range st.taken() {
			count[r.jobID] = append(count[r.jobID], r.at.Sub(t0))
		}
		want := map[string]string{
			"a": "[10s 20s 30s 40s 50s 1m0s 2m0s]",
			"b": "[10s 20s]",
			"c": "[1m0s 2m0s]",
		}
		for id, w := range want {
			if got := fmt.Sprint(count[id]); got != w {
				t.Errorf("job %s ran at %s, want %s", id, got, w)
			}
		}
		if len(count["d"]) != 0 {
			t.Errorf("disabled job d ran: %v", count["d"])
		}
	})
}

// TestPutRemove changes one job at a time, as instructions do: the same firings as TestReload.
func TestPutRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{}
		a := job("a", every10s("a"))
		b := job("b", every10s("b"))
		s := start(t, st, nil)
		s.Put(a)
		s.Put(b)
		t0 := time.Now()
		time.Sleep(25 * time.Second) // a and b ran at 10 and 20

		c := job("c", schedule.Schedule{Name: "c", FreqType: schedule.FreqDaily, FreqInterval: 1, FreqSubdayType: schedule.SubdayMinutes,
			FreqSubdayInterval: 1, ActiveStartDate: from})
		d := job("d", every10s("d"))
		d.Enabled = no()
		s.Put(a) // unchanged: keeps its run at 30 s
		if s.Remove("b", 7) {
			t.Error("Remove of another version of b removed it")
		}
		if !s.Remove("b", 1) {
			t.Error("b not removed")
		}
		if s.Remove("b", 0) {
			t.Error("b removed twice")
		}
		s.Put(c)
		s.Put(d)
		if _, _, ok := s.NextRun("d"); ok {
			t.Error("disabled job d has a next run")
		}
		if next, by, ok := s.NextRun("a"); !ok || !next.Equal(t0.Add(30*time.Second)) || by != "Schedule 1 (a)" {
			t.Errorf("a next run %s by %q (%v), want 30 s by Schedule 1 (a)", next.Sub(t0), by, ok)
		}
		time.Sleep(40 * time.Second) // to 65 s

		a2 := job("a", c.Schedules[0])
		a2.VersionNumber = 2
		s.Put(a2)
		s.Remove("d", 0)
		time.Sleep(60 * time.Second) // to 125 s

		count := map[string][]time.Duration{}
		for _, r := range st.taken() {
			count[r.jobID] = append(count[r.jobID], r.at.Sub(t0))
		}
		want := map[string]string{
			"a": "[10s 20s 30s 40s 50s 1m0s 2m0s]",
			"b": "[10s 20s]",
			"c": "[1m0s 2m0s]",
			"d": "[]",
		}
		for id, w := range want {
			if got := fmt.Sprint(count[id]); got != w {
				t.Errorf("job %s ran at %s, want %s", id, got, w)
			}
		}
	})
}

func TestAgentStartAndIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{}
		logs := &logBuf{}
		startup := job("s", schedule.Schedule{Name: "boot", FreqType: schedule.FreqAgentStart},
			schedule.Schedule{Name: "boot again", FreqType: schedule.FreqAgentStart})
		idle := job("i", schedule.Schedule{Name: "idle", FreqType: schedule.FreqIdle})
		off := job("o", schedule.Schedule{Name: "boot", FreqType: schedule.FreqAgentStart})
		off.Enabled = no()
		s := start(t, st, logs, startup, idle, off)
		t0 := time.Now()
		time.Sleep(time.Hour)
		s.Reload([]jobs.Job{startup, idle, off}) // no second agent start, idle not logged again
		time.Sleep(24 * time.Hour)
		got := st.taken()
		if len(got) != 1 || got[0].jobID != "s" || !got[0].at.Equal(t0) || got[0].by != "Schedule 1 (boot)" {
			t.Errorf("runs %v, want one of job s at agent start by Schedule 1 (boot)", got)
		}
		if n := logs.count("schedule not supported"); n != 1 {
			t.Errorf("idle schedule logged %d times, want once", n)
		}
	})
}

// TestThousandJobs fires 1,000 jobs every 10 seconds for a simulated minute.
func TestThousandJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &starter{}
		list := make([]jobs.Job, 1000)
		for i := range list {
			list[i] = job(fmt.Sprintf("j%04d", i), every10s("fast"))
		}
		start(t, st, nil, list...)
		t0 := time.Now()
		time.Sleep(65 * time.Second)
		got := st.taken()
		if len(got) != 6000 {
			t.Fatalf("%d runs, want 6000", len(got))
		}
		for _, r := range got {
			if d := r.at.Sub(t0); d%(10*time.Second) != 0 {
				t.Fatalf("job %s ran at %s, not on a 10 s boundary", r.jobID, d)
			}
		}
	})
}

// BenchmarkReload measures planning every job's next run, what a job set change costs.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			list := make([]jobs.Job, n)
			for i := range list {
				list[i] = job(fmt.Sprintf("j%05d", i), every10s("fast"))
			}
			s := scheduler.New(scheduler.Config{Starter: &starter{}, Location: ny})
			for b.Loop() {
				list[0].VersionNumber++ // at least one job is planned again
				s.Reload(list)
				s.Reload(nil)
			}
		})
	}
}

func times(rs []run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.at.In(ny).Format(time.DateTime)
	}
	return out
}

// BenchmarkPut measures one job changed among n, what an INSERT or UPDATE costs the scheduler.
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			list := make([]jobs.Job, n)
			for i := range list {
				list[i] = job(fmt.Sprintf("j%05d", i), every10s("fast"))
			}
			s := scheduler.New(scheduler.Config{Starter: &starter{}, Location: ny})
			s.Reload(list)
			j := list[n/2]
			for b.Loop() {
				j.VersionNumber++ // planned again
				s.Put(j)
			}
		})
	}
}
