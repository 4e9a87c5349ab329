package master

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// MetricsOptions configures the master's Prometheus series (see deploy/prometheus/README.md).
type MetricsOptions struct {
	// NoServerLabel drops the per-target label (server) from the job series and leaves out the
	// per-target series, for fleets too large for job × target series: the job series are then
	// aggregated over the job's targets.
	NoServerLabel bool
	// MissedGrace is how long after a scheduled time a target may still start the run before
	// the run counts as missed; default 5 minutes.
	MissedGrace time.Duration
}

// DefaultMissedGrace is MetricsOptions.MissedGrace's default.
const DefaultMissedGrace = 5 * time.Minute

// runDurationBuckets are the upper bounds of the run duration histogram, seconds: one second
// to a day, as scheduled jobs last.
var runDurationBuckets = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400}

// outcomeLabels names the outcome label's values by run status (0..3).
var outcomeLabels = [...]string{"failed", "succeeded", "retry", "canceled"}

// lastOutcomeLabels names last_run_outcome (0..5) for the per-outcome target counts.
var lastOutcomeLabels = [...]string{"failed", "succeeded", "retry", "canceled", "in_progress", "unknown"}

// runDurations is the duration histogram of a job's finished runs and their count by outcome,
// every target together; it is filled by result ingestion, under outcomes.mu, once per run (see
// observeRun). A target leaving the job does not lower it: the job's counters only grow.
type runDurations struct {
	counts    []uint64 // per bucket, not cumulative
	sum       float64
	n         uint64
	byOutcome [4]uint64
}

// observeRun records a finished run in what the metrics read: its finish as the last success
// and, for a result received after the master started (received: its JetStream time), its
// outcome on its JobServer and its duration in the job's histogram. Results replayed from the
// stream when the master starts are not counted again: the counters start at zero with the
// process, as Prometheus expects of a counter, so increase() never counts a replayed run twice.
// Result ingestion calls it once per run (resent results are dropped before), holding mu for
// writing.
func (o *outcomes) observeRun(js *JobServer, r *schemas.RunResult, received time.Time) {
	if r.RunStatus == int(jobs.RunSucceeded) && r.Finished.After(js.lastSuccess) {
		js.lastSuccess = r.Finished
	}
	if received.Before(o.countSince) {
		return
	}
	if o.durations == nil {
		o.durations = map[string]*runDurations{}
	}
	h := o.durations[r.JobID]
	if h == nil {
		h = &runDurations{counts: make([]uint64, len(runDurationBuckets)+1)}
		o.durations[r.JobID] = h
	}
	d := max(r.Finished.Sub(r.Started).Seconds(), 0)
	i := 0
	for i < len(runDurationBuckets) && d > runDurationBuckets[i] {
		i++
	}
	h.counts[i]++
	h.sum += d
	h.n++
	if r.RunStatus >= 0 && r.RunStatus < len(js.byOutcome) {
		js.byOutcome[r.RunStatus]++
		h.byOutcome[r.RunStatus]++
	}
}

// metricsRegistry is the master's Prometheus registry, made on first use.
type metricsRegistry struct {
	once sync.Once
	reg  *prometheus.Registry
	c    *collector
}

// Metrics returns the master's Prometheus registry: the Go and process collectors and the msx
// series (job runs, target status, leadership), all computed when scraped from the master's own
// views. Other parts of msx (notifications) register their collectors on it; serve it with
// promhttp.HandlerFor. The options are read once, on the first call.
func (m *Master) Metrics() *prometheus.Registry {
	m.metrics.once.Do(func() {
		m.metrics.reg, m.metrics.c = newRegistry(m, m.cfg.Metrics)
	})
	return m.metrics.reg
}

// NewMetricsRegistry returns a registry of its own with m's series under other options than
// the master's (msx bench compares the two label sets); Metrics is the master's registry.
func NewMetricsRegistry(m *Master, opt MetricsOptions) *prometheus.Registry {
	reg, _ := newRegistry(m, opt)
	return reg
}

func newRegistry(m *Master, opt MetricsOptions) (*prometheus.Registry, *collector) {
	reg := prometheus.NewRegistry()
	c := newCollector(m, opt)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), c)
	return reg, c
}

// collector computes the msx series at scrape time from the master's views: the registry, the
// download list, the job × target outcomes. It keeps no copy of that state; its only own state
// is when each job version was first seen on each target, the start of the missed-run window.
type collector struct {
	m     *Master
	opt   MetricsOptions
	descs struct {
		leader, rejected, misattributed, stalls           *prometheus.Desc
		targets, unread, failedInstr                      *prometheus.Desc
		tStatus, tConnected, tHeartbeat, tUnread, tFailed *prometheus.Desc
		tDisk, tDiskFree                                  *prometheus.Desc
		runs, duration, byLastOutcome, missedTargets      *prometheus.Desc
		lastOutcome, lastSuccess, nextRun, missed         *prometheus.Desc
		notifications                                     *prometheus.Desc
	}

	// now is the clock of the scrape: time.Now but in tests.
	now func() time.Time

	mu      sync.Mutex
	created time.Time
	scraped bool
	seen    map[string]*seenJob // job id -> first sightings of its current version
}

type seenJob struct {
	version int
	at      map[string]time.Time // token -> when the version was first seen applied there
}

func newCollector(m *Master, opt MetricsOptions) *collector {
	if opt.MissedGrace <= 0 {
		opt.MissedGrace = DefaultMissedGrace
	}
	c := &collector{m: m, opt: opt, now: time.Now, created: time.Now(), seen: map[string]*seenJob{}}
	d := &c.descs
	srv := []string{"server"}
	job := []string{"job_name"}
	if opt.NoServerLabel {
		srv = nil
	}
	jobSrv := append(append([]string{}, job...), srv...)
	d.leader = prometheus.NewDesc("msx_master_leader", "1 while this master holds the leader lease, else 0.", nil, nil)
	d.rejected = prometheus.NewDesc("msx_master_rejected_messages_total", "Malformed or unknown messages the master received from the bus and refused.", nil, nil)
	d.misattributed = prometheus.NewDesc("msx_master_misattributed_messages_total", "Messages whose body named another server than the subject they came on.", nil, nil)
	d.stalls = prometheus.NewDesc("msx_master_follower_stalls_total", "Followers of a stream or watchers of a bucket (name) this master replaced because they delivered nothing while a newer message waited (a node lost): its views were late meanwhile.", []string{"name"}, nil)
	d.targets = prometheus.NewDesc("msx_targets", "Enlisted targets by state: all, connected, offline (suspected offline), blocked (an uncleared failed instruction), disk_full, disk_low.", []string{"state"}, nil)
	d.unread = prometheus.NewDesc("msx_instructions_unread", "Instructions posted and not yet downloaded, all targets.", nil, nil)
	d.failedInstr = prometheus.NewDesc("msx_instructions_failed", "Instructions that failed on their target and whose error nobody cleared, all targets.", nil, nil)
	d.tStatus = prometheus.NewDesc("msx_target_status_flags", "sp_help_targetserver's status bitmask: 1 normal, 2 suspected offline, 4 blocked, 8 disk full.", []string{"server"}, nil)
	d.tConnected = prometheus.NewDesc("msx_target_connected", "1 when the target polled within three heartbeat intervals, else 0.", []string{"server"}, nil)
	d.tHeartbeat = prometheus.NewDesc("msx_target_last_heartbeat_timestamp_seconds", "When the master received the target's last heartbeat (absent before the first).", []string{"server"}, nil)
	d.tUnread = prometheus.NewDesc("msx_target_unread_instructions", "Instructions posted to the target and not yet downloaded.", []string{"server"}, nil)
	d.tFailed = prometheus.NewDesc("msx_target_failed_instructions", "Instructions that failed on the target, error not cleared.", []string{"server"}, nil)
	d.tDisk = prometheus.NewDesc("msx_target_disk_state", "1 for the state of the target's data directory (ok, low, full) from its last heartbeat.", []string{"server", "state"}, nil)
	d.tDiskFree = prometheus.NewDesc("msx_target_disk_free_bytes", "Free bytes in the target's data directory from its last heartbeat.", []string{"server"}, nil)
	d.runs = prometheus.NewDesc("msx_job_runs_total", "Finished runs of a job by outcome (failed, succeeded, retry, canceled), from the results the master indexes.", append(jobSrv, "outcome"), nil)
	d.duration = prometheus.NewDesc("msx_job_run_duration_seconds", "Duration of a job's finished runs, every target together.", job, nil)
	d.byLastOutcome = prometheus.NewDesc("msx_job_targets", "Targets of a job by the outcome of their last run (failed, succeeded, retry, canceled, in_progress, unknown).", []string{"job_name", "outcome"}, nil)
	d.missedTargets = prometheus.NewDesc("msx_job_missed_schedules", "Targets of a job that did not start a scheduled run within the grace time.", job, nil)
	d.lastSuccess = prometheus.NewDesc("msx_job_last_success_timestamp_seconds", "When the job last succeeded on the target (without the server label: the oldest of its targets' last successes).", jobSrv, nil)
	d.nextRun = prometheus.NewDesc("msx_job_next_run_timestamp_seconds", "When the job's schedules run it next on the target, in the target's time zone (without the server label: the soonest).", jobSrv, nil)
	d.notifications = prometheus.NewDesc("msx_notifications_total", "Notifications this master handled since it started, by channel (email, pager, webhook) and result (sent, failed, off_duty, silenced, ...), as in its delivery log.", []string{"channel", "result"}, nil)
	if !opt.NoServerLabel {
		d.lastOutcome = prometheus.NewDesc("msx_job_last_run_outcome", "last_run_outcome of the job on the target: 0 failed, 1 succeeded, 2 retry, 3 canceled, 4 in progress, 5 unknown.", jobSrv, nil)
		d.missed = prometheus.NewDesc("msx_job_schedule_missed", "1 when the target did not start a scheduled run of the job within the grace time, else 0.", jobSrv, nil)
	}
	return c
}

// Describe sends the descriptors of every series.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, x := range []*prometheus.Desc{d.leader, d.rejected, d.misattributed, d.stalls, d.targets, d.unread, d.failedInstr,
		d.runs, d.duration, d.byLastOutcome, d.missedTargets, d.lastSuccess, d.nextRun, d.notifications} {
		ch <- x
	}
	if !c.opt.NoServerLabel {
		for _, x := range []*prometheus.Desc{d.tStatus, d.tConnected, d.tHeartbeat, d.tUnread, d.tFailed, d.tDisk,
			d.tDiskFree, d.lastOutcome, d.missed} {
			ch <- x
		}
	}
}

// send sends one sample; a sample that cannot be made (a label value that is not UTF-8) fails
// the scrape with the reason (promhttp answers 500), never a panic.
func send(ch chan<- prometheus.Metric, desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}

// targetInfo is what the job series need of a target.
type targetInfo struct {
	name   string
	offset int // minutes east of UTC
	enlist time.Time
}

// Collect computes every series from the master's views. It holds no lock across I/O: the
// views copy what they need under their own read locks.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m, d, now := c.m, &c.descs, c.now()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		send(ch, desc, prometheus.GaugeValue, v, labels...)
	}
	gauge(d.leader, boolValue(m.Leading()))
	send(ch, d.rejected, prometheus.CounterValue, float64(m.Rejected.Load()))
	send(ch, d.misattributed, prometheus.CounterValue, float64(m.Misattributed.Load()))
	for name, n := range bus.Stalls() {
		send(ch, d.stalls, prometheus.CounterValue, float64(n), name)
	}
	if m.Notify != nil {
		for k, n := range m.Notify.Counts() {
			channel, result, _ := strings.Cut(k, "/")
			send(ch, d.notifications, prometheus.CounterValue, float64(n), channel, result)
		}
	}

	regs := m.Reg.Targets()
	info := make(map[string]targetInfo, len(regs))
	states := map[string]int{"all": 0, "connected": 0, "offline": 0, "blocked": 0, "disk_full": 0, "disk_low": 0}
	unread, failed := 0, 0
	for _, t := range regs {
		v := m.view(now, t, nil)
		info[t.Token] = targetInfo{name: v.ServerName, offset: v.TimeZoneAdjustment, enlist: t.EnlistDate}
		unread += v.UnreadInstructions
		failed += v.DownloadErrors
		disk := diskState(&schemas.Heartbeat{Disk: v.Disk})
		states["all"]++
		states["connected"] += int(boolValue(v.Connected))
		states["offline"] += int(boolValue(v.Status&ledger.StatusSuspectedOffline != 0))
		states["blocked"] += int(boolValue(v.Status&ledger.StatusBlocked != 0))
		states["disk_full"] += int(boolValue(disk == schemas.DiskFull))
		states["disk_low"] += int(boolValue(disk == schemas.DiskLow))
		if c.opt.NoServerLabel {
			continue
		}
		s := v.ServerName
		gauge(d.tStatus, float64(v.Status), s)
		gauge(d.tConnected, boolValue(v.Connected), s)
		if v.LastPollDate != nil {
			gauge(d.tHeartbeat, unixSeconds(*v.LastPollDate), s)
		}
		gauge(d.tUnread, float64(v.UnreadInstructions), s)
		gauge(d.tFailed, float64(v.DownloadErrors), s)
		for _, st := range []string{schemas.DiskOK, schemas.DiskLow, schemas.DiskFull} {
			gauge(d.tDisk, boolValue(st == disk), s, st)
		}
		if v.Disk != nil {
			gauge(d.tDiskFree, float64(v.Disk.FreeBytes), s)
		}
	}
	for st, n := range states {
		gauge(d.targets, float64(n), st)
	}
	gauge(d.unread, float64(unread))
	gauge(d.failedInstr, float64(failed))

	all := m.Catalog.All()
	c.pruneSeen(all)
	for _, j := range all {
		c.collectJob(ch, now, j, info)
	}
	c.mu.Lock()
	c.scraped = true
	c.mu.Unlock()
}

// pairState is a copy of what the series need of one job on one target.
type pairState struct {
	tok, server string
	outcome     jobs.RunOutcome
	byOutcome   [4]int
	lastSuccess time.Time
	started     time.Time
	consumed    bool
}

// collectJob sends the series of one job.
func (c *collector) collectJob(ch chan<- prometheus.Metric, now time.Time, j jobs.Job, info map[string]targetInfo) {
	d, m := &c.descs, c.m
	var toks []string
	named := map[string]targetInfo{}
	m.eachNamed(j, func(t registry.Target) {
		toks = append(toks, t.Token)
		if _, ok := info[t.Token]; !ok { // enlisted since the targets were read
			named[t.Token] = targetInfo{name: t.ServerName, offset: t.TimeZoneAdjustment, enlist: t.EnlistDate}
		}
	})
	infoOf := func(tok string) targetInfo {
		if ti, ok := info[tok]; ok {
			return ti
		}
		return named[tok]
	}
	pairs := make([]pairState, 0, len(toks))
	var hist runDurations
	m.out.mu.RLock()
	last, consumed := m.out.last[j.JobID], m.out.consumed[j.JobID]
	for _, tok := range toks {
		p := pairState{tok: tok, server: infoOf(tok).name, outcome: jobs.OutcomeUnknown}
		if js := last[tok]; js != nil {
			p.outcome, p.byOutcome, p.lastSuccess, p.started = js.LastRunOutcome, js.byOutcome, js.lastSuccess, js.Started
		}
		if v, ok := consumed[tok]; ok && v == j.VersionNumber {
			p.consumed = true
		}
		pairs = append(pairs, p)
	}
	if h := m.out.durations[j.JobID]; h != nil {
		hist = runDurations{counts: append([]uint64(nil), h.counts...), sum: h.sum, n: h.n, byOutcome: h.byOutcome}
	}
	m.out.mu.RUnlock()

	name := j.Name
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		send(ch, desc, prometheus.GaugeValue, v, labels...)
	}
	if hist.n > 0 {
		buckets := make(map[float64]uint64, len(runDurationBuckets))
		var cum uint64
		for i, ub := range runDurationBuckets {
			cum += hist.counts[i]
			buckets[ub] = cum
		}
		h, err := prometheus.NewConstHistogram(d.duration, hist.n, hist.sum, buckets, name)
		if err != nil {
			h = prometheus.NewInvalidMetric(d.duration, err)
		}
		ch <- h
	}
	seen := c.firstSeen(j, toks, now)
	next := c.nextRuns(j, now)
	due := c.lastDue(j, now.Add(-c.opt.MissedGrace))
	var (
		byLast     [len(lastOutcomeLabels)]int
		missed     int
		oldest     time.Time
		soonest    time.Time
		anySuccess bool
		perServer  = !c.opt.NoServerLabel
	)
	for _, p := range pairs {
		if int(p.outcome) < len(byLast) {
			byLast[p.outcome]++
		}
		ti := infoOf(p.tok)
		nr, scheduled := next(ti.offset)
		miss := false
		if scheduled && !p.consumed && p.outcome != jobs.OutcomeInProgress {
			d, ok := due(ti.offset)
			miss = ok && d.After(maxTime(p.started, ti.enlist, seen[p.tok]))
		}
		missed += int(boolValue(miss))
		if perServer {
			for o, n := range p.byOutcome {
				if n > 0 {
					send(ch, d.runs, prometheus.CounterValue, float64(n), name, p.server, outcomeLabels[o])
				}
			}
			gauge(d.lastOutcome, float64(p.outcome), name, p.server)
			if !p.lastSuccess.IsZero() {
				gauge(d.lastSuccess, unixSeconds(p.lastSuccess), name, p.server)
			}
			if scheduled {
				gauge(d.nextRun, unixSeconds(nr), name, p.server)
				gauge(d.missed, boolValue(miss), name, p.server)
			}
			continue
		}
		if !p.lastSuccess.IsZero() && (!anySuccess || p.lastSuccess.Before(oldest)) {
			oldest, anySuccess = p.lastSuccess, true
		}
		if scheduled && (soonest.IsZero() || nr.Before(soonest)) {
			soonest = nr
		}
	}
	for o, n := range byLast {
		gauge(d.byLastOutcome, float64(n), name, lastOutcomeLabels[o])
	}
	gauge(d.missedTargets, float64(missed), name)
	if perServer {
		return
	}
	for o, n := range hist.byOutcome {
		if n > 0 {
			send(ch, d.runs, prometheus.CounterValue, float64(n), name, outcomeLabels[o])
		}
	}
	if anySuccess {
		gauge(d.lastSuccess, unixSeconds(oldest), name)
	}
	if !soonest.IsZero() {
		gauge(d.nextRun, unixSeconds(soonest), name)
	}
}

// nextRuns returns a function giving the job's next scheduled run after now on a target in a
// zone (minutes east of UTC), planned once per zone; false when the job is not scheduled.
func (c *collector) nextRuns(j jobs.Job, now time.Time) func(offset int) (time.Time, bool) {
	return perZone(j, func(sc schedule.Schedule, loc *time.Location) (time.Time, bool) { return sc.Next(now, loc) },
		func(t, best time.Time) bool { return t.Before(best) })
}

// lastDue returns a function giving, for a target in a zone (minutes east of UTC), the latest
// time at or before cutoff at which one of the job's schedules was due; false when none was.
// A target missed a run when that time is after its last start (and after it got the job):
// one search per zone, not per target.
func (c *collector) lastDue(j jobs.Job, cutoff time.Time) func(offset int) (time.Time, bool) {
	return perZone(j, func(sc schedule.Schedule, loc *time.Location) (time.Time, bool) { return sc.Last(cutoff, loc) },
		func(t, best time.Time) bool { return t.After(best) })
}

// perZone returns a function that computes, once per zone, the best of at over the job's
// schedules (better says which of two is); nothing for a disabled job.
func perZone(j jobs.Job, at func(schedule.Schedule, *time.Location) (time.Time, bool), better func(t, best time.Time) bool) func(offset int) (time.Time, bool) {
	type best struct {
		at time.Time
		ok bool
	}
	byZone := map[int]best{}
	return func(offset int) (time.Time, bool) {
		if b, ok := byZone[offset]; ok {
			return b.at, b.ok
		}
		var b best
		if j.IsEnabled() {
			loc := zoneOf(offset)
			for _, sc := range j.Schedules {
				if t, ok := at(sc, loc); ok && (!b.ok || better(t, b.at)) {
					b = best{t, true}
				}
			}
		}
		byZone[offset] = b
		return b.at, b.ok
	}
}

// firstSeen returns when the collector first saw the job's current version applied to each
// of toks (the collector's creation for what it saw on its first scrape): a target is not
// expected to have run a schedule due before it had the job.
func (c *collector) firstSeen(j jobs.Job, toks []string, now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := now
	if !c.scraped {
		at = c.created
	}
	s := c.seen[j.JobID]
	if s == nil || s.version != j.VersionNumber {
		s = &seenJob{version: j.VersionNumber, at: map[string]time.Time{}}
		c.seen[j.JobID] = s
	}
	named := make(map[string]bool, len(toks))
	for _, tok := range toks {
		named[tok] = true
		if _, ok := s.at[tok]; !ok {
			s.at[tok] = at
		}
	}
	maps.DeleteFunc(s.at, func(tok string, _ time.Time) bool { return !named[tok] })
	return maps.Clone(s.at)
}

// pruneSeen forgets the first sightings of deleted jobs.
func (c *collector) pruneSeen(all []jobs.Job) {
	ids := make(map[string]bool, len(all))
	for _, j := range all {
		ids[j.JobID] = true
	}
	c.mu.Lock()
	maps.DeleteFunc(c.seen, func(id string, _ *seenJob) bool { return !ids[id] })
	c.mu.Unlock()
}

// zoneOf returns the fixed zone offset minutes east of UTC.
func zoneOf(offset int) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	return time.FixedZone("UTC"+strconv.Itoa(offset/60), offset*60)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func maxTime(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
