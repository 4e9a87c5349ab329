package bench

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

const (
	fleetGroup = "BENCH"
	fleetJob   = "msx bench fan-out"
)

func benchJob(name, desc string, targets jobs.Targets, sched ...schedule.Schedule) jobs.Job {
	return jobs.Job{Name: name, Description: desc, Category: "msx bench", Targets: targets, Schedules: sched,
		Steps: []jobs.Step{{StepID: 1, StepName: "noop", Subsystem: jobs.SubsystemTSQL, Command: "SELECT 1"}}}
}

// fleetMeasures enlists the fleet, measures its memory, then fan-out, start and results.
func (b *bench) fleetMeasures(ctx context.Context, rssBefore int64) error {
	e, n := b.e, b.cfg.Targets
	names := targetNames("BENCH", n)
	progress(b.cfg, "enlisting %d targets", n)
	f, err := e.startTargets(ctx, names)
	if err != nil {
		return err
	}
	defer f.stop()
	enlisted := make([]time.Time, n)
	err = b.waitPending(ctx, "enlist", n, f, func() int {
		left := 0
		for i, name := range names {
			if !enlisted[i].IsZero() {
				continue
			}
			if _, ok := e.m.Reg.Target(name); ok {
				enlisted[i] = time.Now()
			} else {
				left++
			}
		}
		return left
	})
	if err != nil {
		return err
	}
	lat := make([]time.Duration, n)
	var last time.Duration
	for i, t := range enlisted {
		lat[i] = t.Sub(f.launched)
		last = max(last, lat[i])
	}
	b.enlist = Figures{Dist: distOf(lat), TotalMS: ms(last), PerSecond: round3(float64(n) / last.Seconds())}
	// Every agent is running (first heartbeat in) before anything is measured on the fleet.
	err = b.waitPending(ctx, "first heartbeat", n, f, func() int {
		left := 0
		for _, ts := range e.m.TargetServers() {
			if ts.LastPollDate == nil {
				left++
			}
		}
		return left + n - len(e.m.Reg.Targets())
	})
	if err != nil {
		return err
	}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("all %d targets enlisted in %.0f ms and heartbeating %.0f ms after launch",
		n, b.enlist.TotalMS, ms(time.Since(f.launched))))
	debug.FreeOSMemory()
	rssFleet := rssBytes() - rssBefore
	b.rep.Memory.FleetRSSMiB = mib(rssFleet)
	b.rep.Memory.PerTargetRSSMiB = round3(mib(rssFleet) / float64(n))
	b.rep.Memory.PerTargetVsRawConn = ratio(float64(rssFleet)/float64(n), float64(b.rawConnRSS))

	if _, err := e.m.Reg.AddGroup(ctx, fleetGroup); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := e.m.Reg.AddMember(ctx, fleetGroup, name); err != nil {
			return err
		}
	}
	if err := b.fanoutRoundsRun(ctx, f); err != nil {
		return err
	}
	if err := b.startRoundsRun(ctx, f); err != nil {
		return err
	}
	if err := b.resultsRun(ctx, f); err != nil {
		return err
	}
	if err := b.ingestRun(ctx, f); err != nil {
		return err
	}
	if b.cfg.ExecJobs >= 0 {
		if err := b.execRun(ctx, f); err != nil {
			return err
		}
	}
	if err := b.viewsRun(ctx, f); err != nil || b.cfg.ViewJobs < 0 {
		return err
	}
	return b.scrapeRun(ctx)
}

// applyAndWait applies j and waits until every target it posted to has reported applying it.
// It returns each target's latency from the call, and the posting time.
func (b *bench) applyAndWait(ctx context.Context, phase string, f *fleet, j jobs.Job, want int) ([]time.Duration, time.Duration, error) {
	e := b.e
	t0 := time.Now()
	res, err := e.m.ApplyJob(ctx, j)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: apply job: %w", phase, err)
	}
	posting := time.Since(t0)
	if len(res.Posted) != want {
		return nil, 0, fmt.Errorf("%s: the master posted %d instructions, want %d", phase, len(res.Posted), want)
	}
	seen, err := b.waitApplied(ctx, phase, f, res.Posted)
	if err != nil {
		return nil, 0, err
	}
	lat := make([]time.Duration, len(seen))
	for i, at := range seen {
		lat[i] = at.Sub(t0)
	}
	return lat, posting, nil
}

// waitApplied waits until every target posted to has reported applying its instruction, and
// returns when the observer saw each report.
func (b *bench) waitApplied(ctx context.Context, phase string, f *fleet, posted []master.Posted) ([]time.Time, error) {
	toks := make([]string, len(posted))
	for i, p := range posted {
		toks[i] = jobs.ServerToken(p.TargetServer)
	}
	seen := make([]time.Time, len(posted))
	err := b.waitPending(ctx, phase, len(posted), f, func() int {
		left := 0
		for i, p := range posted {
			if !seen[i].IsZero() {
				continue
			}
			if at, ok := b.e.rec.appliedAt(toks[i], p.InstanceID); ok {
				seen[i] = at
			} else {
				left++
			}
		}
		return left
	})
	return seen, err
}

func (b *bench) fanoutRoundsRun(ctx context.Context, f *fleet) error {
	n := b.cfg.Targets
	var all []time.Duration
	var total, posting time.Duration
	for r := 1; r <= b.cfg.Rounds; r++ {
		progress(b.cfg, "fan-out round %d of %d: one job to %d targets", r, b.cfg.Rounds, n)
		j := benchJob(fleetJob, "fan-out round "+strconv.Itoa(r), jobs.Targets{Groups: []string{fleetGroup}})
		lat, post, err := b.applyAndWait(ctx, fmt.Sprintf("fan-out round %d", r), f, j, n)
		if err != nil {
			return err
		}
		all = append(all, lat...)
		round := maxOf(lat)
		b.fanoutRounds = append(b.fanoutRounds, round)
		total += round
		posting += post
	}
	b.fanout = Figures{Dist: distOf(all), TotalMS: ms(total / time.Duration(b.cfg.Rounds)),
		PerSecond: round3(float64(n) / (total / time.Duration(b.cfg.Rounds)).Seconds())}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("fan-out: the master's ApplyJob posted %d instructions in %.1f ms on average (one synchronous publish per target); total_ms is the mean round",
		n, ms(posting/time.Duration(b.cfg.Rounds))))
	return nil
}

func (b *bench) startRoundsRun(ctx context.Context, f *fleet) error {
	e, n := b.e, b.cfg.Targets
	j, err := e.m.Catalog.Get(fleetJob)
	if err != nil {
		return err
	}
	var all []time.Duration
	var total time.Duration
	for r := 1; r <= b.cfg.Rounds; r++ {
		progress(b.cfg, "start round %d of %d: job start on %d targets", r, b.cfg.Rounds, n)
		phase := fmt.Sprintf("start round %d", r)
		t0 := time.Now()
		posted, err := e.m.StartJob(ctx, fleetJob, "", false)
		if err != nil {
			return fmt.Errorf("%s: %w", phase, err)
		}
		if len(posted) != n {
			return fmt.Errorf("%s: the master posted %d START instructions, want %d", phase, len(posted), n)
		}
		started := make([]time.Time, n)
		if err := b.waitPending(ctx, phase, n, f, func() int {
			left := 0
			for i, tok := range f.toks {
				if !started[i].IsZero() {
					continue
				}
				if s, ok := e.rec.firstResult(tok, j.JobID, schemas.PhaseStarted, t0); ok {
					started[i] = s.at
				} else {
					left++
				}
			}
			return left
		}); err != nil {
			return err
		}
		// Every run finishes before the next round, or its START would be refused (22022).
		if err := b.waitPending(ctx, phase+" (runs finishing)", n, f, func() int {
			left := 0
			for _, tok := range f.toks {
				if _, ok := e.rec.firstResult(tok, j.JobID, schemas.PhaseFinished, t0); !ok {
					left++
				}
			}
			return left
		}); err != nil {
			return err
		}
		lat := make([]time.Duration, n)
		for i, at := range started {
			lat[i] = at.Sub(t0)
		}
		all = append(all, lat...)
		round := maxOf(lat)
		b.startRounds = append(b.startRounds, round)
		total += round
	}
	b.start = Figures{Dist: distOf(all), TotalMS: ms(total / time.Duration(b.cfg.Rounds)),
		PerSecond: round3(float64(n) / (total / time.Duration(b.cfg.Rounds)).Seconds())}
	return nil
}

// resultsRun gives the fleet job a one-time schedule a few seconds ahead, so that every target
// runs it in the same second and reports at once, and measures the master's ingestion.
func (b *bench) resultsRun(ctx context.Context, f *fleet) error {
	e, n := b.e, b.cfg.Targets
	lead := 3*time.Second + 3*maxOf(b.fanoutRounds)
	at := time.Now().Add(lead).Truncate(time.Second).Add(time.Second)
	progress(b.cfg, "results: all %d targets run the job at %s and report at once", n, at.Format("15:04:05"))
	sc := schedule.Schedule{Name: "bench once", FreqType: schedule.FreqOnce,
		ActiveStartDate: jobs.DateInt(at), ActiveStartTime: jobs.TimeInt(at)}
	j := benchJob(fleetJob, "results round", jobs.Targets{Groups: []string{fleetGroup}}, sc)
	if _, _, err := b.applyAndWait(ctx, "results (schedule delivery)", f, j, n); err != nil {
		return err
	}
	if time.Now().After(at) {
		return fmt.Errorf("results: the one-time schedule reached the fleet after its time %s: rerun (the machine is too busy)", at.Format("15:04:05"))
	}
	cur, base, err := e.fleetRuns()
	if err != nil {
		return err
	}
	ingested := map[string]time.Time{}
	deadline := at.Add(b.cfg.PhaseTimeout)
	for len(ingested) < n {
		now := time.Now()
		for _, js := range e.m.JobServers(cur) {
			if _, ok := ingested[js.ServerName]; !ok && js.Runs > base[js.ServerName] {
				ingested[js.ServerName] = now
			}
		}
		if now.After(deadline) {
			return fmt.Errorf("results: %d of %d targets' outcomes had not reached the master after %s: %w", n-len(ingested), n, b.cfg.PhaseTimeout, errTimeout)
		}
		if err := f.failed(); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	lat := make([]time.Duration, 0, n)
	var last time.Duration
	for _, t := range ingested {
		lat = append(lat, t.Sub(at))
		last = max(last, t.Sub(at))
	}
	first := time.Time{}
	for _, tok := range f.toks {
		if s, ok := e.rec.firstResult(tok, cur.JobID, schemas.PhaseFinished, at); ok && (first.IsZero() || s.at.Before(first)) {
			first = s.at
		}
	}
	window := at.Add(last).Sub(first)
	b.results = Figures{Dist: distOf(lat), TotalMS: ms(last), PerSecond: round3(float64(n) / window.Seconds())}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("results: first outcome on the bus %.0f ms after the scheduled second, last ingested by the master %.0f ms after it; per_second = %d / (last ingested - first on the bus)",
		ms(first.Sub(at)), ms(last), n))
	return nil
}

// lateness runs one more target holding cfg.Jobs jobs that fire every 10 s, and measures each
// run's start against its scheduled time.
func (b *bench) lateness(ctx context.Context) error {
	e, n := b.e, b.cfg.Jobs
	names := []string{"LATE0001"}
	progress(b.cfg, "schedule lateness: 1 target, %d jobs every 10 s, watched for %s", n, b.cfg.ScheduleWindow)
	f, err := e.startTargets(ctx, names)
	if err != nil {
		return err
	}
	defer f.stop()
	if err := b.waitPending(ctx, "lateness target enlist", 1, f, func() int {
		if ts, ok := e.m.TargetServer(names[0]); ok && ts.LastPollDate != nil {
			return 0
		}
		return 1
	}); err != nil {
		return err
	}
	every := schedule.Schedule{Name: "every 10 s", FreqType: schedule.FreqDaily, FreqInterval: 1,
		FreqSubdayType: schedule.SubdaySeconds, FreqSubdayInterval: 10}
	type post struct {
		tok string
		seq uint64
	}
	var posts []post
	var ids []string
	t0 := time.Now()
	for i := range n {
		res, err := e.m.ApplyJob(ctx, benchJob(fmt.Sprintf("msx bench every 10s %05d", i+1), "", jobs.Targets{Servers: names}, every))
		if err != nil {
			return fmt.Errorf("apply job %d: %w", i+1, err)
		}
		ids = append(ids, res.Job.JobID)
		for _, p := range res.Posted {
			posts = append(posts, post{jobs.ServerToken(p.TargetServer), p.InstanceID})
		}
	}
	if err := b.waitPending(ctx, "lateness jobs delivered", len(posts), f, func() int {
		left := 0
		for _, p := range posts {
			if _, ok := e.rec.appliedAt(p.tok, p.seq); !ok {
				left++
			}
		}
		return left
	}); err != nil {
		return err
	}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("schedule lateness: %d jobs applied to one target in %.0f ms", n, ms(time.Since(t0))))
	// Watch from the next 10 s boundary, for whole periods.
	from := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
	periods := max(1, int(b.cfg.ScheduleWindow/(10*time.Second)))
	until := from.Add(time.Duration(periods) * 10 * time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(until.Add(5 * time.Second))):
	}
	tok := f.toks[0]
	var lat []time.Duration
	for _, id := range ids {
		for _, s := range e.rec.resultsOf(tok, id, schemas.PhaseStarted) {
			due := s.started.Truncate(10 * time.Second)
			if due.Before(from) || !due.Before(until) {
				continue
			}
			lat = append(lat, s.started.Sub(due))
		}
	}
	want := n * periods
	b.late = Figures{Dist: distOf(lat)}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("schedule lateness: %d runs started of %d due in %d periods of 10 s (%d firings missed or later than 10 s)",
		len(lat), want, periods, want-len(lat)))
	return nil
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// fleetRuns returns the fleet job and how many runs the master has counted on each server.
func (e *env) fleetRuns() (jobs.Job, map[string]int, error) {
	cur, err := e.m.Catalog.Get(fleetJob)
	if err != nil {
		return jobs.Job{}, nil, err
	}
	base := map[string]int{}
	for _, js := range e.m.JobServers(cur) {
		base[js.ServerName] = js.Runs
	}
	return cur, base, nil
}
