package target

import (
	"context"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// heartbeats publishes a heartbeat at once and then every interval. The master suspects the
// target offline after three missed intervals.
func (a *Agent) heartbeats(ctx context.Context) error {
	for {
		if err := a.beat(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat not sent", "err", err)
		}
		a.mu.Lock()
		d := a.interval
		a.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

func (a *Agent) beat(ctx context.Context) error {
	digest, n := a.held.digestOf()
	seq, err := a.store.AppliedSeq(ctx)
	if err != nil {
		return err
	}
	held := a.heldList(digest)
	now := time.Now().In(a.cfg.TimeZone)
	a.mu.Lock()
	hb := &schemas.Heartbeat{
		ServerName: a.id.ServerName, Sent: now.UTC(), LocalTime: now.Format(time.RFC3339),
		TimeZoneAdjustment: a.zoneOffset(now), PollInterval: a.pollSecs, IntervalMS: a.interval.Milliseconds(),
		Version: Version, ProtocolVersion: schemas.ProtocolVersion, JobDigest: digest, Jobs: n,
		AppliedSeq: seq, ClockOffsetMS: a.offsetMS, Database: a.cfg.Database, Disk: a.diskState(), Held: held,
		AlertDigest: a.alertDigest(),
	}
	a.mu.Unlock()
	b, err := schemas.Encode(hb)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// No TTL: the last heartbeat stays, so a restarted master still knows when an offline
	// target was last seen; staleness, not expiry, makes it suspected offline.
	_, err = a.js.Publish(pctx, bus.StatusSubject(a.id.Token), b)
	return err
}

// heldList returns the job versions a heartbeat with this digest carries: on the first
// heartbeat, when the digest changed since the previous one, and every schemas.HeldEvery-th
// (so a restarted master learns them); nil otherwise, or when more than schemas.MaxHeld jobs
// are held. Only the heartbeat loop calls it.
func (a *Agent) heldList(digest string) map[string]int {
	a.beats++
	if digest == a.lastDigest && a.beats%schemas.HeldEvery != 1 {
		return nil
	}
	a.lastDigest = digest
	held, ok := a.held.versions(schemas.MaxHeld)
	if !ok {
		return nil // too many to send: the master falls back to a resync when it must
	}
	return held
}
