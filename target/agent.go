package target

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target/runner"
	"github.com/msx-project/msx/target/store"
)

// Version is the agent's version, reported at enlistment and in heartbeats.
var Version = "0.1.0"

// Config configures one target agent. The zero value of each field is its default.
type Config struct {
	// Name is the SQL Server instance, HOST or HOST\INSTANCE. Required.
	Name string
	// Location is free text shown on the master. Default (empty): the location the target
	// last reported, kept in its local database (empty for a new target).
	Location string
	// ClearLocation makes an empty Location clear the location held instead of keeping it.
	ClearLocation bool
	// NATSURL is the bus to connect to. Required.
	NATSURL string
	// Token is a one-time enlistment token; needed only for the first enlistment.
	Token string
	// DataDir holds the local database; it is locked while the agent runs. Required.
	DataDir string
	// PollInterval in seconds (10..28,800); default: the one held (60 for a new target). It sets the heartbeat interval, and the
	// master's SET-POLL instruction changes it.
	PollInterval int
	// HeartbeatInterval overrides the heartbeat interval derived from PollInterval (tests, demos).
	HeartbeatInterval time.Duration
	// EnlistedBy records who enlisted the target; default user@host.
	EnlistedBy string
	// Database labels the local database in heartbeats; default "SQLite (embedded)", or
	// "SQL Server (user@host/INSTANCE)" (no password) with SQLDSN.
	Database string
	// SQLDSN is the SQL Server instance T-SQL steps run on, as a go-mssqldb URL:
	// sqlserver://user:password@host:1433/INSTANCE?database=master. Default (empty): an
	// embedded SQLite database, local.db in DataDir (not the agent's own target.db).
	SQLDSN string
	// ForwardEvents forwards the errors of SQLDSN's error log as events, as MSX's event
	// forwarding: "unhandled" (the default: errors no enabled local alert handles), "all" or
	// "off". Without SQLDSN nothing is forwarded.
	ForwardEvents string
	// ForwardSeverity is the least severity of the errors forwarded, 1..25; default 17.
	ForwardSeverity int
	// ErrorLogInterval is how often the error log is read; default 30 s.
	ErrorLogInterval time.Duration
	// PerfAlerts are the performance-condition alerts evaluated on SQLDSN (see perfalert.go);
	// PerfInterval how often, default 20 s.
	PerfAlerts   []notify.Alert
	PerfInterval time.Duration
	// TimeZone is the target's local time zone: schedules fire and history rows are dated in
	// it. Default: time.Local.
	TimeZone *time.Location
	// WorkDir is the working directory of CmdExec steps; default DataDir/work.
	WorkDir string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Encrypt is the encryption of the connection to the bus, as MSX's
	// MsxEncryptChannelOptions: verify (the default: TLS with full certificate validation),
	// encrypt (TLS without validation), none (plain; the master must allow it).
	Encrypt bus.EncryptMode
	// CAFile is the master's CA certificate. Default: the CA saved at enlistment, or the one
	// whose fingerprint the enlistment token carries.
	CAFile string
	// ConnOptions are extra NATS options.
	ConnOptions []nats.Option
	// AgentMode says who runs the downloaded jobs: AgentModeRunner (the default, "runner"):
	// this agent, with its own scheduler and step executors; or AgentModeMSDB ("msdb"): SQL
	// Server Agent, into whose msdb the agent writes the jobs (category "Jobs from MSX") and
	// whose sysjobhistory it harvests. msdb needs SQLDSN.
	AgentMode string
	// HarvestInterval is how often msdb mode reads msdb.dbo.sysjobhistory; default 10 s.
	HarvestInterval time.Duration
	// Proxies are what the proxy_name of CmdExec and PowerShell steps stands for on this
	// target (an OS account, secrets for the environment), by name without regard to case;
	// ConnectionProfiles are the SQL Server connections T-SQL steps may name
	// (connection_profile). Both come from the target's own proxies file (LoadCredentials)
	// and never leave it. Default: none.
	Proxies            map[string]Proxy
	ConnectionProfiles map[string]ConnectionProfile
	// AllowProxyMatching lets downloaded jobs' steps use the proxies of this target, as SQL
	// Server Agent's AllowDownloadedJobsToMatchProxyName. Default false, as in MSX: a job
	// whose step names a proxy fails its INSERT or UPDATE (CodeProxyMatching).
	AllowProxyMatching bool
	// KeepStepChildren leaves running the processes a CmdExec or PowerShell step starts in the
	// background and leaves behind when its main process exits. Default false: they are ended
	// (SIGTERM, then SIGKILL). The step's outcome is its main process's exit either way.
	KeepStepChildren bool
	// OrphanPolicy is what the agent does, when it starts, with steps a previous life of it
	// left running (kill -9, a crash): OrphanEnd (the default, "end": SIGTERM to the step's
	// process group, SIGKILL after OrphanGrace) or OrphanWait ("wait": the agent schedules
	// nothing until they finish). Either way the interrupted run is reported once, as failed,
	// naming the step. Process groups are Unix only: on Windows nothing is found.
	OrphanPolicy string
	// OrphanGrace is the time between SIGTERM and SIGKILL for OrphanEnd; default 10 s.
	OrphanGrace time.Duration
	// HoldBytes bounds the reports held in memory while the data directory refuses writes (a
	// full disk); default 16 MiB. Held reports are sent directly while the bus is reachable,
	// and written to the outbox, in order, once the disk has space. Over the limit the agent
	// drops, oldest first: start reports superseded by their run's outcome, then events, then
	// the history rows of outcomes; never an outcome itself. It reports what it dropped in an
	// event. Held reports are lost if the agent stops before they are out.
	HoldBytes int
	// LowDiskBytes is the free space of the data directory's file system under which the
	// heartbeat reports the disk "low"; default 64 MiB.
	LowDiskBytes int64
	// OutboxBytes bounds the reports queued on disk while the bus does not take them (payload
	// bytes); default 64 MiB. Over it the agent drops, oldest first: start reports of runs
	// whose outcome is queued too, then events, then start reports of runs still going; never
	// an outcome (a finished run, an instruction's status). It raises an event saying what it
	// dropped.
	OutboxBytes int64
	// AppliedKeep is how long the ids of applied instructions are kept to recognise a
	// redelivery; default 30 days, the instruction stream's default maximum age (bus.Layout
	// InstrMaxAge): set it to at least that stream's maximum age.
	AppliedKeep time.Duration
}

// Agent modes (Config.AgentMode).
const (
	AgentModeRunner = "runner"
	AgentModeMSDB   = "msdb"
)

// Agent is a running target agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	id    store.Identity
	nc    *nats.Conn
	js    jetstream.JetStream

	mu       sync.Mutex
	interval time.Duration
	pollSecs int
	offsetMS int64
	kick     chan struct{} // wakes the heartbeat loop after SET-POLL
	outbox   chan struct{} // wakes the outbox sender
	spool    *spool        // reports the disk refused
	// sending is the outbox sender's turn (capacity 1). sentUpTo is the last outbox row
	// published, forgotUpTo the last one deleted (on a full disk the delete fails and waits):
	// only the sender whose turn it is uses them.
	sending              chan struct{}
	sentUpTo, forgotUpTo int64

	// Owned by the heartbeat loop: heartbeats sent, and the digest of the last one that
	// carried the held job versions.
	beats      int
	lastDigest string

	localDB *sql.DB // T-SQL steps run here; in msdb mode, SQL Server Agent's jobs are written through it
	// held is the jobs held, in memory; host holds and runs them, in the agent's mode.
	held *heldJobs
	host jobHost
	perf perfState // the performance alerts the master sent (perfalerts_apply.go)

	defected chan struct{}
	defOnce  sync.Once
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("invalid target configuration")

func (c *Config) check() error {
	if c.Name == "" {
		return fmt.Errorf("%w: --name is required (the SQL Server instance, HOST or HOST\\INSTANCE)", ErrConfig)
	}
	if _, err := jobs.CanonicalServerName(c.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.NATSURL == "" {
		return fmt.Errorf("%w: --nats URL of the master's bus is required", ErrConfig)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: --data directory is required", ErrConfig)
	}
	if c.PollInterval != 0 && (c.PollInterval < 10 || c.PollInterval > 28800) {
		return fmt.Errorf("%w: poll interval %d s is outside 10..28800", ErrConfig, c.PollInterval)
	}
	if c.EnlistedBy == "" {
		c.EnlistedBy = whoami()
	}
	label, err := checkDSN(c.SQLDSN)
	if err != nil {
		return err
	}
	if c.Database == "" {
		c.Database = label
	}
	if err := checkForwarding(c); err != nil {
		return err
	}
	if err := checkPerfAlerts(c); err != nil {
		return err
	}
	if c.TimeZone == nil {
		c.TimeZone = time.Local
	}
	if c.WorkDir == "" {
		c.WorkDir = filepath.Join(c.DataDir, "work")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := checkCredentials(c); err != nil {
		return err
	}
	switch c.OrphanPolicy {
	case "":
		c.OrphanPolicy = OrphanEnd
	case OrphanEnd, OrphanWait:
	default:
		return fmt.Errorf("%w: orphan policy %q: use end (end what a previous agent left running) or wait (wait for it)", ErrConfig, c.OrphanPolicy)
	}
	if c.HoldBytes <= 0 {
		c.HoldBytes = defaultHoldBytes
	}
	if c.LowDiskBytes <= 0 {
		c.LowDiskBytes = defaultLowDiskBytes
	}
	if c.OutboxBytes <= 0 {
		c.OutboxBytes = defaultOutboxBytes
	}
	if c.AppliedKeep <= 0 {
		c.AppliedKeep = defaultAppliedKeep
	}
	if c.OrphanGrace <= 0 {
		c.OrphanGrace = defaultOrphanGrace
	}
	switch c.AgentMode {
	case "":
		c.AgentMode = AgentModeRunner
	case AgentModeRunner:
	case AgentModeMSDB:
		if c.SQLDSN == "" {
			return fmt.Errorf("%w: --agent-mode msdb writes jobs into SQL Server Agent: give the SQL Server with --sql", ErrConfig)
		}
	default:
		return fmt.Errorf("%w: --agent-mode %q: use runner (this agent runs the jobs) or msdb (SQL Server Agent runs them)", ErrConfig, c.AgentMode)
	}
	return nil
}

func whoami() string {
	u := "unknown"
	if cu, err := user.Current(); err == nil {
		u = cu.Username
	}
	h, _ := os.Hostname()
	return u + "@" + h
}

// Run runs the agent until ctx ends or the target defects (ErrDefected). It locks DataDir,
// enlists if needed, then reads instructions, sends heartbeats and flushes its outbox. On return
// everything it started has stopped.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	err := run(ctx, cfg)
	if ctx.Err() != nil && !errors.Is(err, ErrDefected) {
		return nil // stopped, possibly during start-up: a clean stop, not a failure
	}
	return err
}

func run(ctx context.Context, cfg Config) error {
	unlock, err := bus.LockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	// target.db holds the target's private key: private from its creation, and fixed on start.
	dbPath := filepath.Join(cfg.DataDir, "target.db")
	fixed, err := bus.SecureFiles([]string{dbPath}, dbPath+"-wal", dbPath+"-shm")
	if err != nil {
		return err
	}
	for _, f := range fixed {
		cfg.Logger.Warn("file holding the target's key was readable by others: made private (0600)", "file", f)
	}
	a := &Agent{cfg: cfg, kick: make(chan struct{}, 1), outbox: make(chan struct{}, 1), defected: make(chan struct{}),
		spool: newSpool(cfg.HoldBytes), sending: make(chan struct{}, 1), held: newHeldJobs()}
	a.log = cfg.Logger.With("component", "target", "server", cfg.Name)
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a.store = st
	db, err := openLocalDB(&cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	a.localDB = db
	return a.run(ctx)
}

func (a *Agent) run(ctx context.Context) error {
	canon, _ := jobs.CanonicalServerName(a.cfg.Name)
	if _, err := a.store.Identity(ctx); errors.Is(err, store.ErrNotEnlisted) {
		// Not enlisted: no identity yet, so the bus lets this connection do nothing but enlist.
		enc, err := a.connect(ctx, bus.EnlistInboxPrefix, nil)
		if err != nil {
			return err
		}
		a.nc = enc
		err = a.firstEnlist(ctx, canon)
		if err == nil {
			err = a.saveCA(enc)
		}
		enc.Close()
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	id, err := a.store.Identity(ctx)
	if err != nil {
		return err
	}
	kp, err := nkeys.FromSeed([]byte(id.Seed))
	if err != nil {
		return fmt.Errorf("load target identity: %w", err)
	}
	nc, err := a.connect(ctx, bus.InboxPrefix(id.Token), kp)
	if err != nil {
		return err
	}
	a.nc = nc
	defer nc.Close()
	if a.js, err = jetstream.New(nc); err != nil {
		return err
	}
	// A reconnect also wakes the outbox, so reports spooled while the bus was away go at once.
	prev := nc.Opts.ReconnectedCB
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		a.wakeOutbox()
	})
	if err := a.enlist(ctx, canon, id); err != nil {
		return err
	}
	if err := a.loadHeld(ctx, true); err != nil {
		return err
	}
	if a.cfg.AgentMode == AgentModeMSDB {
		a.host, err = newMSDBHost(ctx, a, canon)
	} else {
		a.host, err = newRunnerHost(ctx, a, canon)
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.pollSecs = a.id.PollInterval
	a.interval = a.heartbeatInterval()
	a.mu.Unlock()
	_, _ = a.store.Get(ctx, store.KeyClockOffset, &a.offsetMS)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	loops := append([]func(context.Context) error{a.consume, a.heartbeats, a.flushOutbox, a.housekeep}, a.host.loops()...)
	if p := a.errorLogPoller(); p != nil {
		loops = append(loops, p.Run)
	}
	if e, err := a.perfEvaluator(ctx); err != nil {
		return err
	} else if e != nil {
		loops = append(loops, e.Run)
	}
	errc := make(chan error, len(loops))
	for _, loop := range loops {
		wg.Go(func() {
			if err := loop(runCtx); err != nil && runCtx.Err() == nil {
				errc <- err
				cancel(err)
			}
		})
	}
	a.log.Info("target running", "server_id", a.id.ServerID, "master", a.id.MasterName)
	var out error
	select {
	case <-ctx.Done():
	case <-a.defected:
		out = ErrDefected
	case out = <-errc:
	}
	cancel(runner.ErrShutdown)
	wg.Wait()
	// Running jobs end canceled and queue their reports before the databases close.
	a.stopRuns()
	if out == nil || errors.Is(out, ErrDefected) {
		// Final heartbeat and outbox flush are best effort on a clean stop.
		flushCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
		if out == nil {
			_ = a.sendOutbox(flushCtx)
		}
		done()
		if st := a.spool.state(); st.reports > 0 {
			a.log.Error("reports held in memory are lost: the agent stops while its disk refuses writes and the bus did not take them",
				"reports", st.reports, "dir", a.cfg.DataDir)
		}
		_ = a.nc.Drain()
	}
	return out
}

func (a *Agent) heartbeatInterval() time.Duration {
	if a.cfg.HeartbeatInterval > 0 {
		return a.cfg.HeartbeatInterval
	}
	return time.Duration(a.pollSecs) * time.Second
}

// stopRuns cancels running jobs (agent shutdown) and waits for their reports.
func (a *Agent) stopRuns() {
	if err := a.host.shutdown(context.Background()); err != nil {
		a.log.Error("running jobs did not stop in time; their reports may be lost", "err", err)
	}
}

func (a *Agent) markDefected() { a.defOnce.Do(func() { close(a.defected) }) }
