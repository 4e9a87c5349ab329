package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Drift repair. Each heartbeat carries the digest of the job ids and versions a target holds
// at the instruction sequence it applied last (applied_seq), and the list itself when the digest
// changed. The master compares it with what the target should hold at that sequence: every job
// the catalog gives it, except those an instruction posted after applied_seq is changing
// (in flight: a bulk deploy is not drift) and those whose latest instruction failed and will fail
// again (the same version of the same job: the target reports the same error, so re-posting it
// would only add rows and events). Only the jobs that still differ are repaired, one INSERT or
// DELETE each, and only when two heartbeats in a row show the same difference.
//
//	heartbeat ──digest as expected──> in sync (backoff reset)
//	    │
//	    └─differs──> judge at applied_seq ──nothing differs──> in sync but for known failures
//	                     │        └─stale or no job list──> wait for the next heartbeat
//	                     └─jobs differ──> seen once ──same on the next heartbeat──> repair
//	                                                      (one audit record, one event; the
//	                                                       next repair of the target waits
//	                                                       4, 8, 16... heartbeats, up to 30 min)
//
// Repairs run on their own goroutine, never inside the heartbeat follower.

// repairBackoff is the wait after a target's first repair, in heartbeat intervals; it doubles
// with each repair that did not bring the target in sync, up to maxRepairBackoff.
const (
	repairBackoff    = 4
	maxRepairBackoff = 30 * time.Minute
)

// noListLimit is how many mismatching heartbeats without the held job list (an older agent,
// or one holding more than schemas.MaxHeld jobs) drift repair waits before it falls back to a
// full resync of the target.
const noListLimit = 2 * schemas.HeldEvery

// driftTracker is drift repair's state per target, and the queue of targets to look at.
type driftTracker struct {
	mu    sync.Mutex
	by    map[string]*driftState // by target token
	dirty map[string]bool
	wake  chan struct{}
}

type driftState struct {
	held       map[string]int // the latest job list a heartbeat carried, and its digest
	heldDigest string
	gate       repairGate
	noList     int
	repairs    int
}

func newDriftTracker() driftTracker {
	return driftTracker{by: map[string]*driftState{}, dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (d *driftTracker) state(tok string) *driftState {
	st := d.by[tok]
	if st == nil {
		st = &driftState{}
		d.by[tok] = st
	}
	return st
}

// observe keeps the job list of a heartbeat that carries one (and whose digest it matches)
// and, when check is set, queues the target for a look. It does no I/O.
func (d *driftTracker) observe(tok string, hb *schemas.Heartbeat, check bool) {
	d.mu.Lock()
	if hb.Held != nil && schemas.JobSetDigest(hb.Held) == hb.JobDigest {
		st := d.state(tok)
		st.held, st.heldDigest = hb.Held, hb.JobDigest
	}
	if check {
		d.dirty[tok] = true
	}
	d.mu.Unlock()
	if check {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the queued targets and empties the queue.
func (d *driftTracker) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Sorted(maps.Keys(d.dirty))
	clear(d.dirty)
	return out
}

// heldFor returns the job list whose digest is digest, if a heartbeat brought it.
func (d *driftTracker) heldFor(tok, digest string) (map[string]int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.by[tok]; st != nil && st.heldDigest == digest {
		return st.held, true
	}
	return nil, false
}

func (d *driftTracker) forget(tok string) {
	d.mu.Lock()
	delete(d.by, tok)
	delete(d.dirty, tok)
	d.mu.Unlock()
}

// Repairs returns how many drift repairs the master posted to a target since it started.
func (m *Master) Repairs(server string) int {
	t, ok := m.Reg.Target(server)
	if !ok {
		return 0
	}
	return m.repairsOf(t.Token)
}

func (m *Master) repairsOf(tok string) int {
	m.drift.mu.Lock()
	defer m.drift.mu.Unlock()
	if st := m.drift.by[tok]; st != nil {
		return st.repairs
	}
	return 0
}

// repairLoop looks at the targets heartbeats queued, until ctx ends.
func (m *Master) repairLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.drift.wake:
		}
		for _, tok := range m.drift.take() {
			if ctx.Err() != nil {
				return
			}
			m.checkDrift(ctx, tok)
		}
	}
}

// jobFix is one job whose definition on a target differs from what it should be.
type jobFix struct {
	JobID string
	Name  string
	Want  int // version the target should hold; 0: none
	Have  int // version it holds; 0: none
}

func (f jobFix) String() string {
	switch {
	case f.Want == 0:
		return fmt.Sprintf("DELETE %s (held version %d, not targeted)", f.Name, f.Have)
	case f.Have == 0:
		return fmt.Sprintf("INSERT %s version %d (missing)", f.Name, f.Want)
	default:
		return fmt.Sprintf("INSERT %s version %d (held version %d)", f.Name, f.Want, f.Have)
	}
}

// driftPlan is what judging one heartbeat found.
type driftPlan struct {
	wait  string   // why the heartbeat cannot be judged now ("" if it was)
	full  bool     // no job list: resync the whole target
	fixes []jobFix // jobs that differ
	out   []outgoing
	known int // jobs that differ because their latest instruction failed (not re-posted)
}

// key identifies a difference, so that a repair needs the same one on two heartbeats.
func (p *driftPlan) key() string {
	if p.full {
		return "full"
	}
	h := sha256.New()
	for _, f := range p.fixes {
		fmt.Fprintf(h, "%s:%d:%d\n", f.JobID, f.Want, f.Have)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// checkDrift judges a target's latest heartbeat and repairs what differs.
func (m *Master) checkDrift(ctx context.Context, tok string) {
	v, ok := m.live.Load(tok)
	if !ok {
		return
	}
	hb := v.(liveStatus).hb
	t, ok := m.Reg.TargetByToken(tok)
	if !ok {
		m.drift.forget(tok)
		return
	}
	if hb.JobDigest == m.expectedDigest(t.ServerName) {
		m.drift.inSync(tok)
		return
	}
	// Every delivery planned before this repair is posted (and in the download list, where the
	// plan sees it in flight) before the plan is made; the catalog does not change while it is
	// made (jobMu), and the deliveries planned after it are posted after it (its turn).
	if err := m.posted(ctx); err != nil {
		return
	}
	m.jobMu.Lock()
	plan := m.planRepair(t, hb)
	now := time.Now()
	act, wait := m.drift.decide(tok, &hb, &plan, now)
	if !act {
		m.jobMu.Unlock()
	}
	var posted []Posted
	var err error
	if act {
		posted, err = m.postInTurn(ctx, plan.out)
	}
	if !act {
		if plan.wait != "" {
			m.log.Debug("drift check deferred", "target", t.ServerName, "why", plan.wait)
		}
		return
	}
	m.reportRepair(ctx, t, &hb, &plan, posted, wait, err)
}

// inSync resets a target's repair state when its digest is the expected one.
func (d *driftTracker) inSync(tok string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.by[tok]; st != nil {
		st.gate, st.noList = repairGate{}, 0
	}
}

// decide says whether a plan is carried out now: a difference seen on two heartbeats in a row,
// outside the target's backoff. When it is, the next repair of the target is pushed back and
// the wait is returned.
func (d *driftTracker) decide(tok string, hb *schemas.Heartbeat, p *driftPlan, now time.Time) (bool, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.state(tok)
	switch {
	case p.wait != "":
		return false, 0
	case !p.full && len(p.fixes) == 0:
		st.gate.key = "" // in sync but for instructions that failed and stay failed
		return false, 0
	}
	due, wait := st.gate.due(p.key(), hb.Sent, now, time.Duration(hb.IntervalMS)*time.Millisecond)
	if due {
		st.repairs++
		st.noList = 0
	}
	return due, wait
}

// repairGate decides when a difference between what a target holds and what it should hold is
// repaired: when two heartbeats in a row show the same difference (one heartbeat is never
// counted twice) and the target's backoff is over. Each repair pushes the next one back:
// repairBackoff heartbeat intervals, doubled each time, at most maxRepairBackoff.
type repairGate struct {
	key       string    // the difference the previous heartbeat showed
	sent      time.Time // that heartbeat's time
	attempts  int
	notBefore time.Time
}

// due records a heartbeat sent at sent showing difference key, and says whether it is repaired
// now and, if so, how long the next repair waits.
func (g *repairGate) due(key string, sent, now time.Time, interval time.Duration) (bool, time.Duration) {
	if g.key != key || !sent.After(g.sent) {
		g.key, g.sent = key, sent
		return false, 0
	}
	if now.Before(g.notBefore) {
		return false, 0
	}
	wait := min(interval*repairBackoff<<min(g.attempts, 20), maxRepairBackoff)
	g.attempts++
	g.notBefore = now.Add(wait)
	g.key = ""
	return true, wait
}

// planRepair compares what target t holds at the heartbeat's applied_seq with what it should
// hold then. jobMu is held.
func (m *Master) planRepair(t registry.Target, hb schemas.Heartbeat) driftPlan {
	if last := m.Ledger.MaxApplied(t.Token); last > hb.AppliedSeq {
		return driftPlan{wait: fmt.Sprintf("heartbeat at instruction %d is older than the report on %d", hb.AppliedSeq, last)}
	}
	rows := m.Ledger.List(ledger.Filter{Token: t.Token})
	inflight := map[string]bool{}
	latest := map[string]ledger.Row{} // newest definition row of each job
	for _, r := range rows {
		if r.ObjectType != "job" || (r.Operation != schemas.OpInsert && r.Operation != schemas.OpUpdate && r.Operation != schemas.OpDelete) {
			continue
		}
		if r.InstanceID > hb.AppliedSeq {
			if r.ObjectID == "" {
				return driftPlan{wait: fmt.Sprintf("DELETE of all jobs in flight (instruction %d)", r.InstanceID)}
			}
			inflight[r.ObjectID] = true
		}
		if r.ObjectID != "" {
			latest[r.ObjectID] = r
		}
	}
	want := map[string]jobs.Job{}
	for _, j := range m.JobsFor(t.ServerName) {
		want[j.JobID] = j
	}
	have := hb.Held
	if have == nil && hb.Jobs == 0 {
		have = map[string]int{} // an empty list is left out of the heartbeat
	}
	if have == nil || schemas.JobSetDigest(have) != hb.JobDigest {
		var ok bool
		if have, ok = m.drift.heldFor(t.Token, hb.JobDigest); !ok {
			return m.planWithoutList(t, want)
		}
	}
	var p driftPlan
	for _, id := range slices.Sorted(maps.Keys(unionKeys(want, have))) {
		if inflight[id] {
			continue
		}
		j, wanted := want[id]
		held, holds := have[id]
		if wanted && holds && held == j.VersionNumber {
			continue
		}
		if r, ok := latest[id]; ok && failsAgain(r, wanted, j.VersionNumber) {
			p.known++
			continue
		}
		if wanted {
			p.fixes = append(p.fixes, jobFix{JobID: id, Name: j.Name, Want: j.VersionNumber, Have: held})
			p.out = m.appendInsert(p.out, t, j)
			continue
		}
		name := id
		if r, ok := latest[id]; ok && r.ObjectName != "" {
			name = r.ObjectName
		}
		p.fixes = append(p.fixes, jobFix{JobID: id, Name: name, Have: held})
		p.out = append(p.out, outgoing{t, schemas.Instruction{Operation: schemas.OpDelete, ObjectID: id, ObjectName: name}})
	}
	return p
}

// planWithoutList counts a mismatching heartbeat that came without the job list; after
// noListLimit of them the target is resynced (DELETE of all jobs, INSERT of each).
func (m *Master) planWithoutList(t registry.Target, want map[string]jobs.Job) driftPlan {
	m.drift.mu.Lock()
	st := m.drift.state(t.Token)
	st.noList++
	n := st.noList
	m.drift.mu.Unlock()
	if n < noListLimit {
		return driftPlan{wait: "no job list for this digest yet"}
	}
	p := driftPlan{full: true}
	p.out = append(p.out, outgoing{t, schemas.Instruction{Operation: schemas.OpDelete, ObjectName: "(all jobs)"}})
	for _, id := range slices.Sorted(maps.Keys(want)) {
		p.out = m.appendInsert(p.out, t, want[id])
	}
	return p
}

// failsAgain reports whether r, the newest instruction for a job on a target, failed with an
// error nobody cleared and is exactly what a repair would post again: an INSERT or UPDATE of the
// version the target should hold, or a DELETE of a job it should not hold.
func failsAgain(r ledger.Row, wanted bool, version int) bool {
	if r.Status != 1 || r.ErrorMessage == "" || r.ErrorCleared {
		return false
	}
	if wanted {
		return (r.Operation == schemas.OpInsert || r.Operation == schemas.OpUpdate) && r.Version == version
	}
	return r.Operation == schemas.OpDelete
}

func unionKeys(a map[string]jobs.Job, b map[string]int) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// reportRepair logs a repair and records it once in the audit stream and once as an event.
func (m *Master) reportRepair(ctx context.Context, t registry.Target, hb *schemas.Heartbeat, p *driftPlan, posted []Posted, wait time.Duration, err error) {
	what := make([]string, 0, len(p.fixes))
	for _, f := range p.fixes {
		what = append(what, f.String())
	}
	if p.full {
		what = append(what, fmt.Sprintf("resync: DELETE of all jobs, INSERT of %d (the target sends no job list)", len(p.out)-1))
	}
	ids := make([]string, 0, len(posted))
	for _, r := range posted {
		ids = append(ids, fmt.Sprint(r.InstanceID))
	}
	detail := fmt.Sprintf("Job drift on target server '%s' at instruction %d: %s. Posted instance_id %s; %d job(s) left as they are because their instruction failed (clear it to retry); next repair of this target not before %s.",
		t.ServerName, hb.AppliedSeq, strings.Join(what, "; "), strings.Join(ids, ","), p.known, wait)
	sev := schemas.SeverityWarning
	if err != nil {
		detail += " Posting failed: " + err.Error()
		sev = schemas.SeverityError
		m.log.Error("drift repair failed", "target", t.ServerName, "err", err)
	} else {
		m.log.Warn("job drift on target: repaired", "target", t.ServerName, "jobs", len(p.fixes), "full", p.full, "posted", len(posted), "next_not_before", wait)
	}
	m.auditEvent(ctx, "master "+m.cfg.Name+" (drift repair)", "repair", "server "+t.ServerName, detail, what...)
	first := uint64(0)
	if len(posted) > 0 {
		first = posted[0].InstanceID
	}
	ev := schemas.Event{ID: fmt.Sprintf("drift-%s-%d-%d", t.Token, hb.AppliedSeq, first), Severity: sev, Message: detail}
	if eerr := m.raise(ctx, t, ev); eerr != nil {
		m.log.Error("event of a drift repair lost", "target", t.ServerName, "err", eerr)
	}
}
