package master

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
)

// follower replays a stream from its start (or last per subject) and then follows it live.
type follower struct {
	stream  string
	deliver jetstream.DeliverPolicy
	handle  func(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata)
}

// A follower reads its stream through an ordered consumer, which nats.go recreates when it
// misses heartbeats. On a cluster that lost a node, followers were seen to stop for good: no
// error, no message, while the stream went on (a standby master then never saw the runs after
// the takeover). The cause found: an ordered consumer's Info holds the consumer's lock for as
// long as its request waits, and waits forever on a context without a deadline (nats.go v1.55
// gives no default there); a request lost while the cluster formed left the lock held, and the
// reset after the node loss waited on it forever. Info now gets a deadline, and a follower no
// longer trusts its consumer alone: bus.Stall asks the stream itself whether a message after
// the last one handled is waiting, and a follower that made no progress for bus.StallAfter
// while one was starts a new consumer after the last message handled (never from the start
// again: nothing is handled twice, nothing skipped). The stuck iterator is left to its
// goroutine, which can no longer hand anything on.

// errStalled ends a follower's consumer that stopped delivering while its stream did not.
var errStalled = errors.New("stream follower stalled")

// consumerInfoTimeout bounds an ordered consumer's Info (see above).
const consumerInfoTimeout = 5 * time.Second

func (m *Master) follow(ctx context.Context, f follower, ready chan<- error) {
	var once sync.Once
	signal := func(err error) { once.Do(func() { ready <- err }) }
	bus.TrackStalls(f.stream)
	var last atomic.Uint64 // stream sequence of the last message handled
	for ctx.Err() == nil {
		err := m.followOnce(ctx, f, &last, signal)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errStalled) {
			bus.CountStall(f.stream)
			m.log.Warn("stream follower stalled, restarting after the last message handled", "stream", f.stream, "err", err, "last_seq", last.Load())
		} else {
			m.log.Error("stream follower stopped, restarting", "stream", f.stream, "err", err, "last_seq", last.Load())
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	signal(ctx.Err())
}

// delivery is one result of an iterator's Next.
type delivery struct {
	msg jetstream.Msg
	err error
}

// followOnce follows f's stream with one ordered consumer, from the message after last (from
// f's deliver policy when nothing was handled yet), until ctx ends or the consumer fails or
// stalls.
func (m *Master) followOnce(ctx context.Context, f follower, last *atomic.Uint64, signal func(error)) error {
	stream, err := m.js.Stream(ctx, f.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", f.stream, err)
	}
	if stream.CachedInfo().State.Msgs == 0 {
		signal(nil)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: f.deliver}
	if l := last.Load(); l > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, l+1
	}
	cons, err := m.js.OrderedConsumer(ctx, f.stream, cfg)
	if err != nil {
		return fmt.Errorf("follow %s: %w", f.stream, err)
	}
	// Messages counted in the stream info may be gone (deleted, trimmed) before they are
	// delivered: a consumer with nothing pending is caught up too.
	caughtUp := time.AfterFunc(time.Second, func() {
		ictx, cancel := context.WithTimeout(ctx, consumerInfoTimeout)
		defer cancel()
		if ci, err := cons.Info(ictx); err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
			signal(nil)
		}
	})
	defer caughtUp.Stop()
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	// The iterator is stopped on another goroutine: a stuck one may not return from Stop.
	defer func() { go it.Stop() }()
	done := make(chan struct{})
	defer close(done)
	next := make(chan delivery)
	go func() {
		for {
			msg, err := it.Next()
			select {
			case next <- delivery{msg, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stalled := make(chan error, 1)
	watchCtx, endWatch := context.WithCancel(ctx)
	defer endWatch()
	go func() {
		pos, ok := bus.WatchStall(watchCtx, last.Load, func(ctx context.Context, pos uint64) (bool, error) {
			_, err := stream.GetMsg(ctx, pos+1, jetstream.WithGetMsgSubject(">"))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return false, nil
			}
			return err == nil, err
		})
		if ok {
			stalled <- fmt.Errorf("%w: a message after %d of %s waits, none handled for %s", errStalled, pos, f.stream, bus.StallAfter)
		}
	}()
	for {
		var d delivery
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-stalled:
			return err
		case d = <-next:
		}
		if d.err != nil {
			if errors.Is(d.err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return d.err
		}
		meta, err := d.msg.Metadata()
		if err != nil {
			return err
		}
		f.handle(ctx, d.msg, meta)
		last.Store(meta.Sequence.Stream)
		if meta.NumPending == 0 {
			signal(nil)
		}
	}
}
