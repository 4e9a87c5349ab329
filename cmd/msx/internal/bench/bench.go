package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"
)

// Config configures a benchmark run. The zero value of each field is its default.
type Config struct {
	// Targets is the size of the simulated fleet; default 200.
	Targets int
	// Jobs is the number of jobs, firing every 10 s, held by the one target of the schedule
	// lateness measure; default 1,000.
	Jobs int
	// Rounds is the number of fan-out and start rounds; default 3.
	Rounds int
	// ViewJobs is the number of jobs on the whole fleet the API views are timed with; default
	// 100; negative skips the views.
	ViewJobs int
	// Masters, when 3 or more, adds the failover phase: that many masters on a cluster of their
	// own, the leader stopped at once Rounds times (see Failover). 0 skips it.
	Masters int
	// Dials bounds the connections being opened at once, by the raw phases and by the fleet's
	// targets alike (a target holds a slot from its launch until its first connection is up),
	// as a real fleet staggers its starts; default 100. 5,000 TLS handshakes at once on two
	// cores time out.
	Dials int
	// Insecure runs the bus without TLS and authentication (targets with Encrypt none). The
	// default is the secure setup of `msx up`: TLS verified against a generated CA, nkeys.
	Insecure bool
	// ScheduleWindow is how long the schedule lateness measure watches the runs; default 25 s
	// (two or three firings of every job).
	ScheduleWindow time.Duration
	// ExecJobs is the number of jobs on every target of the fleet, each on a 1-second cron
	// schedule, in the execution phase; default (0) enough for 2,000 executions/s fleet-wide
	// (ceil(2000 / Targets)); negative skips the phase.
	ExecJobs int
	// ExecWindow is how long the execution phase counts runs (whole seconds); default 20 s.
	ExecWindow time.Duration
	// ExecStep is the step every run of the execution phase runs: "tsql" (SELECT 1 on the
	// target's SQLite, the default) or "cmdexec" (exit 0 through /bin/sh).
	ExecStep string
	// PhaseTimeout bounds each phase; default 3 minutes.
	PhaseTimeout time.Duration
	// Dir holds the server's store and every target's data directory; default a new temporary
	// directory, removed at the end unless Keep.
	Dir  string
	Keep bool
	// Logger receives the server's, the master's and the targets' logs; default warnings and
	// errors to Dir/bench.log.
	Logger *slog.Logger
	// Progress receives one line per phase; default io.Discard.
	Progress io.Writer
}

// Report is the result of a run: one JSON document.
type Report struct {
	Targets  int       `json:"targets"`
	Jobs     int       `json:"jobs"`
	Rounds   int       `json:"rounds"`
	Mode     string    `json:"mode"`
	CPUs     int       `json:"cpus"`
	Go       string    `json:"go"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Measures []Measure `json:"measures"`
	Memory   Memory    `json:"memory"`
	// Views are the API views timed on the fleet with Config.ViewJobs jobs.
	Views []View `json:"views"`
	// Failover is the takeover time with Config.Masters masters; nil when not measured.
	Failover *Failover `json:"failover,omitempty"`
	// Execution is the execution phase's counts; nil when skipped (Config.ExecJobs < 0).
	Execution *Execution `json:"execution,omitempty"`
	Notes     []string   `json:"notes"`
}

// Measure is one figure of msx and the bare JetStream figure for the same work.
type Measure struct {
	Name    string  `json:"name"`
	What    string  `json:"what"`
	RawWhat string  `json:"raw_what"`
	MSX     Figures `json:"msx"`
	Raw     Figures `json:"raw"`
	// Ratio is msx / raw for each figure (for per_second: raw / msx, so above 1 means slower).
	Ratio Ratios `json:"ratio"`
}

// Figures are a latency distribution plus, where it applies, a total time and a rate.
type Figures struct {
	Dist
	TotalMS   float64 `json:"total_ms,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"`
}

// Ratios compare msx with the raw figure.
type Ratios struct {
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	Total     float64 `json:"total,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"`
}

// Memory is process RSS. Master and targets share the process: the master figure is the
// process with the NATS server and the master running and no fleet; the per-target figure is
// the RSS the fleet added, divided by its size.
type Memory struct {
	MasterRSSMiB       float64 `json:"master_rss_mib"`
	FleetRSSMiB        float64 `json:"fleet_rss_mib"`
	PerTargetRSSMiB    float64 `json:"per_target_rss_mib"`
	RawPerConnRSSMiB   float64 `json:"raw_per_connection_rss_mib"`
	PerTargetVsRawConn float64 `json:"per_target_vs_raw_connection"`
}

func compare(name, what, rawWhat string, m, r Figures) Measure {
	out := Measure{Name: name, What: what, RawWhat: rawWhat, MSX: m, Raw: r}
	out.Ratio = Ratios{P50: ratio(m.P50MS, r.P50MS), P99: ratio(m.P99MS, r.P99MS), Max: ratio(m.MaxMS, r.MaxMS),
		Total: ratio(m.TotalMS, r.TotalMS), PerSecond: ratio(r.PerSecond, m.PerSecond)}
	return out
}

// Open files of the fleet, counted in /proc/PID/fd during a run of 1,000 targets: 7 per target
// (both ends of its bus connection, target.db with its -wal and -shm, local.db, the data
// directory's lock), and a margin for the server, the master and the raw phases.
const (
	filesPerTarget = 7
	filesBase      = 500
)

func filesNeeded(targets int) int { return filesBase + filesPerTarget*targets }

func (c *Config) defaults() error {
	if c.Targets == 0 {
		c.Targets = 200
	}
	if c.Jobs == 0 {
		c.Jobs = 1000
	}
	if c.Rounds == 0 {
		c.Rounds = 3
	}
	if c.ViewJobs == 0 {
		c.ViewJobs = 100
	}
	if c.Masters != 0 && (c.Masters < 3 || c.Masters > 7) {
		return fmt.Errorf("--masters %d: use 3 to 7 (or 0 to skip the failover phase)", c.Masters)
	}
	if c.Dials == 0 {
		c.Dials = 100
	}
	if c.Dials < 1 || c.Dials > 10000 {
		return fmt.Errorf("--dials %d: use 1 to 10000", c.Dials)
	}
	if lim, ok := fdLimit(); ok {
		if need := filesNeeded(c.Targets); need > lim {
			return fmt.Errorf("--targets %d needs about %d open files (%d per target: its client and server sockets, 4 SQLite files, a lock), but this process may open %d (ulimit -n): run at most %d targets, or raise the hard limit",
				c.Targets, need, filesPerTarget, lim, (lim-filesBase)/filesPerTarget)
		}
	}
	if c.Targets < 1 || c.Targets > 10000 {
		return fmt.Errorf("--targets %d: use 1 to 10000", c.Targets)
	}
	if c.Jobs < 1 || c.Jobs > 100000 {
		return fmt.Errorf("--jobs %d: use 1 to 100000", c.Jobs)
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		return fmt.Errorf("--rounds %d: use 1 to 100", c.Rounds)
	}
	if c.ExecJobs > 1000 {
		return fmt.Errorf("--exec-jobs %d: use at most 1000 jobs per target (or -1 to skip the execution phase)", c.ExecJobs)
	}
	if c.ExecWindow == 0 {
		c.ExecWindow = 20 * time.Second
	}
	if c.ExecWindow < time.Second || c.ExecWindow > time.Hour {
		return fmt.Errorf("--exec-window %s: use 1s to 1h", c.ExecWindow)
	}
	switch c.ExecStep {
	case "":
		c.ExecStep = "tsql"
	case "tsql", "cmdexec":
	default:
		return fmt.Errorf("--exec-step %q: use tsql (SELECT 1 on the target's SQLite) or cmdexec (exit 0 through the shell)", c.ExecStep)
	}
	if c.ScheduleWindow == 0 {
		c.ScheduleWindow = 25 * time.Second
	}
	if c.PhaseTimeout == 0 {
		c.PhaseTimeout = 3 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// Run runs the benchmark: raw JetStream measures first (with no fleet), then the fleet
// measures, then the schedule lateness measure. Each phase has a timeout whose error says how
// many targets had not finished.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "msx-bench-"); err != nil {
			return nil, err
		}
		if !cfg.Keep {
			defer os.RemoveAll(cfg.Dir)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		lf, err := os.OpenFile(filepath.Join(cfg.Dir, "bench.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		defer lf.Close()
		cfg.Logger = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rep = &Report{Targets: cfg.Targets, Jobs: cfg.Jobs, Rounds: cfg.Rounds, Mode: "secure (TLS verify + nkeys, as msx up)",
		CPUs: runtime.NumCPU(), Go: runtime.Version(), Started: time.Now().UTC()}
	if cfg.Insecure {
		rep.Mode = "plain (no TLS, no authentication; targets with --encrypt none)"
	}
	t0 := time.Now()
	defer func() { rep.Seconds = round3(time.Since(t0).Seconds()) }()

	progress(cfg, "starting NATS JetStream and the master in %s", cfg.Dir)
	e, err := startEnv(ctx, cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	debug.FreeOSMemory()
	rssMaster := rssBytes()
	rep.Memory.MasterRSSMiB = mib(rssMaster)

	b := &bench{e: e, cfg: cfg, rep: rep}
	if err := b.raw(ctx); err != nil {
		return rep, fmt.Errorf("raw JetStream measures: %w", err)
	}
	debug.FreeOSMemory()
	rssBefore := rssBytes()
	if err := b.fleetMeasures(ctx, rssBefore); err != nil {
		return rep, err
	}
	if err := b.lateness(ctx); err != nil {
		return rep, fmt.Errorf("schedule lateness: %w", err)
	}
	rep.Measures = b.measures()
	if cfg.Masters > 0 {
		progress(cfg, "failover: %d masters on a cluster of their own, %d rounds", cfg.Masters, cfg.Rounds)
		if rep.Failover, err = failover(ctx, cfg, cfg.Logger); err != nil {
			return rep, fmt.Errorf("failover: %w", err)
		}
	}
	return rep, nil
}

func progress(cfg Config, format string, args ...any) {
	fmt.Fprintf(cfg.Progress, "msx bench: "+format+"\n", args...)
}

// bench holds the figures of one run as the phases produce them.
type bench struct {
	e   *env
	cfg Config
	rep *Report

	enlist, fanout, start, results, late, ingest Figures
	rawEnlist, rawRound, rawResults, rawTimers   Figures
	rawConnRSS                                   int64
	fanoutRounds, startRounds                    []time.Duration
	exec                                         *Execution
}

func (b *bench) measures() []Measure {
	out := []Measure{
		compare("enlist", fmt.Sprintf("%d targets enlist at once (TLS, token, nkey identity, second connection); per-target time from start to registered; per_second = targets/s", b.cfg.Targets),
			"per target: 2 fresh connections with the same TLS and nkey setup + 1 request-reply whose responder does 1 KV put",
			b.enlist, b.rawEnlist),
		compare("fan-out", fmt.Sprintf("job applied to all %d targets (INSERT posted by the master), per-target time until its applied report is on the bus; %d rounds", b.cfg.Targets, b.cfg.Rounds),
			"1 message to each of N subjects (async publish), N ordered consumers on N connections, each publishes 1 reply to a stream",
			b.fanout, b.rawRound),
		compare("start", fmt.Sprintf("`job start` on all %d targets, per-target time until its 'started' result is on the bus; %d rounds", b.cfg.Targets, b.cfg.Rounds),
			"same as fan-out: 1 message down to each of N ordered consumers, 1 reply up",
			b.start, b.rawRound),
		compare("results", fmt.Sprintf("all %d targets run a job at the same second (one-time schedule) and report; per-target time from the scheduled second until the master has ingested the outcome; per_second = outcomes ingested/s", b.cfg.Targets),
			"the same number of result messages (same size) async-published to a stream like MSX_RESULTS and consumed by 1 ordered consumer",
			b.results, b.rawResults),
		compare("ingest", fmt.Sprintf("results ingestion alone: %d ready-made finished results (one per target, no job run) async-published at once; per-result time until the master's job servers view shows it", b.cfg.Targets),
			"the same number of result messages (same size) async-published to a stream like MSX_RESULTS and consumed by 1 ordered consumer",
			b.ingest, b.rawResults),
		compare("schedule lateness", fmt.Sprintf("1 target holding %d jobs that fire every 10 s: run start minus scheduled time, over %s", b.cfg.Jobs, b.cfg.ScheduleWindow),
			fmt.Sprintf("baseline without any bus: %d Go timers due at the same instant, wake-up minus due time", b.cfg.Jobs),
			b.late, b.rawTimers),
	}
	if b.exec != nil {
		out = append(out, b.execMeasure())
	}
	return out
}

var errTimeout = errors.New("phase timed out")

// waitPending polls pending until it returns 0, or fails after the phase timeout with an error
// naming how many of total had not finished.
func (b *bench) waitPending(ctx context.Context, phase string, total int, f *fleet, pending func() int) error {
	deadline := time.Now().Add(b.cfg.PhaseTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := pending()
		if n == 0 {
			return nil
		}
		if f != nil {
			if err := f.failed(); err != nil {
				return fmt.Errorf("%s: %d of %d targets had not finished: %w", phase, n, total, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d targets had not finished after %s: %w", phase, n, total, b.cfg.PhaseTimeout, errTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d targets had not finished: %w", phase, n, total, ctx.Err())
		case <-b.e.rec.changed:
		case <-tick.C:
		}
	}
}
