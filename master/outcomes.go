package master

import (
	"container/heap"
	"math"
	"sync"
	"time"
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
}

func (o *outcomes) init(keepRuns int) {
	o.last = map[string]map[string]*JobServer{}
	o.runs = map[string]map[string][]uint64{}
	o.consumed = map[string]map[string]int{}
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
	o.mu.Unlock()
}

// forgetTarget drops every entry of a deleted target: one map lookup per job.
func (o *outcomes) forgetTarget(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	forgetInner(o.last, tok)
	forgetInner(o.runs, tok)
	forgetInner(o.consumed, tok)
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
