package target

import (
	"context"
	"fmt"
	"time"
)

// Defaults of Config.OutboxBytes and Config.AppliedKeep.
const (
	defaultOutboxBytes = 64 << 20
	defaultAppliedKeep = 30 * 24 * time.Hour
)

// housekeepInterval is how often the agent prunes its local database.
const housekeepInterval = time.Hour

// housekeep prunes the local database at start and then every housekeepInterval until ctx
// ends: the applied instructions older than Config.AppliedKeep, and the outbox over
// Config.OutboxBytes. The other tables shrink by themselves: running and processes lose a
// run's rows when it reports, jobs hold what the master sent, meta has fixed keys.
func (a *Agent) housekeep(ctx context.Context) error {
	t := time.NewTicker(housekeepInterval)
	defer t.Stop()
	for {
		if n, err := a.store.PruneApplied(ctx, time.Now().Add(-a.cfg.AppliedKeep)); err != nil {
			a.log.Warn("applied instructions not pruned", "err", err)
		} else if n > 0 {
			a.log.Info("applied instructions pruned", "rows", n, "older_than", a.cfg.AppliedKeep)
		}
		a.pruneOutbox(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneOutbox bounds the outbox by Config.OutboxBytes (store.PruneOutbox says what goes
// first) and raises an event when it drops something. The outbox only grows while the bus
// does not take the reports: the sender calls it after each failed attempt.
func (a *Agent) pruneOutbox(ctx context.Context) {
	d, err := a.store.PruneOutbox(ctx, a.cfg.OutboxBytes)
	if err != nil {
		a.log.Warn("outbox not pruned", "err", err)
		return
	}
	if d.Over > 0 {
		a.log.Error("the outbox holds more run outcomes and instruction statuses than its limit; they are kept: the bus has not taken reports for long",
			"over_bytes", d.Over, "limit_bytes", a.cfg.OutboxBytes)
	}
	if d.Zero() {
		return
	}
	a.log.Error("outbox over its limit while the bus does not take reports: reports dropped", "dropped", d.String(), "limit_bytes", a.cfg.OutboxBytes)
	a.agentEvent(ctx, fmt.Sprintf("outbox-dropped-%d", time.Now().UnixNano()), 0,
		fmt.Sprintf("SQLServerAgent Error: the reports queued on %s reached their limit (%d bytes) while the bus did not take them: %s were dropped. Run outcomes and instruction statuses were kept.",
			a.id.ServerName, a.cfg.OutboxBytes, d))
}
