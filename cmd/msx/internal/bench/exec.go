package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// execTarget is the fleet-wide execution rate the default --exec-jobs aims at (issue 11:
// 2,000 executions/s with none missed and lateness p99 under 20 ms).
const execTarget = 2000

// Execution is the outcome of the execution phase: every target of the fleet holds
// JobsPerTarget jobs on a 1-second cron schedule, and the runs due in WindowS whole seconds
// are counted from the targets' reports (started and finished results on msx.result.>).
type Execution struct {
	Targets       int    `json:"targets"`
	JobsPerTarget int    `json:"jobs_per_target"`
	Step          string `json:"step"`
	WindowS       int    `json:"window_s"`
	// Expected is Targets × JobsPerTarget × WindowS: the firings due in the window.
	Expected int `json:"expected"`
	// Started counts the (target, job, second) of the window with a started report; Missed is
	// Expected minus Started. A run more than a second late counts against the next second,
	// whose own firing the scheduler then skips: it shows as Doubled plus a missed second.
	Started int `json:"started"`
	Missed  int `json:"missed"`
	Doubled int `json:"doubled,omitempty"`
	// Skipped counts the firings of the window the targets reported skipped (the job's
	// previous run still running, overlap policy skip).
	Skipped int `json:"skipped"`
	// Finished counts the started runs whose finished report arrived; Failed those of them
	// whose outcome was not success.
	Finished int `json:"finished"`
	Failed   int `json:"failed"`
	// MasterRuns is the number of runs of the phase's jobs the master counted, every second
	// included (not only the window): the master ingested them.
	MasterRuns int `json:"master_runs"`
	// PerSecond is Started / WindowS; Lateness is each started run's start minus its second.
	PerSecond float64 `json:"per_second"`
	Lateness  Dist    `json:"lateness"`
	// Raw is the floor: as many timers due at each whole second, each wake-up async-publishing a
	// started and a finished result to a stream like MSX_RESULTS (no agent, no database).
	RawPerSecond float64 `json:"raw_per_second"`
	RawLateness  Dist    `json:"raw_lateness"`
	RawMissed    int     `json:"raw_missed"`
}

// execJobs resolves Config.ExecJobs: 0 is enough jobs per target for execTarget executions/s.
func execJobs(cfg Config) int {
	if cfg.ExecJobs != 0 {
		return cfg.ExecJobs
	}
	return (execTarget + cfg.Targets - 1) / cfg.Targets
}

// execStep is the cheap step every run of the phase runs.
func execStep(kind string) jobs.Step {
	if kind == "cmdexec" {
		return jobs.Step{StepID: 1, StepName: "noop", Subsystem: jobs.SubsystemCmdExec, Command: "exit 0"}
	}
	return jobs.Step{StepID: 1, StepName: "noop", Subsystem: jobs.SubsystemTSQL, Command: "SELECT 1"}
}

// execRun is the execution phase on fleet f: J jobs on every target, each firing every second
// (cron "* * * * * *" in UTC), watched for the window; then the jobs are deleted.
func (b *bench) execRun(ctx context.Context, f *fleet) error {
	e, n, nj := b.e, len(f.names), execJobs(b.cfg)
	win := max(1, int(b.cfg.ExecWindow/time.Second))
	x := &Execution{Targets: n, JobsPerTarget: nj, Step: b.cfg.ExecStep, WindowS: win, Expected: n * nj * win}
	progress(b.cfg, "execution: raw floor, %d timers every second with 2 publishes each", n*nj)
	if err := b.rawExecRun(ctx, x, n*nj, min(win, 10)); err != nil {
		return fmt.Errorf("execution (raw): %w", err)
	}
	progress(b.cfg, "execution: %d targets × %d jobs on a 1-second cron schedule (%s step), watched for %d s", n, nj, b.cfg.ExecStep, win)
	// Every job starts firing at the same second T, far enough ahead that all of them reach the
	// fleet first: a job firing while the next ones are posted would slow the posting down.
	t0 := time.Now()
	at := t0.Add(10*time.Second + time.Duration(5*n*nj/1000)*time.Second).Truncate(time.Second).UTC()
	scheds, at := everySecondFrom(at)
	var names, ids []string
	var posted []master.Posted
	for i := range nj {
		j := benchJob(fmt.Sprintf("msx bench exec %03d", i+1), "execution phase", jobs.Targets{Groups: []string{fleetGroup}}, scheds...)
		j.Steps = []jobs.Step{execStep(b.cfg.ExecStep)}
		res, err := e.m.ApplyJob(ctx, j)
		if err != nil {
			return fmt.Errorf("execution: apply job %d: %w", i+1, err)
		}
		names, ids, posted = append(names, j.Name), append(ids, res.Job.JobID), append(posted, res.Posted...)
	}
	defer b.execDelete(ctx, f, names)
	if _, err := b.waitApplied(ctx, "execution (jobs delivered)", f, posted); err != nil {
		return err
	}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("execution: %d jobs applied to %d targets in %.0f ms", nj, n, ms(time.Since(t0))))
	// The first seconds of firing are left out (every job's first run, caches cold).
	from := time.Now().Truncate(time.Second).Add(time.Second)
	if from.Before(at) {
		from = at
	}
	from = from.Add(3 * time.Second)
	until := from.Add(time.Duration(win) * time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(until)):
	}
	// Reports of the window's last runs may still be on their way: wait for them, up to a grace.
	grace := time.Now().Add(min(b.cfg.PhaseTimeout, 30*time.Second))
	var lat []time.Duration
	for {
		*x, lat = tallyExec(*x, e.rec, f.toks, ids, from, until)
		if (x.Missed == 0 && x.Finished == x.Started) || time.Now().After(grace) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, name := range names {
		if j, err := e.m.Catalog.Get(name); err == nil {
			for _, js := range e.m.JobServers(j) {
				x.MasterRuns += js.Runs
			}
		}
	}
	x.PerSecond = round3(float64(x.Started) / float64(win))
	x.Lateness = distOf(lat)
	b.exec = x
	b.rep.Execution = x
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("execution: %d targets × %d jobs every second (%s step) over %d s: %d of %d firings started (%d missed, %d skipped, %d doubled), %d finished (%d failed); the master counted %d runs of these jobs; raw floor %d missed",
		n, nj, x.Step, win, x.Started, x.Expected, x.Missed, x.Skipped, x.Doubled, x.Finished, x.Failed, x.MasterRuns, x.RawMissed))
	return nil
}

// everySecondFrom returns the cron schedules (UTC) that fire every second from at (a whole
// second) to the end of its day, and at; when fewer than 10 minutes of the day are left, every
// second of the next day instead, and its midnight.
func everySecondFrom(at time.Time) ([]schedule.Schedule, time.Time) {
	at = at.UTC()
	cronAt := func(name, expr string) schedule.Schedule {
		return schedule.Schedule{Name: name, Cron: expr, TimeZone: "UTC"}
	}
	if at.Hour() == 23 && at.Minute() >= 50 {
		next := at.Truncate(24 * time.Hour).Add(24 * time.Hour)
		s := cronAt("every second", "* * * * * *")
		s.ActiveStartDate = jobs.DateInt(next)
		return []schedule.Schedule{s}, next
	}
	h, m, sec := at.Hour(), at.Minute(), at.Second()
	out := []schedule.Schedule{cronAt("every second, first minute", fmt.Sprintf("%d-59 %d %d * * *", sec, m, h))}
	if m < 59 {
		out = append(out, cronAt("every second, first hour", fmt.Sprintf("* %d-59 %d * * *", m+1, h)))
	}
	if h < 23 {
		out = append(out, cronAt("every second, rest of the day", fmt.Sprintf("* * %d-23 * * *", h+1)))
	}
	return out, at
}

// execDelete deletes the phase's jobs, so that the fleet stops firing before the next phase.
// A target stops firing a job when it applies the DELETE, before its applied report: that
// report waits behind the run reports in its outbox, so the wait for it is bounded and what
// did not arrive is noted rather than failing the run.
func (b *bench) execDelete(ctx context.Context, f *fleet, names []string) {
	var posted []master.Posted
	for _, name := range names {
		p, err := b.e.m.DeleteJob(ctx, name)
		if err != nil {
			b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("execution: deleting job %s: %v", name, err))
		}
		posted = append(posted, p...)
	}
	wait := *b
	wait.cfg.PhaseTimeout = min(b.cfg.PhaseTimeout, time.Minute)
	if _, err := wait.waitApplied(ctx, "execution (jobs deleted)", f, posted); err != nil {
		b.rep.Notes = append(b.rep.Notes, "execution: "+err.Error())
	}
}

// tallyExec counts the runs of jobs ids on targets toks due in [from, until) from the
// recorder's reports, and returns x with the counts filled and the lateness of each start.
func tallyExec(x Execution, rec *recorder, toks, ids []string, from, until time.Time) (Execution, []time.Duration) {
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(until) }
	x.Started, x.Doubled, x.Skipped, x.Finished, x.Failed = 0, 0, 0, 0, 0
	var lat []time.Duration
	for _, tok := range toks {
		for _, id := range ids {
			runs := map[string]bool{}
			seconds := map[time.Time]bool{}
			for _, s := range rec.resultsOf(tok, id, schemas.PhaseStarted) {
				due := s.started.Truncate(time.Second)
				if !in(due) {
					continue
				}
				runs[s.runID] = true
				lat = append(lat, s.started.Sub(due))
				if seconds[due] {
					x.Doubled++
				}
				seconds[due] = true
			}
			x.Started += len(seconds)
			for _, s := range rec.resultsOf(tok, id, schemas.PhaseFinished) {
				switch {
				case s.skipped && in(s.due):
					x.Skipped++
				case runs[s.runID]:
					x.Finished++
					if s.status != int(jobs.RunSucceeded) {
						x.Failed++
					}
				}
			}
		}
	}
	x.Missed = x.Expected - x.Started
	return x, lat
}

// rawExecRun measures the floor of the execution phase for secs seconds: execs timers due at
// each whole second, each wake-up async-publishing a started and a finished result (the size
// a target sends) to the raw results stream. An execution counts when both are acknowledged.
func (b *bench) rawExecRun(ctx context.Context, x *Execution, execs, secs int) error {
	e := b.e
	if err := e.rawResultsStream(ctx); err != nil {
		return err
	}
	payload, err := sampleResult()
	if err != nil {
		return err
	}
	nc, err := e.connect(ctx, "msx-bench-raw-exec")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*execs+1000))
	if err != nil {
		return err
	}
	from := time.Now().Truncate(time.Second).Add(2 * time.Second)
	lat := make([]time.Duration, 0, execs*secs)
	acks := make([][2]jetstream.PubAckFuture, 0, execs*secs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range execs {
		wg.Go(func() {
			t := time.NewTimer(time.Until(from))
			defer t.Stop()
			for s := range secs {
				due := from.Add(time.Duration(s) * time.Second)
				t.Reset(time.Until(due))
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				woke := time.Since(due)
				id := strconv.Itoa(i) + "-" + strconv.FormatInt(due.Unix(), 10)
				subj := "msxbench.result.X" + strconv.Itoa(i) + ".J"
				a1, err1 := js.PublishAsync(subj, payload, jetstream.WithMsgID("exec-s-"+id))
				a2, err2 := js.PublishAsync(subj, payload, jetstream.WithMsgID("exec-f-"+id))
				mu.Lock()
				lat = append(lat, woke)
				if err1 == nil && err2 == nil {
					acks = append(acks, [2]jetstream.PubAckFuture{a1, a2})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(b.cfg.PhaseTimeout):
	case <-ctx.Done():
		return ctx.Err()
	}
	ok := 0
	for _, a := range acks {
		if isAcked(a[0]) && isAcked(a[1]) {
			ok++
		}
	}
	x.RawMissed = execs*secs - ok
	x.RawPerSecond = round3(float64(ok) / float64(secs))
	x.RawLateness = distOf(lat)
	return nil
}

func isAcked(f jetstream.PubAckFuture) bool {
	select {
	case <-f.Ok():
		return true
	default:
		return false
	}
}

// execMeasure is the execution phase's row of the table, against its raw floor.
func (b *bench) execMeasure() Measure {
	x := b.exec
	return compare("execution", fmt.Sprintf("%d targets × %d jobs on a 1-second cron schedule (%s step) for %d s: run start minus its second; per_second = runs started / s (%d of %d due, %d missed)",
		x.Targets, x.JobsPerTarget, x.Step, x.WindowS, x.Started, x.Expected, x.Missed),
		fmt.Sprintf("%d timers due at each whole second, each wake-up async-publishing 2 result messages to a stream like MSX_RESULTS: wake-up minus its second; per_second = both acknowledged / s", x.Targets*x.JobsPerTarget),
		Figures{Dist: x.Lateness, TotalMS: float64(x.WindowS) * 1000, PerSecond: x.PerSecond},
		Figures{Dist: x.RawLateness, PerSecond: x.RawPerSecond})
}
