package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// Config configures notifications. The zero value sends nothing by e-mail (no SMTP server)
// and groups each job's notifications over one minute.
type Config struct {
	SMTP SMTP
	// StormWindow is how long a job's first notification waits for the same notification from
	// other targets, so that many targets failing the same job make one message listing them;
	// default 1 min; a negative value sends at once.
	StormWindow time.Duration
	// Dashboard is the base URL of the web UI for links in messages (the master's API URL).
	Dashboard string
	// Attempts is how many times one message is tried (exponential backoff); default 5.
	Attempts int
	// RetryInitial is the first backoff interval; default 1 s.
	RetryInitial time.Duration
	// SendParallel is how many messages are sent at once on each channel (e-mail, pager,
	// webhook); default 4. 1 sends one at a time.
	SendParallel int
	// Tick is how often the leader reads new results and sends what is due; default 1 s.
	Tick time.Duration
	// SendLease is how long an outbox entry marked as being sent belongs to the master that
	// marked it; after it, a leader sends it again (flagged as a possible repeat); default 5 min,
	// more than a send with all its retries takes.
	SendLease time.Duration
	// MissedEvery is how often the leader looks for missed runs; default 30 s.
	MissedEvery time.Duration
	// AckWait is the durable consumers' acknowledgement wait: a result or event the leader
	// fetched and did not acknowledge (it died) goes to the next leader after it; default 20 s.
	// The leader tells the server a batch it is still handling is in progress every AckWait/4,
	// so a slow pass is not redelivered under it.
	AckWait time.Duration
	// Replicas of the buckets and stream (the layout's).
	Replicas   int
	MasterName string
	Logger     *slog.Logger
	// WebhookAllow is the webhook allow-list (--webhook-allow; see allow.go): "public", CIDRs,
	// addresses, host names, each with an optional :port. Default (empty): "public", any
	// public address, so that loopback, private and link-local addresses (the cloud metadata
	// service) are refused.
	WebhookAllow []string
	// HTTP is the client for webhooks; default one with a 30 s timeout that dials only what
	// WebhookAllow admits. A client set here replaces that send-time check (tests only).
	HTTP *http.Client
	// Now is the clock; default time.Now. Tests of pager hours set it.
	Now func() time.Time
}

// Deps is what the notifier needs from the master.
type Deps struct {
	// Leading reports whether this master holds the leader lease: only the leader sends.
	Leading func() bool
	// Job finds a job by id or name.
	Job func(idOrName string) (jobs.Job, bool)
	// Server returns the server name of a target token (identity comes from the subject).
	Server func(token string) (string, bool)
	// InGroup reports whether server is a member of group (alert scope); may be nil.
	InGroup func(group, server string) bool
	// StartJob starts a job on one server (alerts with a job_name); may be nil.
	StartJob func(ctx context.Context, job, server string) error
	// Jobs returns every job, and Targets what the master knows of a job on each target it is
	// applied to (missed runs); either may be nil.
	Jobs    func() []jobs.Job
	Targets func(j jobs.Job) []TargetRun
}

// Service stores operators, alerts and silences and, on the leading master, turns run results
// and events into notifications.
type Service struct {
	cfg                            Config
	deps                           Deps
	log                            *slog.Logger
	js                             jetstream.JetStream
	ops, alerts, silences, st, clm jetstream.KeyValue
	results, events                jetstream.Consumer
	counts                         sync.Map // "channel/result" -> *atomic.Int64
	wg                             sync.WaitGroup
	missedPasses                   atomic.Int64
	lastMissed                     time.Time
	// outboxDirty says the outbox may hold entries: set by enqueue and on taking the lead,
	// cleared when a pass finds it empty (so an idle leader does not list it every tick).
	outboxDirty atomic.Bool
	alertCache  []model.Alert // the alerts, read once per pass of the loop (its goroutine only)
	allow       *webhookAllow // Config.WebhookAllow, parsed
	stop        context.CancelFunc
}

// DefaultSendParallel is Config.SendParallel's default.
const DefaultSendParallel = 4

// DefaultAckWait is Config.AckWait's default.
const DefaultAckWait = 20 * time.Second

// Consumer names: durable, shared by every master; only the leader pulls.
const (
	ConsumerResults = "msx_notify"
	ConsumerEvents  = "msx_notify_events"
)

// Start ensures the buckets and consumers and starts the notifier's loop.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.SMTP.Check(); err != nil {
		return nil, err
	}
	if cfg.StormWindow == 0 {
		cfg.StormWindow = time.Minute
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 5
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = time.Second
	}
	if cfg.SendLease == 0 {
		cfg.SendLease = 5 * time.Minute
	}
	if cfg.MissedEvery == 0 {
		cfg.MissedEvery = 30 * time.Second
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	if cfg.SendParallel <= 0 {
		cfg.SendParallel = DefaultSendParallel
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	allow, err := parseWebhookAllow(cfg.WebhookAllow)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP == nil {
		cfg.HTTP = allow.httpClient(30 * time.Second)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, deps: deps, log: cfg.Logger.With("component", "master.notify"), js: js, allow: allow}
	if err := ensure(ctx, js, cfg.Replicas); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
	}{{&s.ops, BucketOperators}, {&s.alerts, BucketAlerts}, {&s.silences, BucketSilences}, {&s.st, BucketState}, {&s.clm, BucketClaims}} {
		kv, err := js.KeyValue(ctx, b.name)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	// New consumers start with what arrives from now on: history is not notified again.
	s.results, err = js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{Durable: ConsumerResults,
		DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxAckPending: 10000, Replicas: max(cfg.Replicas, 1), Description: "msx: job notifications (leader pulls)"})
	if err != nil {
		return nil, fmt.Errorf("notification consumer on %s: %w", bus.StreamResults, err)
	}
	s.events, err = js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: ConsumerEvents,
		DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxAckPending: 10000, Replicas: max(cfg.Replicas, 1), Description: "msx: alerts (leader pulls)"})
	if err != nil {
		return nil, fmt.Errorf("alert consumer on %s: %w", bus.StreamEvents, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() { s.run(runCtx) })
	s.log.Info("notifications ready", "smtp", cfg.SMTP.String(), "storm_window", cfg.StormWindow, "webhook_allow", allow.String())
	return s, nil
}

// Shutdown stops the loop and waits for it (a send under way finishes or times out first).
func (s *Service) Shutdown() {
	s.stop()
	s.wg.Wait()
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// Counts returns the number of notifications by "channel/result" (e.g. "email/sent") since
// the master started, for metrics.
func (s *Service) Counts() map[string]int64 {
	out := map[string]int64{}
	s.counts.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// MissedPasses returns how many times the leader has looked for missed runs.
func (s *Service) MissedPasses() int64 { return s.missedPasses.Load() }

func (s *Service) count(channel, result string) {
	v, _ := s.counts.LoadOrStore(channel+"/"+result, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *Service) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	was := false
	for {
		leading := s.deps.Leading == nil || s.deps.Leading()
		if leading && !was {
			s.outboxDirty.Store(true) // a previous leader may have left entries
		}
		was = leading
		if leading {
			s.alertCache = nil // read the alerts again once per pass
			s.pump(ctx, s.results, s.onResult)
			s.pump(ctx, s.events, s.onEvent)
			if now := time.Now(); now.Sub(s.lastMissed) >= s.cfg.MissedEvery {
				s.lastMissed = now
				s.checkMissed(ctx)
			}
			s.dispatch(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pump handles what the consumer holds now. A message is acknowledged once its notifications
// are queued in the outbox (durably, in JetStream); a failure leaves it to be redelivered.
// While a batch is handled, the messages not yet acknowledged are marked in progress every
// AckWait/4, so that only a leader that died leaves them to be redelivered (after AckWait).
func (s *Service) pump(ctx context.Context, c jetstream.Consumer, handle func(context.Context, jetstream.Msg) error) {
	for ctx.Err() == nil && (s.deps.Leading == nil || s.deps.Leading()) {
		batch, err := c.FetchNoWait(256)
		if err != nil {
			s.log.Warn("notifications: fetch", "err", err)
			return
		}
		var msgs []jetstream.Msg
		for msg := range batch.Messages() {
			msgs = append(msgs, msg)
		}
		var next atomic.Int64 // the first message not yet handled
		stop := make(chan struct{})
		var beat sync.WaitGroup
		beat.Go(func() { s.heartbeat(msgs, &next, stop) })
		for i, msg := range msgs {
			if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
				s.log.Info("notifications: handling a message again (a leader stopped before acknowledging it, or a retry)",
					"subject", msg.Subject(), "delivery", meta.NumDelivered, "published", time.Since(meta.Timestamp).Round(time.Millisecond),
					"ack_wait", s.cfg.AckWait)
			}
			if err := handle(ctx, msg); err != nil {
				s.log.Warn("notifications: will retry", "subject", msg.Subject(), "err", err)
				_ = msg.NakWithDelay(5 * time.Second)
			} else {
				_ = msg.DoubleAck(ctx)
			}
			next.Store(int64(i + 1))
		}
		close(stop)
		beat.Wait()
		if len(msgs) < 256 {
			return
		}
	}
}

// heartbeat marks msgs[next:] in progress every AckWait/4 until stop is closed.
func (s *Service) heartbeat(msgs []jetstream.Msg, next *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.AckWait / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, msg := range msgs[min(int(next.Load()), len(msgs)):] {
				_ = msg.InProgress()
			}
		}
	}
}

// runState is a job's state on one target, in BucketState under s.<job>.<server>.
type runState struct {
	Fails    int      `json:"fails"`    // failures in a row
	Notified bool     `json:"notified"` // a failure of this streak was notified
	LastRun  string   `json:"last_run"`
	Kinds    []string `json:"kinds"` // what LastRun raised (kept for redeliveries)
}

// Notification kinds.
const (
	KindFailure    = "failure"
	KindSuccess    = "success"
	KindCompletion = "completion"
	KindRecovery   = "recovery"
	KindAlert      = "alert"
	KindTest       = "test"
	KindMissed     = "missed"
	kindQuiet      = "quiet" // a failure before the Nth in a row
)

// update applies f to the JSON value at key with compare-and-set, retrying on a conflict.
func update[T any](ctx context.Context, kv jetstream.KeyValue, key string, f func(v *T) bool) (T, error) {
	for {
		var v T
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return v, err
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				return v, fmt.Errorf("%s/%s: %w", kv.Bucket(), key, err)
			}
		}
		if !f(&v) {
			return v, nil
		}
		b, _ := json.Marshal(v)
		if rev == 0 {
			_, err = kv.Create(ctx, key, b)
		} else {
			_, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return v, nil
		}
		var apiErr *jetstream.APIError
		if !errors.Is(err, jetstream.ErrKeyExists) && !(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
			return v, err
		}
	}
}

func (s *Service) onResult(ctx context.Context, msg jetstream.Msg) error {
	// The subject names the target and the job: a result of a job that notifies nobody is
	// dropped before its body is decoded and validated (the costliest step, and the master's
	// follower has already done it once).
	tok, err := bus.TargetFromSubject(msg.Subject())
	parts := strings.Split(msg.Subject(), ".")
	if err != nil || len(parts) != 4 || s.deps.Server == nil {
		return nil
	}
	j, ok := s.deps.Job(parts[3])
	if !ok || j.NotifyLevelEmail == 0 && j.NotifyLevelPage == 0 && j.NotifyLevelWebhook == 0 {
		return nil
	}
	var r schemas.RunResult
	if err := schemas.Decode(msg.Data(), &r); err != nil || r.Phase != schemas.PhaseFinished {
		return nil // the master's follower rejects and counts malformed results
	}
	if r.JobID != parts[3] {
		return nil // a result on the subject of another job: refused by the master too
	}
	server, ok := s.deps.Server(tok)
	if !ok || !strings.EqualFold(server, r.Server) {
		return nil // unknown target, or a body naming another server: refused by the master too
	}
	every := max(j.NotifyAfterFailures, 1)
	st, err := update(ctx, s.st, "s."+keyOf(j.JobID)+"."+keyOf(server), func(st *runState) bool {
		if st.LastRun == r.RunID {
			return false // redelivered: the kinds are those decided the first time
		}
		st.LastRun = r.RunID
		switch jobs.RunStatus(r.RunStatus) {
		case jobs.RunSucceeded:
			st.Kinds = []string{KindSuccess}
			if j.NotifyOnRecovery && st.Notified {
				st.Kinds = []string{KindRecovery}
			}
			st.Fails, st.Notified = 0, false
		case jobs.RunFailed:
			st.Fails++
			st.Kinds = []string{kindQuiet}
			if st.Fails%every == 0 {
				st.Kinds, st.Notified = []string{KindFailure}, true
			}
		case jobs.RunCanceled:
			st.Kinds = []string{KindCompletion}
		default:
			st.Kinds = nil
		}
		return true
	})
	if err != nil {
		return err
	}
	run := runOf(r, server)
	for _, c := range channels(j) {
		kind := kindFor(st.Kinds, c.level)
		if kind == "" {
			continue
		}
		op := c.op
		it := item{ID: r.RunID + "/" + op + "/" + c.channel, Kind: kind, Job: j.Name, Operator: op, Channel: c.channel,
			Group: strings.Join([]string{kind, keyOf(j.JobID), keyOf(op), c.channel}, "."), Created: s.now(), Run: &run}
		if err := s.enqueue(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// kindFor maps what a run raised and a channel's level (0 never, 1 on success, 2 on failure,
// 3 on completion) to the notification it sends, or "".
func kindFor(kinds []string, level int) string {
	for _, k := range kinds {
		switch {
		case k == KindFailure && (level == jobs.LevelOnFailure || level == jobs.LevelAlways):
			return KindFailure
		case k == KindRecovery && level != jobs.LevelNever:
			return KindRecovery
		case k == KindSuccess && (level == jobs.LevelOnSuccess || level == jobs.LevelAlways):
			return KindSuccess
		case k == KindCompletion && level == jobs.LevelAlways:
			return KindCompletion
		}
	}
	return ""
}

// Run describes one run in a notification.
type Run struct {
	Server   string    `json:"server"`
	RunID    string    `json:"run_id"`
	Outcome  string    `json:"outcome"` // Failed, Succeeded, Canceled
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Seconds  float64   `json:"duration_seconds"`
	StepID   int       `json:"step_id,omitempty"` // the failing step
	StepName string    `json:"step_name,omitempty"`
	Message  string    `json:"message"` // the failing step's message, else the job's
}

func runOf(r schemas.RunResult, server string) Run {
	run := Run{Server: server, RunID: r.RunID, Outcome: jobs.RunStatus(r.RunStatus).String(), Started: r.Started, Finished: r.Finished,
		Seconds: r.Finished.Sub(r.Started).Seconds(), Message: truncate(r.Message, 1024)}
	for _, raw := range r.Rows {
		var row jobs.HistoryRow
		if json.Unmarshal(raw, &row) == nil && row.StepID > 0 && row.RunStatus == jobs.RunFailed {
			run.StepID, run.StepName, run.Message = row.StepID, truncate(row.StepName, 128), truncate(row.Message, 1024)
		}
	}
	return run
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// item is one queued notification: one run (or event) for one operator on one channel, in
// BucketState under o.<key>.
type item struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Job      string    `json:"job,omitempty"`
	Alert    string    `json:"alert,omitempty"`
	Operator string    `json:"operator"`
	Channel  string    `json:"channel"`
	Group    string    `json:"group"`
	Created  time.Time `json:"created"`
	Run      *Run      `json:"run,omitempty"`
	Event    *Event    `json:"event,omitempty"`
	// Sending is set just before the send: an item found with it set more than SendLease ago
	// was being sent by a master that stopped (see the package doc).
	Sending   bool      `json:"sending,omitempty"`
	SendingAt time.Time `json:"sending_at,omitzero"`

	rev uint64 // the outbox entry's revision when read
}

func (it item) key() string { return keyOf(it.ID) }

// claim is the value of a notification's claim key.
type claim struct {
	Status string    `json:"status"` // queued, or the delivery result
	Time   time.Time `json:"time"`
}

// enqueue claims a notification id and queues it. A claim already made means another pass
// (a redelivery, another master) queued it: it is queued again only if its outbox entry may be
// missing (the claim still says queued).
func (s *Service) enqueue(ctx context.Context, it item) error {
	b, _ := json.Marshal(claim{Status: "queued", Time: s.now()})
	if _, err := s.clm.Create(ctx, "c."+it.key(), b); errors.Is(err, jetstream.ErrKeyExists) {
		e, err := s.clm.Get(ctx, "c."+it.key())
		if err != nil {
			return err
		}
		var c claim
		if json.Unmarshal(e.Value(), &c) == nil && c.Status != "queued" {
			return nil // already delivered (or decided): never twice
		}
	} else if err != nil {
		return err
	}
	v, _ := json.Marshal(it)
	s.outboxDirty.Store(true)
	if _, err := s.st.Create(ctx, "o."+it.key(), v); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	return nil
}

// dispatch sends every group of queued notifications whose oldest member has waited the storm
// window.
func (s *Service) dispatch(ctx context.Context) {
	if !s.outboxDirty.Load() {
		return
	}
	lister, err := s.st.ListKeysFiltered(ctx, "o.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		s.outboxDirty.Store(false)
		return
	}
	if err != nil {
		s.log.Warn("notifications: outbox", "err", err)
		return
	}
	groups := map[string][]item{}
	var order []string
	for k := range lister.Keys() {
		e, err := s.st.Get(ctx, k)
		if err != nil {
			continue
		}
		var it item
		if json.Unmarshal(e.Value(), &it) != nil {
			_ = s.st.Delete(ctx, k)
			continue
		}
		it.rev = e.Revision()
		if _, seen := groups[it.Group]; !seen {
			order = append(order, it.Group)
		}
		groups[it.Group] = append(groups[it.Group], it)
	}
	// Groups in the order their oldest notification was queued.
	byCreated := func(a, b item) int { return a.Created.Compare(b.Created) }
	queued := map[string]time.Time{}
	for g, its := range groups {
		queued[g] = slices.MinFunc(its, byCreated).Created
	}
	slices.SortStableFunc(order, func(a, b string) int { return queued[a].Compare(queued[b]) })
	now := s.now()
	// Lanes go out in parallel, at most SendParallel at once per channel (a slow webhook
	// receiver does not hold up e-mail, nor every other lane behind it). A lane is one channel,
	// operator, job and alert: its groups (a failure, then a recovery) go one after the other in
	// the order they were queued, and a group the storm window holds back holds back the later
	// groups of its lane, so an operator never reads "recovered" before "failed". Each item is
	// marked with compare-and-set before it is sent and its claim and log record are written
	// after, so sending in parallel changes neither exactly-once nor the delivery log.
	type lane struct {
		channel string
		parts   [][]item
		blocked bool // a group of it waits for the storm window: its later fresh groups wait too
	}
	lanes := map[string]*lane{}
	var laneOrder []string
	for _, g := range order {
		// An item another master is sending (or stopped moments ago while sending) is left
		// to it until its lease ends; the rest of the group goes on.
		its := slices.DeleteFunc(groups[g], func(it item) bool { return it.Sending && now.Sub(it.SendingAt) < s.cfg.SendLease })
		if len(its) == 0 {
			continue
		}
		first := its[0]
		key := strings.Join([]string{first.Channel, first.Operator, first.Job, first.Alert}, "\x00")
		l := lanes[key]
		if l == nil {
			l = &lane{channel: first.Channel}
			lanes[key] = l
			laneOrder = append(laneOrder, key)
		}
		// Entries a stopped master had marked go again at once, in a message of their own:
		// only it says "may be a repeat", not the notifications queued since.
		var stale, fresh []item
		for _, it := range its {
			if it.Sending {
				stale = append(stale, it)
			} else {
				fresh = append(fresh, it)
			}
		}
		if len(fresh) > 0 && (l.blocked || now.Sub(slices.MinFunc(fresh, byCreated).Created) < s.cfg.StormWindow) {
			fresh, l.blocked = nil, true
		}
		for _, part := range [][]item{stale, fresh} {
			if len(part) > 0 {
				l.parts = append(l.parts, part)
			}
		}
	}
	slots := map[string]chan struct{}{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, key := range laneOrder {
		l := lanes[key]
		if len(l.parts) == 0 {
			continue
		}
		if s.deps.Leading != nil && !s.deps.Leading() {
			return
		}
		slot := slots[l.channel]
		if slot == nil {
			slot = make(chan struct{}, s.cfg.SendParallel)
			slots[l.channel] = slot
		}
		select {
		case slot <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slot }()
			for _, part := range l.parts {
				s.sendGroup(ctx, part)
			}
		})
	}
}

// sendGroup sends one message for a group of queued notifications (one job, operator, channel
// and kind) and records the result.
func (s *Service) sendGroup(ctx context.Context, its []item) {
	first := its[0]
	slices.SortFunc(its, func(a, b item) int { return strings.Compare(a.server(), b.server()) })
	d := model.Delivery{Time: s.now().UTC(), Kind: first.Kind, Job: first.Job, Alert: first.Alert, Operator: first.Operator, Channel: first.Channel}
	silences, err := s.Silences(ctx)
	if err != nil {
		s.log.Warn("notifications: silences", "err", err)
		return // tried again at the next tick
	}
	var send, held []item
	for _, it := range its {
		if slices.ContainsFunc(silences, func(v model.Silence) bool { return v.Covers(it.server(), it.Job, s.now()) }) {
			held = append(held, it)
		} else {
			send = append(send, it)
		}
	}
	if len(held) > 0 {
		h := d
		h.Result, h.Subject = model.ResultSilenced, subjectOf(held)
		s.finish(ctx, held, h)
	}
	if len(send) == 0 {
		return
	}
	d.Subject = subjectOf(send)
	op, err := s.Operator(ctx, first.Operator)
	switch {
	case errors.Is(err, ErrUnknown):
		d.Result, d.Error = model.ResultUnknown, fmt.Sprintf("operator %q does not exist: add it with msx operator add", first.Operator)
	case err != nil:
		s.log.Warn("notifications: operator", "err", err)
		return
	case !op.IsEnabled():
		d.Result = model.ResultDisabled
	case first.Channel == model.ChannelPager && !op.OnDuty(s.now()):
		d.Result = model.ResultOffDuty
	}
	if d.Result != "" {
		s.finish(ctx, send, d)
		return
	}
	// Mark the items as being sent, each with compare-and-set on the revision read: an item
	// another master marked (or finished) since is left to it. A leader that takes over later
	// knows a marked item may have gone out already.
	marked := send[:0]
	for _, it := range send {
		if it.Sending {
			d.Resent = true
		}
		it.Sending, it.SendingAt = true, s.now()
		b, _ := json.Marshal(it)
		if _, err := s.st.Update(ctx, "o."+it.key(), b, it.rev); err != nil {
			s.log.Debug("notifications: outbox entry taken by another pass", "id", it.ID, "err", err)
			continue
		}
		marked = append(marked, it)
	}
	if send = marked; len(send) == 0 {
		return
	}
	d.Subject = subjectOf(send)
	msg := s.message(send, d.Resent)
	d.To, d.Attempts, err = s.deliver(ctx, op, first.Channel, msg)
	// What follows is recorded even when the master is stopping (bounded).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err != nil && ctx.Err() != nil {
		// Stopped while sending: hand the items back unmarked so that the next leader sends
		// them at once rather than after the send lease.
		for _, it := range send {
			it.Sending, it.SendingAt = false, time.Time{}
			b, _ := json.Marshal(it)
			_, _ = s.st.Put(rctx, "o."+it.key(), b)
		}
		return
	}
	d.Result = model.ResultSent
	if err != nil {
		d.Result, d.Error = model.ResultFailed, err.Error()
	}
	if d.To == "" && err == nil {
		d.Result = model.ResultNoTarget
	}
	s.finish(rctx, send, d)
}

// recordTimeout bounds the recording of a delivery by a stopping master.
const recordTimeout = 10 * time.Second

// finish records a delivery, marks its claims with the result and empties its outbox entries.
func (s *Service) finish(ctx context.Context, its []item, d model.Delivery) {
	for _, it := range its {
		d.IDs = append(d.IDs, it.ID)
		if srv := it.server(); srv != "" && !slices.Contains(d.Servers, srv) {
			d.Servers = append(d.Servers, srv)
		}
	}
	s.record(ctx, d)
	b, _ := json.Marshal(claim{Status: d.Result, Time: d.Time})
	for _, it := range its {
		if _, err := s.clm.Put(ctx, "c."+it.key(), b); err != nil {
			s.log.Warn("notifications: claim", "err", err)
		}
		if err := s.st.Delete(ctx, "o."+it.key()); err != nil {
			s.log.Warn("notifications: outbox", "err", err)
		}
	}
}

func (it item) server() string {
	switch {
	case it.Run != nil:
		return it.Run.Server
	case it.Event != nil:
		return it.Event.Server
	}
	return ""
}

// deliver sends msg to the operator on one channel with retries. It returns the address used
// ("" when the operator has none for the channel).
func (s *Service) deliver(ctx context.Context, op model.Operator, channel string, msg Message) (string, int, error) {
	switch channel {
	case model.ChannelEmail, model.ChannelPager:
		addr := op.EmailAddress
		if channel == model.ChannelPager {
			addr = op.PagerAddress
		}
		if addr == "" {
			return "", 0, nil
		}
		var to []string
		for a := range strings.SplitSeq(addr, ";") {
			to = append(to, strings.TrimSpace(a))
		}
		body := msg.Text
		if channel == model.ChannelPager {
			body = truncate(msg.Subject, 160) // pagers take a line
		}
		n, err := retry(ctx, s.cfg.Attempts, s.cfg.RetryInitial, func() error {
			return s.cfg.SMTP.sendMail(ctx, mailMsg{To: to, Subject: msg.Subject, Body: body, ID: strings.Join(msg.IDs, " ")})
		})
		return addr, n, err
	case model.ChannelWebhook:
		if op.WebhookURL == "" {
			return "", 0, nil
		}
		body, err := webhookBody(op.WebhookFormat, msg)
		if err != nil {
			return redactHost(op.WebhookURL), 0, err
		}
		n, err := retry(ctx, s.cfg.Attempts, s.cfg.RetryInitial, func() error { return postWebhook(ctx, s.cfg.HTTP, op.WebhookURL, body) })
		return redactHost(op.WebhookURL), n, err
	}
	return "", 0, fmt.Errorf("unknown channel %q", channel)
}

// Message is what a notification says: the documented JSON body of a webhook in the json
// format; e-mail carries Subject and Text.
type Message struct {
	Version int    `json:"version"` // 1
	Kind    string `json:"kind"`    // failure, success, completion, recovery, alert, test
	Job     string `json:"job,omitempty"`
	Alert   string `json:"alert,omitempty"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	// Runs lists one run per target (job notifications); Events the events (alerts).
	Runs      []Run   `json:"runs,omitempty"`
	Events    []Event `json:"events,omitempty"`
	Dashboard string  `json:"dashboard,omitempty"`
	// IDs are the notification ids (run id/operator/channel): a receiver can drop repeats.
	IDs []string `json:"ids"`
	// Resent is true when a new leader sent the message again because its predecessor stopped
	// while sending it: it may be a repeat.
	Resent bool `json:"resent,omitempty"`
}

func subjectOf(its []item) string {
	first := its[0]
	var servers []string
	for _, it := range its {
		if !slices.Contains(servers, it.server()) {
			servers = append(servers, it.server())
		}
	}
	where := first.server()
	switch {
	case len(servers) > 1:
		where = fmt.Sprintf("%d servers", len(servers))
	case len(its) > 1:
		where = fmt.Sprintf("%s (%d times)", where, len(its))
	}
	switch first.Kind {
	case KindAlert:
		return fmt.Sprintf("[msx] Alert '%s' on %s", first.Alert, where)
	case KindTest:
		return "[msx] Test notification"
	case KindRecovery:
		return fmt.Sprintf("[msx] Job '%s' recovered on %s", first.Job, where)
	case KindMissed:
		return fmt.Sprintf("[msx] Job '%s' missed its scheduled run on %s", first.Job, where)
	}
	verb := map[string]string{KindFailure: "failed", KindSuccess: "succeeded", KindCompletion: "completed"}[first.Kind]
	if first.Run != nil && first.Kind == KindCompletion {
		verb = "completed (" + strings.ToLower(first.Run.Outcome) + ")"
	}
	return fmt.Sprintf("[msx] Job '%s' %s on %s", first.Job, verb, where)
}

func (s *Service) message(its []item, resent bool) Message {
	first := its[0]
	m := Message{Version: 1, Kind: first.Kind, Job: first.Job, Alert: first.Alert, Subject: subjectOf(its), Resent: resent}
	var b strings.Builder
	if resent {
		b.WriteString("(Sent again after a master failover: this message may be a repeat.)\n\n")
	}
	for _, it := range its {
		m.IDs = append(m.IDs, it.ID)
		if r := it.Run; r != nil {
			m.Runs = append(m.Runs, *r)
			if r.Outcome == "Missed" {
				fmt.Fprintf(&b, "%s: missed the run due at %s\n    %s\n", r.Server, r.Started.UTC().Format(time.RFC3339), oneLine(r.Message))
				continue
			}
			fmt.Fprintf(&b, "%s: %s at %s after %s", r.Server, r.Outcome, r.Started.UTC().Format(time.RFC3339), time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
			if r.StepID > 0 {
				fmt.Fprintf(&b, ", step %d (%s)", r.StepID, r.StepName)
			}
			fmt.Fprintf(&b, "\n    %s\n", oneLine(r.Message))
		}
		if e := it.Event; e != nil {
			m.Events = append(m.Events, *e)
			fmt.Fprintf(&b, "%s at %s: severity %d, error %d\n", e.Server, e.Time.UTC().Format(time.RFC3339), e.Severity, e.ErrorCode)
			if e.Note != "" {
				fmt.Fprintf(&b, "    %s\n", oneLine(e.Note))
			}
			if e.Message != "" {
				fmt.Fprintf(&b, "    %s\n", oneLine(e.Message))
			}
		}
	}
	if s.cfg.Dashboard != "" && first.Job != "" {
		m.Dashboard = strings.TrimRight(s.cfg.Dashboard, "/") + "/#/jobs/" + url.PathEscape(first.Job)
		fmt.Fprintf(&b, "\nDashboard: %s\n", m.Dashboard)
	}
	m.Text = b.String()
	return m
}

// TestOperator sends one test message on each channel the operator has, at once, and returns
// the deliveries (also in the delivery log). Pager hours are not applied to a test.
func (s *Service) TestOperator(ctx context.Context, name string) ([]model.Delivery, error) {
	op, err := s.Operator(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []model.Delivery
	for _, ch := range []string{model.ChannelEmail, model.ChannelPager, model.ChannelWebhook} {
		id := "test-" + s.now().UTC().Format("20060102T150405.000") + "/" + op.Name + "/" + ch
		msg := Message{Version: 1, Kind: KindTest, Subject: "[msx] Test notification", IDs: []string{id},
			Text: fmt.Sprintf("This is a test of operator '%s' on its %s channel, sent by master %s.\n", op.Name, ch, s.cfg.MasterName)}
		d := model.Delivery{Time: s.now().UTC(), Kind: KindTest, Operator: op.Name, Channel: ch, Subject: msg.Subject, IDs: msg.IDs}
		var err error
		d.To, d.Attempts, err = s.deliver(ctx, op, ch, msg)
		if d.To == "" && err == nil {
			continue
		}
		d.Result = model.ResultSent
		if err != nil {
			d.Result, d.Error = model.ResultFailed, err.Error()
		}
		s.record(ctx, d)
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("operator '%s' has no e-mail address, pager address or webhook URL: nothing to test (msx operator update %s --email ADDR)", op.Name, op.Name)
	}
	return out, nil
}
