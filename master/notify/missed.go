package notify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// TargetRun is what the master knows of one job on one target, for missed runs.
type TargetRun struct {
	Server string
	// Zone is the target's time zone (its schedules run in it unless they name one).
	Zone *time.Location
	// LastStarted is when the target last started the job (zero: never).
	LastStarted time.Time
	// LastSeen is the target's last heartbeat (zero: never), shown in the message.
	LastSeen time.Time
}

// missedState is a job's missed-run state on one target, in BucketState under m.<job>.<server>.
type missedState struct {
	Version int       `json:"version"` // the job version Since applies to
	Since   time.Time `json:"since"`   // runs are expected from then on
	Raised  time.Time `json:"raised"`  // the due time last notified as missed (zero: none)
}

// missedSlack is how much earlier than its due time a run may start and still count (the
// target's clock may run ahead of the master's).
const missedSlack = time.Minute

// checkMissed raises one notification per job and target that has not started a scheduled
// run within the job's notify_missed_run_grace, until the target runs the job again.
func (s *Service) checkMissed(ctx context.Context) {
	if s.deps.Jobs == nil || s.deps.Targets == nil {
		return
	}
	now := s.now()
	for _, j := range s.deps.Jobs() {
		grace := time.Duration(j.NotifyMissedRunGrace)
		if grace <= 0 || !j.IsEnabled() || len(j.Schedules) == 0 {
			continue
		}
		for _, tr := range s.deps.Targets(j) {
			if err := s.checkMissedOne(ctx, j, tr, grace, now); err != nil {
				s.log.Warn("missed runs", "job", j.Name, "server", tr.Server, "err", err)
			}
		}
	}
	s.missedPasses.Add(1)
}

func (s *Service) checkMissedOne(ctx context.Context, j jobs.Job, tr TargetRun, grace time.Duration, now time.Time) error {
	var due time.Time
	raise := false
	_, err := update(ctx, s.st, "m."+keyOf(j.JobID)+"."+keyOf(tr.Server), func(st *missedState) bool {
		if st.Version != j.VersionNumber {
			// A new job or version: runs are expected from now on.
			*st = missedState{Version: j.VersionNumber, Since: now}
			return true
		}
		due = lastDue(j, tr.Zone, st.Since, now.Add(-grace))
		switch {
		case due.IsZero():
			return false
		case !tr.LastStarted.Before(due.Add(-missedSlack)):
			if st.Raised.IsZero() {
				return false
			}
			st.Raised = time.Time{} // it runs again: the next miss is news
			return true
		case !st.Raised.IsZero():
			return false // this streak was notified
		}
		st.Raised, raise = due, true
		return true
	})
	if err != nil || !raise {
		return err
	}
	msg := fmt.Sprintf("no run started within %s of its scheduled time %s", grace, due.In(tr.Zone).Format("2006-01-02 15:04 MST"))
	if !tr.LastStarted.IsZero() {
		msg += "; last run started " + tr.LastStarted.UTC().Format(time.RFC3339)
	}
	if tr.LastSeen.IsZero() {
		msg += "; the target has not been heard from"
	} else {
		msg += "; target last heard from " + tr.LastSeen.UTC().Format(time.RFC3339)
	}
	run := Run{Server: tr.Server, RunID: "missed-" + strconv.FormatInt(due.Unix(), 10), Outcome: "Missed", Started: due, Message: msg}
	for _, c := range channels(j) {
		if c.level != jobs.LevelOnFailure && c.level != jobs.LevelAlways {
			continue
		}
		it := item{ID: "missed/" + j.JobID + "/" + tr.Server + "/" + strconv.FormatInt(due.Unix(), 10) + "/" + c.op + "/" + c.channel,
			Kind: KindMissed, Job: j.Name, Operator: c.op, Channel: c.channel,
			Group: strings.Join([]string{KindMissed, keyOf(j.JobID), keyOf(c.op), c.channel}, "."), Created: now, Run: &run}
		if err := s.enqueue(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// lastDue returns the latest scheduled time of the job in (since, until], or zero.
func lastDue(j jobs.Job, zone *time.Location, since, until time.Time) time.Time {
	var last time.Time
	for _, sc := range j.Schedules {
		if t, ok := sc.Last(until, zone); ok && t.After(since) && t.After(last) {
			last = t
		}
	}
	return last
}

type channel struct {
	channel, op string
	level       int
}

// channels returns the job's notification channels with their levels and operators
// (MSXOperator where the job names none).
func channels(j jobs.Job) []channel {
	out := []channel{{model.ChannelEmail, j.NotifyEmailOperator, j.NotifyLevelEmail}, {model.ChannelPager, j.NotifyPageOperator, j.NotifyLevelPage},
		{model.ChannelWebhook, j.NotifyWebhookOperator, j.NotifyLevelWebhook}}
	for i := range out {
		if out[i].op == "" {
			out[i].op = model.DefaultOperator
		}
	}
	return out
}
