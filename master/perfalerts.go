package master

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
)

// Distribution of performance-condition alerts. Targets cannot read the master's buckets
// (bus/SECURITY.md), so the leader posts each target the whole set of enabled
// performance-condition alerts in its scope (servers, groups) as a SET-ALERTS instruction on its
// download list, fenced like every post. The instruction's object_id is the set's digest
// (schemas/notify.PerfAlertDigest); the target stores the set, evaluates it and reports the
// digest it holds in every heartbeat (alert_digest) once it got one.
//
// One loop of the leader compares, for every target, the set it should hold with the last one
// posted to it (remembered, or read from the download list when the loop starts: the newest
// SET-ALERTS row of the target's enlistment, else the digest its heartbeat reports, else the
// empty set):
//
//	alert added, changed, deleted, enabled ─┐
//	target enlisted, groups changed ────────┼─> set differs from the last posted ─> post SET-ALERTS
//	every PerfAlertsInterval ───────────────┘
//	heartbeat digest differs from the last posted, nothing in flight,
//	the last SET-ALERTS did not fail, seen on two heartbeats ──> post it again (drift repair,
//	                                        backoff 4, 8, 16... intervals up to 30 min)
//
// The loop keeps the alerts in memory from a watch of the alerts bucket, wakes on every change
// of it (whichever master's API made it) and every PerfAlertsInterval, which catches
// enlistments, group changes and heartbeats. A set of more than schemas/notify.MaxPerfAlerts
// alerts is not posted (the target would refuse it; the API refuses more enabled ones): the
// loop logs it once per set. Agents older than SET-ALERTS report it failed (50011, malformed
// instruction) and send no digest, so they are neither repaired nor posted to again until the
// set changes.

// DefaultPerfAlertsInterval is how often the leader compares the alert sets of targets when
// nothing wakes it earlier.
const DefaultPerfAlertsInterval = 2 * time.Second

// perfAlertState is what the loop remembers of one target. Only the loop's goroutine uses it.
type perfAlertState struct {
	startSeq uint64     // the enlistment it belongs to
	digest   string     // the set last posted (or found in the download list)
	seq      uint64     // that SET-ALERTS's instance_id; 0: none
	tooMany  string     // the digest of a set too large to post, logged once
	drift    repairGate // keyed by the differing digest a heartbeat showed (drift.go)
}

// perfAlertLoop keeps the targets' alert sets up to date while this master leads. It follows
// the alerts bucket with a watch (the notification service creates the bucket when the master
// starts, maybe after the leadership began: the loop opens it when it exists). A watch that
// stalls (bus.WatchBucketStall: nothing delivered while the bucket holds a newer revision, seen on a
// cluster that lost a node) is replaced by a new one, which reads every alert again.
func (m *Master) perfAlertLoop(ctx context.Context) {
	interval := m.cfg.PerfAlertsInterval
	if interval <= 0 {
		interval = DefaultPerfAlertsInterval
	}
	bus.TrackStalls(notify.BucketAlerts)
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		w        jetstream.KeyWatcher
		updates  <-chan jetstream.KeyValueEntry
		next     atomic.Uint64 // the revision the watch delivers next
		stalled  <-chan uint64 // the bucket's last revision, when the watch stalled
		endWatch = func() {}   // ends the watch's stall check
	)
	defer func() {
		endWatch()
		if w != nil {
			_ = w.Stop()
		}
	}()
	alerts := map[string]model.Alert{} // by bucket key
	ready := false                     // the watch delivered every alert held
	states := map[string]*perfAlertState{}
	restart := func() {
		endWatch()
		_ = w.Stop()
		w, updates, stalled, ready = nil, nil, nil, false
		clear(alerts)
	}
	for {
		if w == nil {
			if kv, err := m.js.KeyValue(ctx, notify.BucketAlerts); err == nil {
				if w, err = kv.WatchAll(ctx); err != nil {
					w = nil
					m.log.Warn("alerts bucket not watched: performance alerts not distributed; retrying", "err", err)
				} else {
					updates = w.Updates()
					next.Store(1)
					stalled, endWatch = checkStall(ctx, kv, next.Load)
				}
			}
		}
		if ready {
			m.perfAlertPass(ctx, slices.Collect(maps.Values(alerts)), states, interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case last := <-stalled:
			bus.CountStall(notify.BucketAlerts)
			m.log.Warn("alerts bucket watch stalled: watching it again", "next_revision", next.Load(), "bucket_revision", last)
			restart()
		case e, ok := <-updates:
			switch {
			case !ok:
				restart()
			case e == nil:
				ready = true // the alerts held are all delivered; updates follow
			default:
				next.Store(e.Revision() + 1)
				if e.Operation() != jetstream.KeyValuePut {
					delete(alerts, e.Key())
					continue
				}
				var a model.Alert
				if err := json.Unmarshal(e.Value(), &a); err != nil {
					m.log.Warn("alert not readable: left out of the performance alert sets", "key", e.Key(), "err", err)
					delete(alerts, e.Key())
					continue
				}
				alerts[e.Key()] = a
			}
		}
	}
}

// checkStall checks in the background whether the watch of kv that expects revision next()
// next stalls (bus.WatchBucketStall): the channel then gets the bucket's last revision. end
// ends the check.
func checkStall(ctx context.Context, kv jetstream.KeyValue, next func() uint64) (stalled <-chan uint64, end context.CancelFunc) {
	ctx, end = context.WithCancel(ctx)
	ch := make(chan uint64, 1)
	go func() {
		if last, ok := bus.WatchBucketStall(ctx, kv, next); ok {
			ch <- last
		}
	}()
	return ch, end
}

// perfAlertPass posts the sets that differ from the last posted, and repairs drift.
func (m *Master) perfAlertPass(ctx context.Context, all []model.Alert, states map[string]*perfAlertState, interval time.Duration) {
	now := time.Now()
	seen := map[string]bool{}
	var out []outgoing
	var digests []string
	for _, t := range m.Reg.Targets() {
		seen[t.Token] = true
		st := states[t.Token]
		if st == nil || st.startSeq != t.StartSeq {
			st = m.seedPerfAlerts(t)
			states[t.Token] = st
		}
		set := model.PerfAlertsFor(all, t.ServerName, m.Reg.GroupsOf(t.ServerName))
		d := model.PerfAlertDigest(set)
		if d == st.digest && !m.perfAlertDrift(t, st, d, now, interval) {
			continue
		}
		if len(set) > model.MaxPerfAlerts {
			if st.tooMany != d {
				st.tooMany = d
				m.log.Error("performance alerts not sent: more than the limit are in scope of the target; disable some or scope them to fewer servers",
					"target", t.ServerName, "alerts", len(set), "limit", model.MaxPerfAlerts)
			}
			continue
		}
		b, err := json.Marshal(set)
		if err != nil {
			continue
		}
		out = append(out, outgoing{t, schemas.Instruction{Operation: schemas.OpSetAlerts, ObjectID: d,
			ObjectName: fmt.Sprintf("%d performance alert(s)", len(set)), Alerts: b}})
		digests = append(digests, d)
	}
	for tok := range states {
		if !seen[tok] {
			delete(states, tok)
		}
	}
	if len(out) == 0 {
		return
	}
	posted, err := m.postAll(ctx, out)
	for i, p := range posted {
		st := states[out[i].t.Token]
		st.digest, st.seq = digests[i], p.InstanceID
	}
	if err != nil && ctx.Err() == nil {
		m.log.Warn("performance alert sets not all posted: the rest at the next pass", "posted", len(posted), "of", len(out), "err", err)
	} else if len(posted) > 0 {
		m.log.Info("performance alert sets posted", "targets", len(posted))
	}
}

// seedPerfAlerts reads what was last posted to t in its enlistment from the download list.
// Without such a row (none posted, or trimmed), a heartbeat's digest stands for it, and
// without that, the empty set: at worst the set is posted once more, which changes nothing.
func (m *Master) seedPerfAlerts(t registry.Target) *perfAlertState {
	st := &perfAlertState{startSeq: t.StartSeq, digest: model.PerfAlertDigest(nil)}
	rows := m.Ledger.List(ledger.Filter{Token: t.Token})
	for i := len(rows) - 1; i >= 0; i-- {
		if r := rows[i]; r.Operation == schemas.OpSetAlerts && r.InstanceID >= t.StartSeq {
			st.digest, st.seq = r.ObjectID, r.InstanceID
			return st
		}
	}
	if v, ok := m.live.Load(t.Token); ok {
		if hb := v.(liveStatus).hb; hb.AlertDigest != "" {
			st.digest = hb.AlertDigest
		}
	}
	return st
}

// perfAlertDrift reports whether t's heartbeat shows another set than want, the set last
// posted, so that it must be posted again: nothing posted since is in flight, the last post
// did not fail (it would fail again), the difference showed on two heartbeats in a row, and
// the target's repair backoff is over.
func (m *Master) perfAlertDrift(t registry.Target, st *perfAlertState, want string, now time.Time, interval time.Duration) bool {
	v, ok := m.live.Load(t.Token)
	if !ok {
		return false
	}
	hb := v.(liveStatus).hb
	switch {
	case hb.AlertDigest == "": // an agent older than SET-ALERTS, or one that never got one
		return false
	case hb.AlertDigest == want:
		st.drift = repairGate{}
		return false
	case hb.AppliedSeq < st.seq:
		return false // the last SET-ALERTS is not applied yet
	}
	if r, ok := m.Ledger.Row(st.seq); ok && r.ErrorMessage != "" && !r.ErrorCleared {
		return false // failed, and would fail again: the download list shows why
	}
	due, wait := st.drift.due(hb.AlertDigest, hb.Sent, now, max(time.Duration(hb.IntervalMS)*time.Millisecond, interval))
	if !due {
		return false
	}
	m.log.Warn("performance alert drift on target: posting its set again", "target", t.ServerName,
		"holds", hb.AlertDigest, "should_hold", want, "next_not_before", wait)
	return true
}
