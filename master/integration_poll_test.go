package master_test

import (
	"testing"
	"time"

	"github.com/msx-project/msx/master"
)

// A target restarted without --poll keeps the interval the master set; one restarted with an
// explicit --poll, even MSX's default 60, enlists again with it.
func TestIntegrationPollIntervalOnRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sql95")
	f.waitOnline(t, a)
	f.waitApplied(t, f.action(t, "setpoll", "sql95", 120))
	f.waitTarget(t, a, "poll interval 120", func(ts master.TargetServer) bool { return ts.PollInterval == 120 })

	a.stopClean(t)
	restarted := time.Now()
	a.start(t) // no --poll: the held 120 stays
	f.waitTarget(t, a, "a heartbeat after the restart, still at 120", func(ts master.TargetServer) bool {
		return ts.LastPollDate != nil && ts.LastPollDate.After(restarted) && ts.PollInterval == 120
	})

	a.stopClean(t)
	a.cfg.PollInterval = 60
	a.start(t)
	f.waitTarget(t, a, "poll interval 60 given explicitly", func(ts master.TargetServer) bool { return ts.PollInterval == 60 })
}
