package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and bucket names.
const (
	StreamInstr   = "MSX_INSTR"
	StreamApplied = "MSX_APPLIED"
	StreamLedger  = "MSX_LEDGER"
	StreamStatus  = "MSX_STATUS"
	StreamResults = "MSX_RESULTS"
	StreamEvents  = "MSX_EVENTS"
	StreamAudit   = "MSX_AUDIT"

	// SubjectAudit carries the master's audit records.
	SubjectAudit = "msx.audit"

	BucketTargets = "msx_targets"
	BucketGroups  = "msx_groups"
	BucketTokens  = "msx_tokens"
	BucketJobs    = "msx_jobs"
	// BucketVars holds the per-target variable values (msx var set), by server and by group.
	BucketVars = "msx_vars"
	// BucketLeader holds the masters' leader lease (master/internal/leader); its TTL is the
	// lease's.
	BucketLeader = "msx_leader"
	// BucketMasters holds one heartbeat per running master (name, API address, version); a
	// master that stops heartbeating drops out after MasterTTL.
	BucketMasters = "msx_masters"
)

// MasterTTL is how long a master's heartbeat in msx_masters lasts.
const MasterTTL = 15 * time.Second

// Layout sets the sizes of the master's streams. The zero value gives the defaults.
type Layout struct {
	// Replicas for master state (streams and buckets); default 1. Use 3 on a cluster.
	Replicas int
	// InstrMaxAge bounds how long instructions are kept; default 30 days.
	InstrMaxAge time.Duration
	// HistoryPerJob is the number of result messages kept per job per target (two per run:
	// started and finished); default 200.
	HistoryPerJob int64
	// HistoryMaxAge bounds job history by age; default 90 days.
	HistoryMaxAge time.Duration
	// HistoryMaxBytes bounds all job history; default 4 GiB.
	HistoryMaxBytes int64
	// EventsMaxAge bounds forwarded events; default 30 days.
	EventsMaxAge time.Duration
	// EventsMaxBytes bounds forwarded events; default 1 GiB.
	EventsMaxBytes int64
	// AuditMaxAge bounds how long audit records are kept; default 400 days (a year and a
	// month, for yearly reviews).
	AuditMaxAge time.Duration
	// AuditMaxBytes bounds the audit stream; default 1 GiB (about a million records). The
	// oldest records go first; the master aggregates floods of refused requests so that they
	// cannot push real records out.
	AuditMaxBytes int64
	// LeaseTTL is how long the leader lease lasts after its last renewal (the TTL of the
	// msx_leader bucket): a failed leader is replaced about that long after it stopped;
	// default 6 s.
	LeaseTTL time.Duration
}

// AuditMaxMsgSize bounds one audit record on the bus; the master keeps records far smaller
// (each field at most 1 KiB).
const AuditMaxMsgSize = 64 << 10

// WithDefaults returns l with every zero field set to its default.
func (l Layout) WithDefaults() Layout { return l.withDefaults() }

func (l Layout) withDefaults() Layout {
	if l.Replicas == 0 {
		l.Replicas = 1
	}
	if l.InstrMaxAge == 0 {
		l.InstrMaxAge = 30 * 24 * time.Hour
	}
	if l.HistoryPerJob == 0 {
		l.HistoryPerJob = 200
	}
	if l.HistoryMaxAge == 0 {
		l.HistoryMaxAge = 90 * 24 * time.Hour
	}
	if l.HistoryMaxBytes == 0 {
		l.HistoryMaxBytes = 4 << 30
	}
	if l.EventsMaxAge == 0 {
		l.EventsMaxAge = 30 * 24 * time.Hour
	}
	if l.EventsMaxBytes == 0 {
		l.EventsMaxBytes = 1 << 30
	}
	if l.AuditMaxAge == 0 {
		l.AuditMaxAge = 400 * 24 * time.Hour
	}
	if l.AuditMaxBytes == 0 {
		l.AuditMaxBytes = 1 << 30
	}
	if l.LeaseTTL == 0 {
		l.LeaseTTL = 6 * time.Second
	}
	return l
}

// MaxConsumers is set on every stream: nats-server caps streams at 1,000 consumers otherwise,
// and every target reads MSX_INSTR through a consumer of its own.
const MaxConsumers = 100_000

// Streams returns the stream configurations of a layout.
func (l Layout) Streams() []jetstream.StreamConfig {
	l = l.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name: StreamInstr, Subjects: []string{subjInstr + ".*"}, Retention: jetstream.LimitsPolicy,
			MaxAge: l.InstrMaxAge, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
			// The leader posts fan-outs as fenced atomic batches (master/internal/leader).
			Replicas: l.Replicas, MaxConsumers: MaxConsumers, AllowDirect: true, AllowAtomicPublish: true,
			Description: "msx download list: instructions per target, in posting order",
		},
		{
			Name: StreamApplied, Subjects: []string{subjApplied + ".*"}, Retention: jetstream.LimitsPolicy,
			MaxAge: l.InstrMaxAge, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxConsumers: MaxConsumers,
			Description: "msx: what each target did with each instruction",
		},
		{
			Name: StreamLedger, Subjects: []string{"msx.ledger.>"}, Retention: jetstream.LimitsPolicy,
			MaxAge: l.InstrMaxAge, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			MaxConsumers: MaxConsumers, Description: "msx: master edits of the download list",
		},
		{
			Name: StreamStatus, Subjects: []string{subjStatus + ".*"}, Retention: jetstream.LimitsPolicy,
			MaxMsgsPerSubject: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			MaxConsumers: MaxConsumers, AllowMsgTTL: true, AllowDirect: true,
			Description: "msx: last heartbeat per target; expiry means offline",
		},
		{
			Name: StreamResults, Subjects: []string{subjResult + ".*.*"}, Retention: jetstream.LimitsPolicy,
			MaxMsgsPerSubject: l.HistoryPerJob, MaxAge: l.HistoryMaxAge, MaxBytes: l.HistoryMaxBytes,
			Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxConsumers: MaxConsumers,
			Description: "msx: run outcomes and step history per target and job",
		},
		{
			Name: StreamEvents, Subjects: []string{subjEvent + ".*.*"}, Retention: jetstream.LimitsPolicy,
			MaxAge: l.EventsMaxAge, MaxBytes: l.EventsMaxBytes, Duplicates: 10 * time.Minute,
			Storage: jetstream.FileStorage, Replicas: l.Replicas, MaxConsumers: MaxConsumers,
			Description: "msx: forwarded events",
		},
		{
			Name: StreamAudit, Subjects: []string{SubjectAudit, SubjectAuditTerm}, Retention: jetstream.LimitsPolicy,
			MaxAge: l.AuditMaxAge, MaxBytes: l.AuditMaxBytes, MaxMsgSize: AuditMaxMsgSize, Storage: jetstream.FileStorage, Replicas: l.Replicas, MaxConsumers: MaxConsumers,
			DenyDelete: true, DenyPurge: true,
			Description: "msx: append-only audit of every change to targets, groups, jobs and tokens",
		},
	}
}

// Buckets returns the KV bucket configurations of a layout.
func (l Layout) Buckets() []jetstream.KeyValueConfig {
	l = l.withDefaults()
	names := []string{BucketTargets, BucketGroups, BucketTokens, BucketJobs, BucketVars}
	out := make([]jetstream.KeyValueConfig, len(names))
	for i, n := range names {
		out[i] = jetstream.KeyValueConfig{Bucket: n, History: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas}
	}
	return append(out,
		jetstream.KeyValueConfig{Bucket: BucketLeader, History: 1, TTL: l.LeaseTTL,
			Storage: jetstream.FileStorage, Replicas: l.Replicas, Description: "msx: the leading master's lease"},
		jetstream.KeyValueConfig{Bucket: BucketMasters, History: 1, TTL: MasterTTL,
			Storage: jetstream.FileStorage, Replicas: l.Replicas, Description: "msx: running masters"})
}

// Ensure creates or updates every stream and bucket of the layout. It is safe to call on every
// master start and from several masters at once.
//
// On a cluster, when several masters create the same replicated stream at once, nats-server may
// leave all but one request unanswered although the stream is made: each request gets a short
// time, and a request that times out is followed by a look at whether the asset exists.
func (l Layout) Ensure(ctx context.Context, js jetstream.JetStream) error {
	for _, sc := range l.Streams() {
		err := ensureOne(ctx, func(ctx context.Context) error { _, err := js.CreateOrUpdateStream(ctx, sc); return err },
			func(ctx context.Context) error { _, err := js.Stream(ctx, sc.Name); return err })
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	for _, kc := range l.Buckets() {
		err := ensureOne(ctx, func(ctx context.Context) error { _, err := js.CreateOrUpdateKeyValue(ctx, kc); return err },
			func(ctx context.Context) error { _, err := js.KeyValue(ctx, kc.Bucket); return err })
		if err != nil {
			return fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

// ensureTry bounds one create-or-update request of Ensure.
const ensureTry = 3 * time.Second

func ensureOne(ctx context.Context, create, exists func(context.Context) error) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, ensureTry)
		err := create(tctx)
		cancel()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return err
		}
		tctx, cancel = context.WithTimeout(ctx, ensureTry)
		err = exists(tctx)
		cancel()
		if err == nil {
			return nil
		}
	}
}

// InstrConsumerIdle is how long a target's instruction consumer outlives its last pull. A target
// that comes back later asks for a new one; nothing of it is kept on disk meanwhile.
const InstrConsumerIdle = 5 * time.Minute

// InstrConsumerConfig is the one shape of target t's instruction consumer, made by the master
// (targets cannot create consumers, see SECURITY.md):
//
//	name          I_<t> (InstrConsumerName): one per target, so the count is bounded
//	filter        msx.instr.<t>
//	start         start, the sequence after the last one the target applied
//	ack           none: the target keeps its place in its local database
//	storage       memory, InactiveThreshold 5 min: no state on disk, gone when the target is
//	kind          pull, at most 16 waiting requests: each delivery goes to the reply subject of
//	              the target's own pull request, which the server routes back into the
//	              target's account
func InstrConsumerConfig(t string, start uint64) (jetstream.ConsumerConfig, error) {
	if err := CheckToken(t); err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("instruction consumer: %w", err)
	}
	return jetstream.ConsumerConfig{
		Name:              InstrConsumerName(t),
		FilterSubject:     InstrSubject(t),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(start, 1),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: InstrConsumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
		MaxWaiting:        16,
	}, nil
}

// ReplaceConsumer deletes the consumer named cfg.Name on s, if there is one, and creates it with
// cfg: a consumer's start sequence cannot be changed (JetStream error 10012).
func ReplaceConsumer(ctx context.Context, s jetstream.Stream, cfg jetstream.ConsumerConfig) error {
	if err := s.DeleteConsumer(ctx, cfg.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("replace consumer %s: %w", cfg.Name, err)
	}
	if _, err := s.CreateConsumer(ctx, cfg); err != nil {
		return fmt.Errorf("create consumer %s at sequence %d: %w", cfg.Name, cfg.OptStartSeq, err)
	}
	return nil
}
