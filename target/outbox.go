package target

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// flushOutbox publishes queued messages in order, each with its Nats-Msg-Id so that a resend
// after a lost PubAck is dropped by JetStream, and removes each once JetStream has it.
// A target that cannot reach the bus keeps its outbox and sends everything when it is back.
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
			t.Reset(5 * time.Second) // a periodic sweep; normally woken by wakeOutbox
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

func (a *Agent) sendOutbox(ctx context.Context) error {
	for {
		rows, err := a.store.Outbox(ctx, 256)
		if err != nil || len(rows) == 0 {
			return err
		}
		for _, r := range rows {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := a.js.Publish(pctx, r.Subject, r.Payload, jetstream.WithMsgID(r.MsgID))
			cancel()
			if err != nil {
				return err
			}
			if err := a.store.Sent(ctx, r.ID); err != nil {
				return err
			}
		}
	}
}

func (a *Agent) wakeOutbox() {
	select {
	case a.outbox <- struct{}{}:
	default:
	}
}
