package scheduler_test

import (
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target/scheduler"
)

// BenchmarkMissed measures planning a catch-up: a job firing every 10 seconds whose agent was
// stopped for the whole window, by window (the firings looked at grow with it).
func BenchmarkMissed(b *testing.B) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, w := range []time.Duration{time.Hour, 24 * time.Hour, jobs.MaxCatchUpWindow} {
		for _, policy := range []string{jobs.CatchUpOnce, jobs.CatchUpAll} {
			b.Run(policy+"/"+w.String(), func(b *testing.B) {
				j := job("a", schedule.Schedule{Name: "every 10 s", FreqType: schedule.FreqDaily, FreqInterval: 1,
					FreqSubdayType: schedule.SubdaySeconds, FreqSubdayInterval: 10, ActiveStartDate: 20000101})
				j.CatchUp, j.CatchUpWindow = policy, jobs.Duration(w)
				for b.Loop() {
					scheduler.Missed(j, now.Add(-w-time.Hour), now, time.UTC)
				}
			})
		}
	}
}
