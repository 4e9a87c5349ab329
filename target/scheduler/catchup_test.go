package scheduler_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target/scheduler"
)

func hourly() schedule.Schedule { return schedule.Schedule{Name: "hourly", Cron: "0 * * * *"} }

func TestMissed(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 30, 0, 0, time.UTC)
	hour := func(h int) time.Time { return time.Date(2026, 12, 2, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name    string
		policy  string
		window  time.Duration
		since   time.Time
		scheds  []schedule.Schedule
		want    []time.Time
		missed  int // Firing.Missed of the last firing
		dropped int
	}{
		{"none", jobs.CatchUpNone, 0, hour(8), []schedule.Schedule{hourly()}, nil, 0, 0},
		{"unset is none", "", 0, hour(8), []schedule.Schedule{hourly()}, nil, 0, 0},
		{"all", jobs.CatchUpAll, 0, hour(9).Add(time.Minute), []schedule.Schedule{hourly()}, []time.Time{hour(10), hour(11), hour(12)}, 1, 0},
		{"mark on a firing excludes it", jobs.CatchUpAll, 0, hour(10), []schedule.Schedule{hourly()}, []time.Time{hour(11), hour(12)}, 1, 0},
		{"once", jobs.CatchUpOnce, 0, hour(9).Add(time.Minute), []schedule.Schedule{hourly()}, []time.Time{hour(12)}, 3, 0},
		{"window", jobs.CatchUpAll, 2 * time.Hour, hour(5), []schedule.Schedule{hourly()}, []time.Time{hour(11), hour(12)}, 1, 0},
		{"default window is a day", jobs.CatchUpOnce, 0, now.Add(-72 * time.Hour), []schedule.Schedule{hourly()}, []time.Time{hour(12)}, 24, 0},
		{"nothing missed", jobs.CatchUpAll, 0, hour(12).Add(time.Minute), []schedule.Schedule{hourly()}, nil, 0, 0},
		{"mark in the future", jobs.CatchUpAll, 0, now.Add(time.Hour), []schedule.Schedule{hourly()}, nil, 0, 0},
		{"capped, newest kept", jobs.CatchUpAll, 0, now.Add(-23 * time.Hour),
			[]schedule.Schedule{{Name: "every 10 min", Cron: "*/10 * * * *"}}, nil, 1, 138 - jobs.MaxCatchUp},
		{"two schedules at one instant run once", jobs.CatchUpAll, 0, hour(11).Add(time.Minute),
			[]schedule.Schedule{hourly(), {Name: "also hourly", Cron: "0 * * * *"}}, []time.Time{hour(12)}, 1, 0},
		{"disabled and agent-start schedules miss nothing", jobs.CatchUpAll, 0, hour(9),
			[]schedule.Schedule{{Name: "off", Cron: "0 * * * *", Enabled: no()}, {Name: "start", FreqType: schedule.FreqAgentStart}}, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := job("a", tc.scheds...)
			j.CatchUp, j.CatchUpWindow = tc.policy, jobs.Duration(tc.window)
			got, dropped := scheduler.Missed(j, tc.since, now, time.UTC)
			var dues []time.Time
			for _, f := range got {
				dues = append(dues, f.Due)
				if !f.CatchUp || f.InvokedBy == "" {
					t.Errorf("firing %+v, want a catch-up naming its schedule", f)
				}
			}
			if tc.name == "capped, newest kept" {
				if len(got) != jobs.MaxCatchUp || !got[len(got)-1].Due.Equal(now) {
					t.Fatalf("%d firings ending %v, want %d ending %v", len(got), got[len(got)-1].Due, jobs.MaxCatchUp, now)
				}
			} else if !slices.EqualFunc(dues, tc.want, time.Time.Equal) {
				t.Fatalf("Missed = %v, want %v", dues, tc.want)
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", dropped, tc.dropped)
			}
			if len(got) > 0 && got[len(got)-1].Missed != tc.missed {
				t.Errorf("Missed count %d, want %d", got[len(got)-1].Missed, tc.missed)
			}
		})
	}
	t.Run("disabled job", func(t *testing.T) {
		j := job("a", hourly())
		j.CatchUp, j.Enabled = jobs.CatchUpAll, no()
		if got, _ := scheduler.Missed(j, hour(1), now, time.UTC); got != nil {
			t.Errorf("Missed = %v for a disabled job", got)
		}
	})
}

// marker records Mark calls.
type marker struct {
	mu    sync.Mutex
	marks map[string]time.Time
}

func (m *marker) Mark(jobID string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.marks == nil {
		m.marks = map[string]time.Time{}
	}
	m.marks[jobID] = t
}

func (m *marker) get(jobID string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.marks[jobID]
	return t, ok
}

func TestCatchUpRunsAndMarks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, mk := &starter{}, &marker{}
		s := scheduler.New(scheduler.Config{Starter: st, Location: time.UTC, Marker: mk})
		caught := job("c", every10s("fast"))
		caught.CatchUp = jobs.CatchUpAll
		s.Reload([]jobs.Job{caught, job("p", every10s("fast"))})
		t0 := time.Now()
		// Stopped for 35 s: the firings 30, 20 and 10 s ago and now were missed (Reload
		// planned the next after now).
		if n := s.CatchUp(map[string]time.Time{"c": t0.Add(-35 * time.Second), "p": t0.Add(-35 * time.Second)}); n != 4 {
			t.Fatalf("CatchUp planned %d firings, want 4", n)
		}
		if m, ok := mk.get("c"); !ok || !m.Equal(t0) {
			t.Errorf("mark after CatchUp %v %v, want now", m, ok)
		}
		if _, ok := mk.get("p"); ok {
			t.Errorf("a job without catch-up was marked")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		synctest.Wait()
		got := st.firings()
		if len(got) != 4 {
			t.Fatalf("%d firings handed to the starter at start, want the 4 catch-ups: %+v", len(got), got)
		}
		for i, f := range got {
			want := t0.Add(time.Duration(i-3) * 10 * time.Second)
			if !f.CatchUp || f.Missed != 1 || !f.Due.Equal(want) || f.InvokedBy != "Schedule 1 (fast)" {
				t.Errorf("firing %d: %+v, want a catch-up due %v", i, f, want)
			}
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if m, _ := mk.get("c"); !m.Equal(t0.Add(10 * time.Second)) {
			t.Errorf("mark after a firing %v, want %v", m, t0.Add(10*time.Second))
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
