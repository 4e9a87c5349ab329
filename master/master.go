package master

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/catalog"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// Config configures a master. The zero value of each field is its default.
type Config struct {
	// Name is the master's server name, shown to targets as their MSX; default the host name
	// in upper case.
	Name string
	// Layout sizes the streams; zero value = defaults (R1).
	Layout bus.Layout
	// KeepDownloaded is how many downloaded rows of the download list are kept per target;
	// default 100. Pending rows are never trimmed.
	KeepDownloaded int
	// DefaultPollInterval for new targets, seconds; default 60.
	DefaultPollInterval int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// CAFingerprint, when set, is the short fingerprint of the CA that issued the bus's
	// certificate; enlistment tokens carry it so that a new target verifies the bus fully.
	CAFingerprint string
	// Auth, when the master runs the embedded NATS server with authentication, is told which
	// key belongs to which target, and revokes a target's key when it defects or is deleted.
	Auth *bus.Auth
	// DefectGrace is how long a deleted target's key stays valid so that it can download the
	// DEFECT posted to it; default 30s. See removeTarget and keyGone.
	DefectGrace time.Duration
	// API is this master's HTTP API address (http://host:port), published in the leader lease
	// so that other masters can forward changes to the leader; default none.
	API string
	// Metrics configures the Prometheus series of Master.Metrics.
	Metrics MetricsOptions
	// Notify configures notifications (SMTP, storm window); see master/notify.
	Notify notify.Config
	// PerfAlertsInterval is how often the leader compares the performance alerts each target
	// holds with those in its scope (perfalerts.go); default DefaultPerfAlertsInterval (2s).
	PerfAlertsInterval time.Duration
}

// maxPendingPosts bounds the asynchronous publishes awaiting their ack: above the largest
// fleet msx runs (10,000 targets).
const maxPendingPosts = 1 << 15

// Master is a running master. Create it with Start; stop it with Shutdown.
type Master struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	Reg     *registry.Registry
	Tokens  *auth.Tokens
	Ledger  *ledger.Ledger
	Catalog *catalog.Catalog
	// Notify holds operators, alerts and silences and sends notifications (leader only).
	Notify *notify.Service
	vars   *varStore // per-target variable values (vars.go)

	jobMu sync.Mutex // serialises catalog and membership changes and plans their deliveries
	// order posts deliveries, outside jobMu, in the order they were planned (order.go).
	order postOrder

	live  sync.Map // token -> liveStatus
	drift driftTracker
	// defecting holds keys of deleted targets that may still connect to download their DEFECT.
	defecting sync.Map // public key -> token
	// removedHere holds keys of targets this master deleted itself, for a minute: keyGone
	// ignores them when the registry watch reports the delete too (see authsync.go).
	removedHere sync.Map // public key -> struct{}
	enlisting   sync.Map // canonical name -> *enlistInFlight: enlistments in progress
	// out is the job × target state, rebuilt from MSX_RESULTS on start.
	out      outcomes
	stopFn   context.CancelFunc
	streams  map[string]jetstream.Stream // handles, looked up once
	rpcSlots chan struct{}               // bounds concurrent RPC handlers (see concurrently)
	wg       sync.WaitGroup
	once     sync.Once
	// elector holds or waits for the leader lease; only the leader answers targets' RPCs,
	// repairs drift and trims the download list (see lead).
	elector atomic.Pointer[leader.Elector]
	// fencedTerm is the term whose fences lead has raised, while it runs; else 0.
	fencedTerm atomic.Uint64
	// led receives once each time lead has subscribed to the RPC subjects.
	led chan struct{}
	// fences make every write of the leader conditional on its term (see lead).
	fences fences

	// auditKey signs audit records (shared by every master of the bus, kept in msx_tokens).
	auditKey  nkeys.KeyPair
	auditPub  string
	refusedMu sync.Mutex
	refused   map[string]*refusedCount // refused requests per source this window
	// refusedWritten counts refused-request records written this window, all sources.
	refusedWritten int
	// consuming holds the tokens whose consumer request is being handled (see onConsumer).
	consuming sync.Map
	// metrics is the Prometheus registry (metrics.go).
	metrics metricsRegistry

	// Rejected counts malformed or unknown messages received from the bus.
	Rejected atomic.Int64
	// Unmatched counts results dropped because their target or job never became known to this
	// master (park.go).
	Unmatched atomic.Int64
	// park holds results that wait for their target or job (park.go).
	park parking
	// Misattributed counts messages whose body named another server than the subject they
	// came on (refused: identity comes from the subject).
	Misattributed atomic.Int64
}

type liveStatus struct {
	hb   schemas.Heartbeat
	when time.Time // server timestamp of the heartbeat
}

// Start connects the master to the bus nc, ensures the streams and buckets, rebuilds its view
// from them, and starts answering targets. It returns once the view is caught up.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (*Master, error) {
	if cfg.Name == "" {
		h, _ := os.Hostname()
		cfg.Name = strings.ToUpper(h)
	}
	cfg.Name = strings.ToUpper(cfg.Name)
	if cfg.KeepDownloaded == 0 {
		cfg.KeepDownloaded = 100
	}
	if cfg.DefaultPollInterval == 0 {
		cfg.DefaultPollInterval = 60
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefectGrace == 0 {
		cfg.DefectGrace = defectGrace
	}
	// A fan-out publishes one instruction per target before it waits for the acks (postAll):
	// with nats.go's default of 4,000 pending, a fan-out to 5,000 targets stalls and fails.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPendingPosts))
	if err != nil {
		return nil, err
	}
	m := &Master{cfg: cfg, log: cfg.Logger.With("component", "master"), nc: nc, js: js, Ledger: ledger.New(), drift: newDriftTracker()}
	if err := cfg.Layout.Ensure(ctx, js); err != nil {
		return nil, err
	}
	m.streams = map[string]jetstream.Stream{}
	for _, sc := range cfg.Layout.Streams() {
		if m.streams[sc.Name], err = js.Stream(ctx, sc.Name); err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	if m.Reg, err = registry.Open(ctx, js); err != nil {
		return nil, err
	}
	if m.Tokens, err = auth.Open(ctx, js); err != nil {
		return nil, err
	}
	if m.Catalog, err = catalog.Open(ctx, js); err != nil {
		return nil, err
	}
	if m.vars, err = openVars(ctx, js); err != nil {
		return nil, err
	}
	if m.auditKey, err = m.Tokens.AuditKey(ctx); err != nil {
		return nil, err
	}
	if m.auditPub, err = m.auditKey.PublicKey(); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	m.refused = map[string]*refusedCount{}
	if cfg.Auth != nil {
		// The server may already be admitting clients: SetLookup, not an assignment.
		cfg.Auth.SetLookup(func(pub string) (string, bool) {
			if t, ok := m.Reg.TargetByKey(pub); ok {
				return t.Token, true
			}
			tok, ok := m.defecting.Load(pub)
			if !ok {
				return "", false
			}
			return tok.(string), true
		})
		m.Reg.OnKeyGone(m.keyGone)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.stopFn = cancel
	m.out.init(keepRuns(cfg.Layout))
	ready := make(chan error, 5)
	for _, f := range []follower{
		{bus.StreamInstr, jetstream.DeliverAllPolicy, m.onInstruction},
		{bus.StreamApplied, jetstream.DeliverAllPolicy, m.onApplied},
		{bus.StreamLedger, jetstream.DeliverAllPolicy, m.onLedgerEdit},
		{bus.StreamStatus, jetstream.DeliverLastPerSubjectPolicy, m.onHeartbeat},
		{bus.StreamResults, jetstream.DeliverAllPolicy, m.parkable(m.onResult, m.resultRefused)},
	} {
		m.wg.Go(func() { m.follow(runCtx, f, ready) })
	}
	for range 5 {
		select {
		case err := <-ready:
			if err != nil {
				m.Shutdown(ctx)
				return nil, err
			}
		case <-ctx.Done():
			m.Shutdown(context.Background())
			return nil, fmt.Errorf("master catching up with its streams: %w", ctx.Err())
		}
	}
	m.wg.Go(func() { m.runRefusedFlusher(runCtx) })
	// Every master keeps a live view of what the others write (the leader enlists, any master
	// may apply a job).
	m.wg.Go(func() {
		_ = m.Reg.Watch(runCtx, m.log, func(tok string, present bool) { m.targetChanged(runCtx, tok, present) })
	})
	m.wg.Go(func() {
		_ = m.Catalog.Watch(runCtx, m.log, func(id string, present bool) { m.jobChanged(runCtx, id, present) })
	})
	m.wg.Go(func() { m.runParkPruner(runCtx) })
	m.wg.Go(func() { _ = m.vars.watch(runCtx, m.log) })
	mkv, err := js.KeyValue(ctx, bus.BucketMasters)
	if err != nil {
		m.Shutdown(ctx)
		return nil, fmt.Errorf("masters bucket: %w", err)
	}
	m.wg.Go(func() { m.runMasterBeat(runCtx, mkv) })
	m.rpcSlots = make(chan struct{}, rpcParallel)
	kv, err := js.KeyValue(ctx, bus.BucketLeader)
	if err != nil {
		m.Shutdown(ctx)
		return nil, fmt.Errorf("leader lease bucket: %w", err)
	}
	m.led = make(chan struct{}, 1)
	m.fences = fences{ledger: leader.NewFence(js, bus.SubjectLedgerTerm), instr: leader.NewFence(js, bus.SubjectInstrTerm),
		audit: leader.NewFence(js, bus.SubjectAuditTerm)}
	el, err := leader.Start(kv, leader.Config{Name: cfg.Name, API: cfg.API, TTL: cfg.Layout.WithDefaults().LeaseTTL,
		Logger: cfg.Logger, Lead: m.lead})
	if err != nil {
		m.Shutdown(ctx)
		return nil, err
	}
	m.elector.Store(el)
	if err := m.startNotify(ctx); err != nil {
		m.Shutdown(ctx)
		return nil, err
	}
	// On a bus without a live leader the first campaign wins at once: wait for it (and for
	// the RPC subscriptions), so that a lone master answers targets when Start returns.
	select {
	case <-el.Campaigned():
	case <-ctx.Done():
	}
	if el.Term() != 0 {
		select {
		case <-m.led:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		m.Shutdown(context.Background())
		return nil, fmt.Errorf("master campaigning for the lease: %w", ctx.Err())
	}
	m.reportQuarantined(ctx)
	m.log.Info("master ready", "name", cfg.Name, "targets", len(m.Reg.Targets()), "leading", m.Leading())
	return m, nil
}

// lead runs while this master holds the leader lease: it answers the targets' RPC subjects
// and repairs drift until ctx ends, then unsubscribes (draining the requests under way)
// before the elector may campaign again.
func (m *Master) lead(ctx context.Context, term uint64) {
	log := m.log.With("term", term)
	if err := m.raiseFences(ctx, log, term); err != nil {
		log.Error("leadership ended before every fence was raised: not acting as leader", "err", err)
		return
	}
	// Leading from here on: changes made before the fences were raised would be refused.
	m.fencedTerm.Store(term)
	defer m.fencedTerm.Store(0)
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Drain()
		}
		// Drain returns at once; wait until the handlers under way have returned, so that
		// nothing of this leadership answers after it ended.
		for _, s := range subs {
			for s.IsValid() {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	for subj, h := range map[string]nats.MsgHandler{bus.SubjectEnlist: m.onEnlist, bus.SubjectDefect: m.onDefect, bus.SubjectConsumer + ".*": m.onConsumer} {
		sub, err := m.nc.QueueSubscribe(subj, "msx-master", m.concurrently(h))
		if err != nil {
			log.Error("leader cannot answer targets: subscribe", "subject", subj, "err", err)
			continue
		}
		subs = append(subs, sub)
	}
	select {
	case m.led <- struct{}{}:
	default:
	}
	var alerts sync.WaitGroup
	alerts.Go(func() { m.perfAlertLoop(ctx) })
	defer alerts.Wait()
	m.repairLoop(ctx)
}

// Leading reports whether this master holds the leader lease and has raised its fences (its
// writes are accepted).
func (m *Master) Leading() bool {
	el := m.elector.Load()
	return el != nil && el.Term() != 0 && el.Term() == m.fencedTerm.Load()
}

// Lease returns the leader lease as this master last saw it: the leader's name, API address
// and term. ok is false when no master leads (or this one has not seen it yet).
func (m *Master) Lease() (leader.Record, bool) {
	el := m.elector.Load()
	if el == nil {
		return leader.Record{}, false
	}
	return el.Current()
}

// CAFingerprint returns the fingerprint enlistment tokens carry, or "".
func (m *Master) CAFingerprint() string { return m.cfg.CAFingerprint }

// Name returns the master's server name.
func (m *Master) Name() string { return m.cfg.Name }

// Shutdown stops the master's subscriptions and followers. It is idempotent and waits for its
// goroutines, or returns ctx's error if they do not stop in time.
func (m *Master) Shutdown(ctx context.Context) error {
	var err error
	m.once.Do(func() {
		if m.Notify != nil {
			// A send under way finishes and is recorded before the lease is released.
			m.Notify.Shutdown()
		}
		if el := m.elector.Load(); el != nil {
			// Ends lead (its subscriptions and drift repair) and releases the lease.
			err = el.Shutdown(ctx)
		}
		m.stopFn()
	})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reject logs and counts a message that cannot be used.
func (m *Master) reject(subject string, err error) {
	m.Rejected.Add(1)
	m.log.Warn("message rejected", "subject", subject, "err", err)
}

func (m *Master) onInstruction(_ context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	if msg.Subject() == bus.SubjectInstrTerm {
		return // a leader's fence marker
	}
	var in schemas.Instruction
	if err := schemas.Decode(msg.Data(), &in); err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	tok, err := bus.TargetFromSubject(msg.Subject())
	if err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	if t, ok := m.Reg.TargetByToken(tok); !ok || meta.Sequence.Stream < t.StartSeq {
		return // rows of deleted targets, or of an earlier enlistment, are not shown
	}
	m.Ledger.Posted(meta.Sequence.Stream, tok, in.Target, &in)
}

func (m *Master) onApplied(ctx context.Context, msg jetstream.Msg, _ *jetstream.MsgMetadata) {
	tok, err := bus.TargetFromSubject(msg.Subject())
	if err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	var st schemas.InstructionStatus
	if err := schemas.Decode(msg.Data(), &st); err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	if _, known := m.Reg.TargetByToken(tok); !known {
		m.defecting.Range(func(k, v any) bool {
			if v.(string) == tok {
				m.endDefect(k.(string))
			}
			return true
		})
		return
	}
	if !m.Ledger.Applied(tok, st) {
		m.reject(msg.Subject(), fmt.Errorf("target %s reported on instruction %d of another target", tok, st.Seq))
		return
	}
	if st.Error != nil {
		m.log.Warn("instruction failed on target", "target", tok, "instance_id", st.Seq, "code", st.Error.Code, "err", st.Error.Message)
	}
	m.trim(ctx, tok)
}

// trim deletes a target's downloaded rows beyond KeepDownloaded from MSX_INSTR.
func (m *Master) trim(ctx context.Context, tok string) {
	if !m.Leading() {
		return // the leader trims; followers see the deletions in their views
	}
	if err := m.deleteRows(ctx, m.Ledger.Downloaded(tok, m.cfg.KeepDownloaded)); err != nil {
		m.log.Warn("trim download list", "target", tok, "err", err)
	}
}

// fences are those of the streams the leader writes; the registry and the catalog hold those
// of their buckets.
type fences struct {
	ledger *leader.Fence // edits of the download list (MSX_LEDGER)
	instr  *leader.Fence // instructions (MSX_INSTR), posted in atomic batches
	audit  *leader.Fence // audit records of changes (MSX_AUDIT)
}

// raiseFences raises every fence of the leader's writes to its term: from then on a master that
// led before has each of its writes refused (ErrNotLeader), whatever it still believes. A fence
// that cannot be raised yet (a stream electing a new leader after a node died) is retried until
// it is, or until ctx ends (the lease is lost): the master does not act as leader before every
// fence is raised, since its writes to a stream whose fence it did not raise would be refused.
func (m *Master) raiseFences(ctx context.Context, log *slog.Logger, term uint64) error {
	pending := append([]*leader.Fence{m.fences.ledger, m.fences.instr, m.fences.audit, m.Catalog.Fence(), m.vars.fence}, m.Reg.Fences()...)
	eb := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(0))
	return backoff.Retry(func() error {
		var failed []*leader.Fence
		var last error
		for _, f := range pending {
			rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
			if err := f.Raise(rctx, term, m.cfg.Name); err != nil {
				failed, last = append(failed, f), err
			}
			cancel()
		}
		pending = failed
		if last != nil && ctx.Err() == nil {
			log.Warn("leader cannot raise a fence yet: retrying; it does not act as leader until every fence is raised", "left", len(failed), "err", last)
		}
		return last
	}, backoff.WithContext(eb, ctx))
}

func (m *Master) onLedgerEdit(_ context.Context, msg jetstream.Msg, _ *jetstream.MsgMetadata) {
	if msg.Subject() == bus.SubjectLedgerTerm {
		return // a leader's fence marker
	}
	var c schemas.LedgerClear
	if err := schemas.Decode(msg.Data(), &c); err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	m.Ledger.Clear(c.Seq)
}

func (m *Master) onHeartbeat(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	tok, err := bus.TargetFromSubject(msg.Subject())
	if err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	var hb schemas.Heartbeat
	if err := schemas.Decode(msg.Data(), &hb); err != nil {
		m.reject(msg.Subject(), err)
		return
	}
	t, ok := m.Reg.TargetByToken(tok)
	if !ok {
		m.reject(msg.Subject(), fmt.Errorf("heartbeat from target %s, which is not enlisted", tok))
		return
	}
	if !strings.EqualFold(hb.ServerName, t.ServerName) {
		// Identity comes from the subject: the heartbeat is its sender's, whatever it says.
		m.Misattributed.Add(1)
		m.log.Warn("heartbeat names another server: taken as its sender's", "subject", msg.Subject(), "claimed", Truncate(hb.ServerName, 130))
		hb.ServerName = t.ServerName
	}
	prev, _ := m.live.Swap(tok, liveStatus{hb: hb, when: meta.Timestamp})
	fresh := time.Since(meta.Timestamp) < 2*time.Duration(hb.IntervalMS)*time.Millisecond
	// Drift is judged on the repair goroutine: nothing here waits on a lock held across I/O.
	m.drift.observe(tok, &hb, fresh)
	if fresh && m.Leading() {
		m.diskChanged(ctx, t, prev, &hb)
	}
}
