package master

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
)

// Reports that arrive before this master's view knows their target or job are parked, not
// dropped. A standby master follows MSX_RESULTS and MSX_STATUS while it watches msx_targets and
// msx_jobs: a target's first result may come before the watch delivers the target's enlistment,
// a new job's first result before the job. Such a report waits here, keyed by what is missing,
// and is applied, in arrival order, as soon as the watch delivers it. Reports of one target and
// job are applied in order: while any of them waits, later ones wait behind it.
//
// Bounds: at most maxParked reports wait (a report beyond that is dropped, counted in Unmatched
// and logged), and a report still waiting after parkTTL (a deleted job's, a deleted target's:
// MSX_RESULTS keeps them until they age out) is dropped, counted in Unmatched and logged by the
// pruner.
//
// Results are parked (MSX_RESULTS is followed from its start, and a result is counted once).
// Heartbeats are not: MSX_STATUS keeps the last one per target, and the target sends the next
// within its interval, which the view applies once it knows the target.

const (
	maxParked = 10_000
	parkTTL   = 2 * time.Minute
)

// parked is one report waiting for its target or job.
type parked struct {
	msg    jetstream.Msg
	meta   *jetstream.MsgMetadata
	handle func(context.Context, jetstream.Msg, *jetstream.MsgMetadata)
	at     time.Time
}

// parking holds the parked reports by what they wait for: "t:"+token or "j:"+job id.
type parking struct {
	mu sync.Mutex // held while a report is applied: handlers do no I/O
	q  map[string][]parked
	n  int
}

// keysOf returns what a report on subj needs: its target and, for a result, its job.
func keysOf(subj string) (target, job string) {
	tok, err := bus.TargetFromSubject(subj)
	if err != nil {
		return "", ""
	}
	if parts := strings.Split(subj, "."); len(parts) == 4 && strings.HasPrefix(subj, "msx.result.") {
		job = "j:" + parts[3]
	}
	return "t:" + tok, job
}

// missing returns the first of keys this master's view does not know, or "".
func (m *Master) missing(keys ...string) string {
	for _, k := range keys {
		switch {
		case k == "":
		case strings.HasPrefix(k, "t:"):
			if _, ok := m.Reg.TargetByToken(k[2:]); !ok {
				return k
			}
		case strings.HasPrefix(k, "j:"):
			if _, ok := m.Catalog.ByName(k[2:]); !ok {
				return k
			}
		}
	}
	return ""
}

// parkable wraps a follower's handler: a report whose target or job is not known yet, or
// that has an earlier report of its target or job waiting, is parked; the others are handled.
// refused runs only on a report about to be parked: one it refuses (malformed, or naming
// another server than its known target: it counts and logs it) is not kept.
func (m *Master) parkable(handle func(context.Context, jetstream.Msg, *jetstream.MsgMetadata), refused func(jetstream.Msg) bool) func(context.Context, jetstream.Msg, *jetstream.MsgMetadata) {
	return func(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		tk, jk := keysOf(msg.Subject())
		if tk == "" {
			handle(ctx, msg, meta) // not a target's subject: the handler rejects it
			return
		}
		p := &m.park
		p.mu.Lock()
		defer p.mu.Unlock()
		key := m.missing(tk, jk)
		for _, k := range []string{tk, jk} {
			if key == "" && k != "" && len(p.q[k]) > 0 {
				key = k // behind an earlier report of the same target or job
			}
		}
		if key == "" {
			handle(ctx, msg, meta)
			return
		}
		if refused(msg) {
			return
		}
		if p.n >= maxParked {
			m.Unmatched.Add(1)
			m.log.Warn("report dropped: too many wait for a target or job this master does not know yet", "subject", msg.Subject(), "waiting", p.n)
			return
		}
		if p.q == nil {
			p.q = map[string][]parked{}
		}
		p.q[key] = append(p.q[key], parked{msg: msg, meta: meta, handle: handle, at: time.Now()})
		p.n++
	}
}

// unpark applies the reports waiting for key (a target or job the watch just delivered), in
// order; one that still waits for something else moves to that queue.
func (m *Master) unpark(ctx context.Context, key string) {
	p := &m.park
	p.mu.Lock()
	defer p.mu.Unlock()
	waiting := p.q[key]
	if len(waiting) == 0 {
		return
	}
	delete(p.q, key)
	p.n -= len(waiting)
	for _, w := range waiting {
		tk, jk := keysOf(w.msg.Subject())
		if next := m.missing(tk, jk); next != "" {
			p.q[next] = append(p.q[next], w)
			p.n++
			continue
		}
		w.handle(ctx, w.msg, w.meta)
	}
}

// pruneParked drops the reports that waited longer than parkTTL and returns how many.
func (m *Master) pruneParked(now time.Time) int {
	p := &m.park
	p.mu.Lock()
	defer p.mu.Unlock()
	dropped := 0
	for k, waiting := range p.q {
		i := 0
		for i < len(waiting) && now.Sub(waiting[i].at) > parkTTL {
			i++
		}
		// A queue is in arrival order; one that moved queues may be older than those ahead
		// of it: it goes at the next prune.
		if i == 0 {
			continue
		}
		dropped += i
		p.n -= i
		if i == len(waiting) {
			delete(p.q, k)
		} else {
			p.q[k] = waiting[i:]
		}
	}
	m.Unmatched.Add(int64(dropped))
	return dropped
}

// Parked returns how many reports wait for a target or job this master does not know yet.
func (m *Master) Parked() int {
	m.park.mu.Lock()
	defer m.park.mu.Unlock()
	return m.park.n
}

// runParkPruner prunes parked reports every parkTTL/4 until ctx ends.
func (m *Master) runParkPruner(ctx context.Context) {
	t := time.NewTicker(parkTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := m.pruneParked(now); n > 0 {
				m.log.Warn("reports of unknown targets or jobs dropped: they waited too long for the target's enlistment or the job", "count", n, "waited", parkTTL)
			}
		}
	}
}

// targetChanged follows a target the registry added (its waiting results are applied) or that
// another master deleted (what this master keeps about it goes, as on the master that deleted
// it: its rows, outcomes, heartbeat and drift state).
func (m *Master) targetChanged(ctx context.Context, tok string, present bool) {
	if present {
		m.unpark(ctx, "t:"+tok)
		return
	}
	m.forgetTarget(tok)
}

// jobChanged follows a job the catalog added (its waiting results are applied) or that another
// master deleted (its outcomes go, as on the master that deleted it).
func (m *Master) jobChanged(ctx context.Context, id string, present bool) {
	if present {
		m.unpark(ctx, "j:"+id)
		return
	}
	m.out.forgetJob(id)
}
