package target

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/store"
)

// defaultHoldBytes is the default of Config.HoldBytes.
const defaultHoldBytes = 16 << 20

// spool holds, in memory and in order, the reports the local database refused (a full disk),
// until the outbox sender writes them to the outbox or, while the disk still refuses, publishes
// them itself. It is bounded by bytes; when a new report does not fit, it makes room in this
// order, oldest first (the policy Config.HoldBytes documents):
//
//  1. the "started" report of a run whose "finished" report is held too (superseded);
//  2. events (job and step failures, agent errors);
//  3. the history rows of finished reports: the outcome (status, message, times) stays.
//
// Outcomes themselves are never dropped: past that the limit is exceeded. What was dropped is
// counted and reported by an event once the held reports are out.
//
// While anything is held every new report joins the spool, so reports leave in the order they
// were made: the outbox (all older) first, then the spool. Messages keep their Nats-Msg-Id,
// so a report sent directly and again from the outbox is stored once.
type spool struct {
	limit int

	mu      sync.Mutex
	items   []*held
	bytes   int
	err     error     // the last refusal of the disk; nil once a write succeeds
	since   time.Time // when the disk started refusing
	dropped dropCount
}

// held is one refused write. Once its messages are published directly, only its run
// bookkeeping (running rows) remains, written when the disk takes writes again.
type held struct {
	w store.Write
}

// dropCount counts what the spool's policy dropped.
type dropCount struct{ started, events, rows int }

func (d dropCount) zero() bool { return d == dropCount{} }

func (d dropCount) String() string {
	return fmt.Sprintf("%d event(s), the history rows of %d run(s) and %d superseded start report(s)", d.events, d.rows, d.started)
}

func newSpool(limit int) *spool { return &spool{limit: limit} }

func writeSize(w store.Write) int {
	n := len(w.StartDoc)
	for _, m := range w.Msgs {
		n += len(m.Payload) + len(m.Subject) + len(m.MsgID)
	}
	return n
}

// holding reports whether reports are held: a new one must join them.
func (s *spool) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items) > 0
}

// refused records that the disk refused a write, and whether it had been taking them.
func (s *spool) refused(err error) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first = s.err == nil
	if first {
		s.since = time.Now()
	}
	s.err = err
	return first
}

// accepted records that the disk took a write, and whether it had been refusing.
func (s *spool) accepted() (recovered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recovered = s.err != nil
	s.err = nil
	return recovered
}

// add holds w, making room by the policy when the spool is over its limit.
func (s *spool) add(w store.Write) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, &held{w: w})
	s.bytes += writeSize(w)
	if s.bytes > s.limit {
		s.makeRoom()
	}
}

// makeRoom drops what the policy allows, oldest first, until the spool fits.
func (s *spool) makeRoom() {
	finished := map[string]bool{}
	for _, h := range s.items {
		for _, m := range h.w.Msgs {
			if run, ok := strings.CutSuffix(m.MsgID, "-"+schemas.PhaseFinished); ok {
				finished[run] = true
			}
		}
	}
	steps := []func(m store.OutMsg) (store.OutMsg, bool){
		func(m store.OutMsg) (store.OutMsg, bool) { // superseded start reports
			run, ok := strings.CutSuffix(m.MsgID, "-"+schemas.PhaseStarted)
			if ok && finished[run] {
				s.dropped.started++
				return m, true
			}
			return m, false
		},
		func(m store.OutMsg) (store.OutMsg, bool) { // events
			if strings.HasPrefix(m.MsgID, "event-") {
				s.dropped.events++
				return m, true
			}
			return m, false
		},
		func(m store.OutMsg) (store.OutMsg, bool) { // history rows of outcomes
			if !strings.HasSuffix(m.MsgID, "-"+schemas.PhaseFinished) {
				return m, false
			}
			var r schemas.RunResult
			if schemas.Decode(m.Payload, &r) != nil || len(r.Rows) == 0 {
				return m, false
			}
			r.Rows = nil
			r.Message += "  (History rows dropped by the agent: its disk was full and its memory limit for held reports reached.)"
			b, err := schemas.Encode(&r)
			if err != nil {
				return m, false
			}
			s.dropped.rows++
			m.Payload = b
			return m, false
		},
	}
	for _, step := range steps {
		for _, h := range s.items {
			if s.bytes <= s.limit {
				return
			}
			before := writeSize(h.w)
			kept := h.w.Msgs[:0:0]
			for _, m := range h.w.Msgs {
				if m2, drop := step(m); !drop {
					kept = append(kept, m2)
				}
			}
			h.w.Msgs = kept
			s.bytes += writeSize(h.w) - before
		}
	}
}

// snapshot returns the held writes, in order.
func (s *spool) snapshot() []*held {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*held(nil), s.items...)
}

// writes returns copies of hs's writes, to commit.
func (s *spool) writes(hs []*held) []store.Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Write, len(hs))
	for i, h := range hs {
		out[i] = h.w
	}
	return out
}

// msgs returns the messages of h still to publish.
func (s *spool) msgs(h *held) []store.OutMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return h.w.Msgs
}

// remove forgets hs (committed to the outbox): what was held after them stays.
func (s *spool) remove(hs []*held) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := make(map[*held]bool, len(hs))
	for _, h := range hs {
		gone[h] = true
	}
	kept := s.items[:0]
	for _, h := range s.items {
		if gone[h] {
			s.bytes -= writeSize(h.w)
			continue
		}
		kept = append(kept, h)
	}
	clear(s.items[len(kept):])
	s.items = kept
}

// published records that h's messages are out; a write with nothing else to do is forgotten.
func (s *spool) published(h *held) {
	s.mu.Lock()
	before := writeSize(h.w)
	h.w.Msgs = nil
	s.bytes += writeSize(h.w) - before
	s.mu.Unlock()
	if h.w.StartRun == "" && h.w.FinishRun == "" {
		s.remove([]*held{h})
	}
}

// takeDropped returns and resets what the policy dropped.
func (s *spool) takeDropped() dropCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dropped
	s.dropped = dropCount{}
	return d
}

// spoolState is what the heartbeat tells of the spool.
type spoolState struct {
	reports int // messages still to publish
	writes  int
	bytes   int
	err     error
	since   time.Time
}

func (s *spool) state() spoolState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := spoolState{writes: len(s.items), bytes: s.bytes, err: s.err, since: s.since}
	for _, h := range s.items {
		st.reports += len(h.w.Msgs)
	}
	return st
}
