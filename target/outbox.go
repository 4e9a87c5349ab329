package target

import (
	"context"
	"fmt"
	"time"

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

// sendQueued publishes the outbox in order. Published rows are deleted up to the last one
// sent; on a full disk that delete fails, and the rows are skipped by id until it succeeds.
func (a *Agent) sendQueued(ctx context.Context) error {
	for {
		rows, err := a.store.Outbox(ctx, a.sentUpTo, 256)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := a.publish(ctx, r.OutMsg); err != nil {
				return err
			}
			a.sentUpTo = r.ID
		}
		if a.sentUpTo > a.forgotUpTo {
			if err := a.store.Sent(ctx, a.sentUpTo); err != nil {
				a.log.Debug("sent messages not removed from the outbox yet", "err", err)
			} else {
				a.forgotUpTo = a.sentUpTo
			}
		}
		if len(rows) == 0 {
			return nil
		}
	}
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
