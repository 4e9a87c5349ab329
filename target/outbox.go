package target

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/store"
)

// flushOutbox publishes queued messages in order, each with its Nats-Msg-Id so that a resend
// after a lost PubAck is dropped by JetStream, and removes each once JetStream has it.
// A target that cannot reach the bus keeps its outbox and sends everything when it is back.
// Reports the disk refused (the spool) go after the outbox: written to it when the disk takes
// writes again, published directly while it does not.
func (a *Agent) flushOutbox(ctx context.Context) error {
	wait := 200 * time.Millisecond
	for {
		err := a.sendOutbox(ctx)
		if err == nil {
			wait = 200 * time.Millisecond
		} else if ctx.Err() == nil {
			a.log.Warn("outbox not flushed, will retry", "err", err, "wait", wait)
			a.pruneOutbox(ctx)
			wait = min(2*wait, 10*time.Second)
		}
		t := time.NewTimer(wait)
		if err == nil {
			// A periodic sweep, normally woken by wakeOutbox; sooner while reports are held,
			// to notice when the disk takes writes again.
			d := 5 * time.Second
			if a.spool.holding() {
				d = time.Second
			}
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.outbox:
			t.Stop()
		case <-t.C:
		}
	}
}

// sendOutbox publishes the outbox, then what the spool holds. One sender at a time (the
// flush loop, a defection's flush, a stopping agent's last flush): it waits its turn until ctx
// ends.
func (a *Agent) sendOutbox(ctx context.Context) error {
	select {
	case a.sending <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.sending }()
	for {
		if err := a.sendQueued(ctx); err != nil {
			return err
		}
		more, err := a.sendHeld(ctx)
		if !more || err != nil {
			return err
		}
	}
}

// A window of the outbox is up to outboxWindow rows and outboxWindowBytes of payload (a run's
// outcome may carry 768 KiB of history rows): published before their acks are awaited. 1,024
// rows drain a local bus at 0.6-0.8x raw JetStream async publishing (BenchmarkOutboxDrain),
// 256 at 0.5x.
const (
	outboxWindow      = 1024
	outboxWindowBytes = 4 << 20
)

// sendQueued publishes the outbox in order, in windows: a window's messages are published
// asynchronously, then their acks are awaited in order, then the rows acked are deleted in one
// statement. On a full disk that delete fails, and the rows are skipped by id until it succeeds.
//
// Order: JetStream stores one connection's publishes in the order sent. When a message of a
// window is not acked, the window stops there (the rows after it stay queued even if they were
// acked) and the next attempt sends again from it; the later ones then carry a Nats-Msg-Id
// JetStream has seen and are dropped as duplicates. Only a message JetStream refused while
// taking a later one of the same window (a stream without a leader for a moment) can so land
// after that later one; every message still lands exactly once.
func (a *Agent) sendQueued(ctx context.Context) error {
	for {
		rows, err := a.store.OutboxWindow(ctx, a.sentUpTo, outboxWindow, outboxWindowBytes)
		if err != nil {
			return err
		}
		acked, err := a.publishWindow(ctx, rows)
		if acked > 0 {
			a.sentUpTo = rows[acked-1].ID
		}
		if a.sentUpTo > a.forgotUpTo {
			if err := a.store.Sent(ctx, a.sentUpTo); err != nil {
				a.log.Debug("sent messages not removed from the outbox yet", "err", err)
			} else {
				a.forgotUpTo = a.sentUpTo
			}
		}
		if err != nil || len(rows) == 0 {
			return err
		}
	}
}

// publishWindow publishes rows asynchronously and waits for their acks, in order. It returns
// how many rows, from the first, JetStream acknowledged, and the error of the first that it
// did not.
func (a *Agent) publishWindow(ctx context.Context, rows []store.Queued) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(rows))
	var perr error
	for _, r := range rows {
		msg := &nats.Msg{Subject: r.Subject, Data: r.Payload, Header: nats.Header{jetstream.MsgIDHeader: []string{r.MsgID}}}
		f, err := a.js.PublishMsgAsync(msg)
		if err != nil {
			perr = fmt.Errorf("publish %s: %w", r.MsgID, err)
			break
		}
		futures = append(futures, f)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second+time.Duration(len(futures))*10*time.Millisecond)
	defer cancel()
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, fmt.Errorf("publish %s: %w", rows[i].MsgID, err)
		case <-wctx.Done():
			return i, fmt.Errorf("publish %s: no ack: %w", rows[i].MsgID, wctx.Err())
		}
	}
	return len(futures), perr
}

// sendHeld writes the held reports to the outbox in one transaction (more: they are there to
// send) or, while the disk refuses, publishes them in order, each once.
func (a *Agent) sendHeld(ctx context.Context) (more bool, err error) {
	hs := a.spool.snapshot()
	if len(hs) == 0 {
		return false, nil
	}
	cerr := a.store.Commit(ctx, a.spool.writes(hs)...)
	if cerr == nil {
		a.spool.remove(hs)
		if a.spool.accepted() {
			a.log.Info("the data directory takes writes again: held reports written to the outbox", "writes", len(hs))
		}
		a.reportDropped(ctx)
		return true, nil
	}
	a.spool.refused(cerr)
	sent := 0
	for _, h := range hs {
		for _, m := range a.spool.msgs(h) {
			if err := a.publish(ctx, m); err != nil {
				return false, err
			}
			sent++
		}
		a.spool.published(h)
	}
	if sent > 0 {
		a.log.Info("held reports sent directly: the data directory still refuses writes", "reports", sent)
	}
	a.reportDropped(ctx)
	return false, nil
}

// reportDropped publishes an event when the spool's policy dropped something.
func (a *Agent) reportDropped(ctx context.Context) {
	d := a.spool.takeDropped()
	if d.zero() {
		return
	}
	ev := schemas.Event{ID: fmt.Sprintf("held-dropped-%d", time.Now().UnixNano()), Severity: schemas.SeverityError, Source: "agent",
		Message: fmt.Sprintf("SQLServerAgent Error: the data directory %s was full and the reports held in memory reached their limit (%d bytes): %s were dropped. Run outcomes were kept.",
			a.cfg.DataDir, a.cfg.HoldBytes, d)}
	a.log.Error("held reports dropped: memory limit reached while the disk was full", "dropped", d.String(), "limit", a.cfg.HoldBytes)
	if err := a.publish(ctx, eventMsg(a.id.ServerName, a.id.Token, ev)); err != nil {
		a.write(ctx, store.Write{Msgs: []store.OutMsg{eventMsg(a.id.ServerName, a.id.Token, ev)}})
	}
}

func (a *Agent) publish(ctx context.Context, m store.OutMsg) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.js.Publish(pctx, m.Subject, m.Payload, jetstream.WithMsgID(m.MsgID)); err != nil {
		return fmt.Errorf("publish %s: %w", m.MsgID, err)
	}
	return nil
}

func (a *Agent) wakeOutbox() {
	select {
	case a.outbox <- struct{}{}:
	default:
	}
}

// write makes w in the local database, or, when the disk refuses it (or reports are already
// held, which must leave first), holds it in memory; the outbox sender takes it from there.
// No report is lost while the agent lives.
func (a *Agent) write(ctx context.Context, w store.Write) {
	if !a.spool.holding() {
		err := a.store.Commit(ctx, w)
		if err == nil {
			if a.spool.accepted() {
				a.log.Info("the data directory takes writes again")
			}
			a.wakeOutbox()
			return
		}
		if a.spool.refused(err) {
			a.log.Error("the data directory refuses writes: reports are held in memory and sent directly until it has space again; "+
				"free space on its file system (df -h), the agent catches up by itself", "dir", a.cfg.DataDir, "err", err,
				"hold_limit_bytes", a.cfg.HoldBytes)
			ev := schemas.Event{ID: fmt.Sprintf("disk-full-%d", time.Now().UnixNano()), Severity: schemas.SeverityError, Source: "agent",
				Message: fmt.Sprintf("SQLServerAgent Error: disk full on %s: the data directory %s refuses writes (%v); reports are held in memory until it has space.",
					a.id.ServerName, a.cfg.DataDir, err)}
			a.spool.add(store.Write{Msgs: []store.OutMsg{eventMsg(a.id.ServerName, a.id.Token, ev)}})
		}
	}
	a.spool.add(w)
	a.wakeOutbox()
}
