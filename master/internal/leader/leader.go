// Package leader elects the one master of a bus that acts (answers enlistments, posts drift
// repairs, trims the download list) with a lease in the JetStream KV bucket msx_leader. Every
// other master follows the streams and buckets for a live read view and campaigns again when
// the lease record expires.
//
// The lease is one key whose record names the master, its API address and its term. A master
// takes it with Create (which fails while the record exists) and renews it with Update at the
// revision it last wrote (compare-and-set), every TTL/3. The bucket's TTL expires a record
// that is not renewed; a master that cannot renew ends its leading context TTL minus a margin
// after it sent its last successful renewal, on its own monotonic clock, before the record
// can expire (see lease). The term is the bucket revision of the Create that started the
// leadership: it only grows, so a later leader always has a larger term.
package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Key is the key of the lease record in its bucket.
const Key = "lease"

// RecordType names the lease record on the wire.
const RecordType = "msx.lease.v1"

// Record is the lease record.
type Record struct {
	Type   string `json:"type"`
	Master string `json:"master"`
	// API is the leader's HTTP API address (http://host:port), where followers forward changes.
	API string `json:"api,omitempty"`
	// Term is the revision of the record that started this leadership (0 in that record
	// itself: its revision is known only once it is written).
	Term uint64 `json:"term"`
	// Expires is when the bucket expires the record if it is not renewed (the writer's wall
	// clock; for display).
	Expires time.Time `json:"expires"`
}

// Config configures an Elector. The zero value of each field is its default.
type Config struct {
	// Name is this master's name. Required.
	Name string
	// API is this master's API address, published in the lease while it leads.
	API string
	// TTL is the bucket's TTL: the lease lasts that long after its last renewal. Default 6 s.
	TTL time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Lead runs while this master leads, with a context that ends when the lease is lost or
	// the elector shuts down. The elector campaigns again only after Lead has returned.
	Lead func(ctx context.Context, term uint64)
}

// DefaultTTL is the lease TTL when Config.TTL is zero.
const DefaultTTL = 6 * time.Second

// Elector campaigns for the lease and runs Config.Lead while it holds it.
type Elector struct {
	cfg    Config
	log    *slog.Logger
	kv     jetstream.KeyValue
	cur    atomic.Pointer[Record] // last lease record seen (nil: none)
	term   atomic.Uint64          // this master's term while it leads, else 0
	cancel context.CancelFunc
	// campaigned is closed once the first campaign has settled (this master leads, or knows
	// who does, or could not tell).
	campaigned chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
}

// Start starts campaigning for the lease in kv (the msx_leader bucket, whose TTL must be
// cfg.TTL). Stop it with Shutdown.
func Start(kv jetstream.KeyValue, cfg Config) (*Elector, error) {
	if cfg.Name == "" || cfg.Lead == nil {
		return nil, errors.New("leader: a name and a Lead function are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Elector{cfg: cfg, log: cfg.Logger.With("component", "master.leader"), kv: kv, cancel: cancel, campaigned: make(chan struct{})}
	e.wg.Go(func() { e.run(ctx) })
	return e, nil
}

// Shutdown stops campaigning; a leader ends Lead, waits for it, and deletes its lease record so
// that another master takes over at once. It is idempotent and returns ctx's error if Lead
// does not return in time.
func (e *Elector) Shutdown(ctx context.Context) error {
	e.once.Do(e.cancel)
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Campaigned is closed once the first campaign has settled: this master leads (Term is not
// 0), or another does, or the bucket did not answer.
func (e *Elector) Campaigned() <-chan struct{} { return e.campaigned }

// Term returns this master's lease term while it leads, else 0.
func (e *Elector) Term() uint64 { return e.term.Load() }

// Current returns the last lease record this master saw (its own while it leads), if any.
func (e *Elector) Current() (Record, bool) {
	r := e.cur.Load()
	if r == nil {
		return Record{}, false
	}
	return *r, true
}

// margin is how long before the record can expire a leader stops acting.
func (e *Elector) margin() time.Duration { return e.cfg.TTL / 5 }

func (e *Elector) run(ctx context.Context) {
	poll := e.cfg.TTL / 4
	first := true
	defer func() {
		if first {
			close(e.campaigned)
		}
	}()
	for ctx.Err() == nil {
		l, ok := e.campaign(ctx, first)
		if first {
			first = false
			if ok {
				e.term.Store(l.term) // before Campaigned closes: a caller sees that it leads
			}
			close(e.campaigned)
		}
		if ok {
			e.hold(ctx, l)
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

func (e *Elector) record(term uint64) ([]byte, *Record) {
	r := &Record{Type: RecordType, Master: e.cfg.Name, API: e.cfg.API, Term: term, Expires: time.Now().Add(e.cfg.TTL).UTC()}
	b, _ := json.Marshal(r)
	return b, r
}

// campaign takes the lease if no record holds it, else notes who does. On the first campaign
// of a process, a record in this master's own name is taken over at once: it was left by an
// earlier run of this master that stopped without releasing it (a master's data directory is
// locked, so two runs of one master cannot be alive at once; master names must be unique).
func (e *Elector) campaign(ctx context.Context, first bool) (lease, bool) {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.TTL/2)
	defer cancel()
	b, _ := e.record(0)
	sent := time.Now()
	rev, err := e.kv.Create(rctx, Key, b)
	if err == nil {
		l := lease{ttl: e.cfg.TTL, margin: e.margin(), term: rev}
		l.renewed(sent, rev)
		return l, true
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		if ctx.Err() == nil {
			e.log.Warn("campaign for the lease", "err", err)
		}
		return lease{}, false
	}
	if en, err := e.kv.Get(rctx, Key); err == nil {
		var r Record
		if json.Unmarshal(en.Value(), &r) == nil {
			if r.Term == 0 {
				r.Term = en.Revision()
			}
			e.cur.Store(&r)
			if first && r.Master == e.cfg.Name {
				sent := time.Now()
				if rev, err := e.kv.Update(rctx, Key, b, en.Revision()); err == nil {
					e.log.Warn("took over the lease an earlier run of this master left", "term", r.Term)
					l := lease{ttl: e.cfg.TTL, margin: e.margin(), term: rev}
					l.renewed(sent, rev)
					return l, true
				}
			}
		}
	} else if errors.Is(err, jetstream.ErrKeyNotFound) {
		e.cur.Store(nil)
	}
	return lease{}, false
}

// hold leads while the lease is renewed: Lead runs with a context that a timer ends when the
// lease runs out, unless a renewal moves it on first.
func (e *Elector) hold(ctx context.Context, l lease) {
	leadCtx, cancel := context.WithCancelCause(ctx)
	e.term.Store(l.term)
	// The timer itself clears the term: hold may be stuck in a renewal on a blocked connection
	// (a write to a full socket is not cancelled by its context), and this master must stop
	// leading when its lease can run out, not when that renewal returns.
	lost := time.AfterFunc(l.remaining(time.Now()), func() {
		e.term.CompareAndSwap(l.term, 0)
		cancel(errors.New("lease not renewed in time"))
	})
	defer lost.Stop()
	_, r := e.record(l.term)
	e.cur.Store(r)
	e.log.Info("leading", "master", e.cfg.Name, "term", l.term, "ttl", e.cfg.TTL)
	done := make(chan struct{})
	e.wg.Go(func() { defer close(done); e.cfg.Lead(leadCtx, l.term) })
	defer func() {
		cancel(nil)
		e.term.Store(0)
		<-done
		if ctx.Err() != nil {
			e.release(l)
		}
		e.log.Info("no longer leading", "master", e.cfg.Name, "term", l.term, "cause", context.Cause(leadCtx))
	}()
	tick := time.NewTicker(e.cfg.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-leadCtx.Done():
			return
		case <-tick.C:
		}
		b, r := e.record(l.term)
		rctx, rcancel := context.WithTimeout(leadCtx, l.remaining(time.Now()))
		sent := time.Now()
		rev, err := e.kv.Update(rctx, Key, b, l.rev)
		rcancel()
		switch {
		case err == nil:
			l.renewed(sent, rev)
			if leadCtx.Err() != nil || !lost.Reset(l.remaining(time.Now())) {
				return // the timer fired while the renewal was under way: lost all the same
			}
			e.cur.Store(r)
		case errors.Is(err, jetstream.ErrKeyExists), isWrongLastSeq(err):
			cancel(fmt.Errorf("lease taken over: %w", err))
			return
		default:
			e.log.Warn("renew lease", "term", l.term, "err", err, "remaining", l.remaining(time.Now()))
		}
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// release deletes the lease record if it is still this master's.
func (e *Elector) release(l lease) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.kv.Delete(ctx, Key, jetstream.LastRevision(l.rev)); err != nil {
		e.log.Warn("release lease", "term", l.term, "err", err)
	}
	e.cur.Store(nil)
}
