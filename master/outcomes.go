package master

import (
	"container/heap"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// outcomes is the master's job × target state, indexed by job and then by target token, so
// that a view of one job costs what that job's targets cost, and a deleted job or target takes
// its entries with it. Result ingestion writes it; views copy small per-job slices under the
// read lock and never hold it across I/O.
type outcomes struct {
	mu sync.RWMutex
	// last is the latest outcome of a job on a target.
	last map[string]map[string]*JobServer // job id -> token -> outcome
	// runs is the stream sequences of the finished results of a job on a target, oldest first,
	// at most keepRuns of them: History reads the newest ones by sequence.
	runs map[string]map[string][]uint64
	// consumed is the job version a target deleted after a run (delete_level).
	consumed map[string]map[string]int
	// durations is each job's run duration histogram (metrics.go).
	durations map[string]*runDurations
	// countSince is when the master started: the metrics count the runs received since.
	countSince time.Time
	keepRuns   int
	// named is, per job, the targets it is applied to and how many of them had each last
	// outcome: counted once when the job's targets are resolved (JobCounts), then kept as
	// results arrive (moved), so that a list of every job is map reads.
	named map[string]*namedCounts
}

// namedCounts are a job's targets and the count of their last outcomes, valid while the
// registry's generation and the job's targets are those it was resolved for.
type namedCounts struct {
	gen  uint64
	spec string
	toks map[string]bool
	by   [jobs.OutcomeUnknown + 1]int
}

// OutcomeCounts counts the targets of a job by the outcome of their last run.
type OutcomeCounts struct {
	Failed     int `json:"failed"`
	Succeeded  int `json:"succeeded"`
	Retry      int `json:"retry"`
	Canceled   int `json:"canceled"`
	InProgress int `json:"in_progress"`
	NotRun     int `json:"not_run"`
}

// outcomeIndex is the index of an outcome in namedCounts.by: an outcome out of range counts as
// unknown.
func outcomeIndex(o jobs.RunOutcome) int {
	if o < jobs.OutcomeFailed || o > jobs.OutcomeUnknown {
		return int(jobs.OutcomeUnknown)
	}
	return int(o)
}

// moved records that the last outcome of job on tok went from a to b; the caller holds mu for
// writing.
func (o *outcomes) moved(tok, job string, a, b jobs.RunOutcome) {
	if nc := o.named[job]; nc != nil && a != b && nc.toks[tok] {
		nc.by[outcomeIndex(a)]--
		nc.by[outcomeIndex(b)]++
	}
}

// targetsSpec is the key of a job's target lists in namedCounts.
func targetsSpec(j jobs.Job) string {
	return strings.Join(j.Targets.Servers, "\x00") + "\x01" + strings.Join(j.Targets.Groups, "\x00")
}

// JobCounts returns how many targets job j is applied to (directly or through its groups) and
// how many of them had each last outcome (not run yet: no outcome). While the registry and the
// job's targets are unchanged it is a map read: the counts are kept as results arrive, and
// rebuilt from the job's entries (what JobServers reads) when its targets change.
func (m *Master) JobCounts(j jobs.Job) (targets int, by OutcomeCounts) {
	spec := targetsSpec(j)
	gen := m.Reg.Generation() // before resolving: a change meanwhile makes the next call resolve again
	m.out.mu.RLock()
	nc := m.out.named[j.JobID]
	fresh := nc != nil && nc.gen == gen && nc.spec == spec
	if fresh {
		targets, by = len(nc.toks), nc.counts()
	}
	m.out.mu.RUnlock()
	if fresh {
		return targets, by
	}
	nc = &namedCounts{gen: gen, spec: spec, toks: map[string]bool{}}
	m.eachNamed(j, func(t registry.Target) { nc.toks[t.Token] = true })
	m.out.mu.Lock()
	last := m.out.last[j.JobID]
	for tok := range nc.toks {
		o := jobs.OutcomeUnknown
		if js := last[tok]; js != nil {
			o = js.LastRunOutcome
		}
		nc.by[outcomeIndex(o)]++
	}
	m.out.named[j.JobID] = nc
	targets, by = len(nc.toks), nc.counts()
	m.out.mu.Unlock()
	// A job deleted meanwhile: forgetJob, which runs after the catalogue lets the job go, may
	// have run before the store above; drop it so that nothing outlives the job.
	if _, ok := m.Catalog.ByName(j.JobID); !ok {
		m.out.mu.Lock()
		delete(m.out.named, j.JobID)
		m.out.mu.Unlock()
	}
	return targets, by
}

func (nc *namedCounts) counts() OutcomeCounts {
	return OutcomeCounts{Failed: nc.by[jobs.OutcomeFailed], Succeeded: nc.by[jobs.OutcomeSucceeded], Retry: nc.by[jobs.OutcomeRetry],
		Canceled: nc.by[jobs.OutcomeCanceled], InProgress: nc.by[jobs.OutcomeInProgress], NotRun: nc.by[jobs.OutcomeUnknown]}
}

func (o *outcomes) init(keepRuns int) {
	o.last = map[string]map[string]*JobServer{}
	o.runs = map[string]map[string][]uint64{}
	o.consumed = map[string]map[string]int{}
	o.named = map[string]*namedCounts{}
	o.keepRuns = keepRuns
	o.countSince = time.Now()
}

// inner returns m[job], creating it.
func inner[V any](m map[string]map[string]V, job string) map[string]V {
	in := m[job]
	if in == nil {
		in = map[string]V{}
		m[job] = in
	}
	return in
}

// outcome returns the outcome of job on tok for updating, creating it with mk; the caller holds
// mu for writing.
func (o *outcomes) outcome(tok, job string, mk func() *JobServer) *JobServer {
	in := inner(o.last, job)
	js := in[tok]
	if js == nil {
		js = mk()
		in[tok] = js
	}
	return js
}

// addRun records the stream sequence of a finished result; the caller holds mu for writing.
func (o *outcomes) addRun(tok, job string, seq uint64) {
	in := inner(o.runs, job)
	s := in[tok]
	if n := len(s); n > 0 && s[n-1] >= seq {
		return // replayed
	}
	s = append(s, seq)
	if len(s) > o.keepRuns {
		s = append(s[:0:0], s[len(s)-o.keepRuns:]...) // let the old array go
	}
	in[tok] = s
}

// setConsumed records that tok deleted version v of job after a run.
func (o *outcomes) setConsumed(tok, job string, v int) {
	inner(o.consumed, job)[tok] = v
}

// consumedVersion returns the version of job tok deleted after a run, if any.
func (o *outcomes) consumedVersion(tok, job string) (int, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	v, ok := o.consumed[job][tok]
	return v, ok
}

// forgetJob drops every entry of a deleted job.
func (o *outcomes) forgetJob(job string) {
	o.mu.Lock()
	delete(o.last, job)
	delete(o.runs, job)
	delete(o.consumed, job)
	delete(o.durations, job)
	delete(o.named, job)
	o.mu.Unlock()
}

// forgetTarget drops every entry of a deleted target: one map lookup per job.
func (o *outcomes) forgetTarget(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	forgetInner(o.last, tok)
	forgetInner(o.runs, tok)
	forgetInner(o.consumed, tok)
	clear(o.named) // resolved again on the next view (the registry changed too)
}

func forgetInner[V any](m map[string]map[string]V, tok string) {
	for job, in := range m {
		delete(in, tok)
		if len(in) == 0 {
			delete(m, job)
		}
	}
}

// newestRuns returns up to n sequences of finished results of job, newest first, all below
// before (0: no bound), from the target tok or, with tok "", from every target. It merges the
// per-target lists from their ends, so it costs about n steps plus one per target.
func (o *outcomes) newestRuns(job, tok string, before uint64, n int) []uint64 {
	if before == 0 {
		before = math.MaxUint64
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	lists := o.runs[job]
	var h runHeap
	add := func(s []uint64) {
		// Skip the sequences at or above before: binary search for the first one below.
		lo, hi := 0, len(s)
		for lo < hi {
			mid := (lo + hi) / 2
			if s[mid] < before {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo > 0 {
			h = append(h, s[:lo])
		}
	}
	if tok != "" {
		add(lists[tok])
	} else {
		for _, s := range lists {
			add(s)
		}
	}
	heap.Init(&h)
	var out []uint64
	for len(h) > 0 && len(out) < n {
		s := h[0]
		out = append(out, s[len(s)-1])
		if len(s) == 1 {
			heap.Pop(&h)
		} else {
			h[0] = s[:len(s)-1]
			heap.Fix(&h, 0)
		}
	}
	return out
}

// runHeap is a max-heap of ascending sequence lists by their last element.
type runHeap [][]uint64

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i][len(h[i])-1] > h[j][len(h[j])-1] }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.([]uint64)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
