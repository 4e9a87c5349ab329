package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LastRevision returns the revision of the last write to a KV bucket (0 when it was never
// written): a view loaded after reading it and then fed by WatchFrom(rev+1) misses nothing.
func LastRevision(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("status of %s: %w", kv.Bucket(), err)
	}
	s, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("status of %s: unexpected type %T", kv.Bucket(), st)
	}
	return s.StreamInfo().State.LastSeq, nil
}

// WatchFrom passes every write to kv from revision from on (puts, deletes and purges) to
// apply, in order, until ctx ends; it re-creates the watcher if it stops, or if it stalls.
// apply runs on the calling goroutine.
//
// A watcher is an ordered consumer, which nats.go recreates when it misses heartbeats; on a
// cluster that lost a node, watchers were seen to stall instead (no error, no entry), and a
// standby master's view then never learns of a job or target written after that. So WatchFrom
// also asks the bucket for its last revision (Stall): a watcher that applied nothing for
// StallAfter while a revision after the last one applied existed is stopped, and a new one
// resumes after the last entry applied; log (nil: slog.Default) says so.
func WatchFrom(ctx context.Context, kv jetstream.KeyValue, from uint64, log *slog.Logger, apply func(jetstream.KeyValueEntry)) error {
	if log == nil {
		log = slog.Default()
	}
	TrackStalls(kv.Bucket())
	var next atomic.Uint64 // the revision expected next
	next.Store(max(from, 1))
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx, jetstream.ResumeFromRevision(next.Load()))
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		wctx, endWatch := context.WithCancel(ctx)
		go func() {
			if last, stalled := WatchBucketStall(wctx, kv, next.Load); stalled {
				CountStall(kv.Bucket())
				log.Warn("bucket watcher stalled, restarting after the last entry applied", "bucket", kv.Bucket(),
					"next_revision", next.Load(), "last_revision", last, "stalled_for", StallAfter)
				_ = w.Stop()
			}
		}()
		for e := range w.Updates() {
			if e == nil {
				continue // caught up
			}
			apply(e)
			next.Store(e.Revision() + 1)
		}
		endWatch()
		_ = w.Stop()
	}
	return ctx.Err()
}

// StallCheck and StallAfter time the stall detection of WatchFrom and of the master's stream
// followers: a check every StallCheck; StallAfter without progress while something waits to
// be delivered is a stall.
var (
	StallCheck = 5 * time.Second
	StallAfter = 10 * time.Second
)

// stalls counts, by stream or bucket name, the followers and watchers of this process that were
// replaced because they stalled.
var stalls sync.Map // name -> *atomic.Int64

// TrackStalls makes name's count of stalls exist, at 0 until one happens: a counter series that
// exists before its first increase lets Prometheus's increase() see that first one.
func TrackStalls(name string) { stalls.LoadOrStore(name, new(atomic.Int64)) }

// CountStall records that a follower or watcher of the stream or bucket name was replaced
// because it stalled. WatchFrom counts its own; the master's stream followers report theirs.
func CountStall(name string) {
	n, _ := stalls.LoadOrStore(name, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

// Stalls returns, by stream or bucket name, how many followers and watchers this process
// replaced because they stalled (the master exports it as msx_master_follower_stalls_total).
// A process holds one master, so the counts are the master's.
func Stalls() map[string]int64 {
	out := map[string]int64{}
	stalls.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Stall judges, from checks made every StallCheck, whether a follower of a stream is stuck. The
// zero value is ready.
type Stall struct {
	pos   uint64    // the follower's position at the last check
	since time.Time // when something was first seen waiting at pos (zero: nothing waits)
}

// Stalled records a check at time now: the follower is at pos (what it handled last, or the
// revision it expects next) and waiting says whether the stream holds something after it. It
// reports true when pos has not moved and something has waited for StallAfter.
func (s *Stall) Stalled(pos uint64, waiting bool, now time.Time) bool {
	if pos != s.pos || !waiting {
		s.pos, s.since = pos, time.Time{}
		if waiting {
			s.since = now
		}
		return false
	}
	if s.since.IsZero() {
		s.since = now
		return false
	}
	return now.Sub(s.since) >= StallAfter
}

// WatchStall checks, every StallCheck until ctx ends, whether a follower is stuck: pos gives
// its position, waiting whether its stream holds something after a position (an error: no
// judgement this time). It returns the position it stalled at, and true, once pos has not moved
// for StallAfter while something waited; false when ctx ends first.
func WatchStall(ctx context.Context, pos func() uint64, waiting func(ctx context.Context, pos uint64) (bool, error)) (uint64, bool) {
	t := time.NewTicker(StallCheck)
	defer t.Stop()
	var st Stall
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case <-t.C:
		}
		p := pos()
		rctx, cancel := context.WithTimeout(ctx, StallCheck)
		w, err := waiting(rctx, p)
		cancel()
		if err == nil && st.Stalled(p, w, time.Now()) {
			return p, true
		}
	}
}

// WatchBucketStall is WatchStall for a watcher of kv that expects revision next() next: it
// returns the bucket's last revision, and true, when that watcher stalled.
func WatchBucketStall(ctx context.Context, kv jetstream.KeyValue, next func() uint64) (uint64, bool) {
	var last uint64
	_, stalled := WatchStall(ctx, next, func(ctx context.Context, pos uint64) (bool, error) {
		var err error
		last, err = LastRevision(ctx, kv)
		return last >= pos, err
	})
	return last, stalled
}
