package master

import (
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// hourly is a job with one schedule firing every hour on the hour.
func hourly(t *testing.T, version int) jobs.Job {
	t.Helper()
	j, err := jobs.Parse([]byte(`
name: hourly
steps:
  - step_name: run
    command: SELECT 1
schedules:
  - name: hourly
    freq_type: 4
    freq_interval: 1
    freq_subday_type: 8
    freq_subday_interval: 1
targets:
  servers: [SQL1]
`))
	if err != nil {
		t.Fatal(err)
	}
	j.JobID, j.VersionNumber = "00000000-0000-0000-0000-00000000000a", version
	return j
}

// TestLastDue: a run is missed when a scheduled time falls after the reference (the last
// start, or when the target got the job) and before the grace cutoff; in the target's zone.
func TestLastDue(t *testing.T) {
	c := newCollector(nil, MetricsOptions{})
	j := hourly(t, 1)
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		ref, cutoff string
		offset      int
		want        bool
	}{
		{"2026-01-01T10:00:00Z", "2026-01-01T10:59:00Z", 0, false}, // started at 10:00, next at 11:00 not due yet
		{"2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", 0, true},  // 11:00 due at the cutoff
		{"2026-01-01T10:30:00Z", "2026-01-01T11:29:00Z", 0, true},
		{"2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z", 0, false},  // the reference is the cutoff
		{"2026-01-01T10:00:00Z", "2026-01-01T10:40:00Z", 30, true},  // UTC+00:30: the hour falls at 10:30 UTC
		{"2026-01-01T10:31:00Z", "2026-01-01T11:29:00Z", 30, false}, // next at 11:30 UTC
	} {
		d, ok := c.lastDue(j, at(tc.cutoff))(tc.offset)
		if got := ok && d.After(at(tc.ref)); got != tc.want {
			t.Errorf("ref %s cutoff %s offset %d: missed %v, want %v", tc.ref, tc.cutoff, tc.offset, got, tc.want)
		}
	}
	off := false
	j.Enabled = &off
	if _, ok := c.nextRuns(j, at("2026-01-01T10:00:00Z"))(0); ok {
		t.Error("a disabled job has a next run")
	}
}

// TestFirstSeen: the first scrape dates what it sees from the collector's creation; later ones
// date new targets and a new version of the job from the scrape; removed targets are forgotten.
func TestFirstSeen(t *testing.T) {
	c := newCollector(nil, MetricsOptions{})
	created := c.created
	t1 := created.Add(time.Hour)
	if got := c.firstSeen(hourly(t, 1), []string{"a"}, t1); !got["a"].Equal(created) {
		t.Errorf("first scrape: %v, want the creation %v", got["a"], created)
	}
	c.scraped = true
	t2 := t1.Add(time.Hour)
	got := c.firstSeen(hourly(t, 1), []string{"a", "b"}, t2)
	if !got["a"].Equal(created) || !got["b"].Equal(t2) {
		t.Errorf("a target added: %v, want a at the creation, b at %v", got, t2)
	}
	t3 := t2.Add(time.Hour)
	got = c.firstSeen(hourly(t, 2), []string{"a"}, t3)
	if len(got) != 1 || !got["a"].Equal(t3) {
		t.Errorf("version 2 on a alone: %v, want a at %v", got, t3)
	}
	c.pruneSeen(nil)
	if len(c.seen) != 0 {
		t.Errorf("deleted job still remembered: %v", c.seen)
	}
}
