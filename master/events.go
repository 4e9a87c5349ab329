package master

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// raise publishes an event the master itself raises about target t (drift repaired, disk
// full) among the target's forwarded events, with source "master". ev.ID is its Nats-Msg-Id,
// so a retried publish is stored once.
func (m *Master) raise(ctx context.Context, t registry.Target, ev schemas.Event) error {
	ev.Server, ev.Source = t.ServerName, "master"
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	b, err := schemas.Encode(&ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := m.js.Publish(ctx, bus.EventSubject(t.Token, strconv.Itoa(ev.Severity)), b, jetstream.WithMsgID("event-"+ev.ID)); err != nil {
		return fmt.Errorf("raise event %s on %s: %w", ev.ID, t.ServerName, err)
	}
	return nil
}
