package target

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// heldJobs is the jobs this target holds, in memory, beside the jobs table of the local
// database: loaded from the table once at start, then changed one job at a time after each
// commit that changes the table. Instructions, heartbeats and the msdb harvester read it, so
// that nothing on the path of one instruction reads or decodes the other jobs.
type heldJobs struct {
	mu     sync.Mutex
	jobs   map[string]jobs.Job // by job id
	digest string              // schemas.JobSetDigest of jobs; "" when it must be computed again
}

func newHeldJobs() *heldJobs { return &heldJobs{jobs: map[string]jobs.Job{}} }

// load replaces every job held.
func (h *heldJobs) load(list []jobs.Job) {
	m := make(map[string]jobs.Job, len(list))
	for _, j := range list {
		m[j.JobID] = j
	}
	h.mu.Lock()
	h.jobs, h.digest = m, ""
	h.mu.Unlock()
}

// put adds job or replaces the job with its id.
func (h *heldJobs) put(job jobs.Job) {
	h.mu.Lock()
	h.jobs[job.JobID], h.digest = job, ""
	h.mu.Unlock()
}

// remove forgets the job jobID when version is its version number, or any version when
// version is 0, and reports whether it did.
func (h *heldJobs) remove(jobID string, version int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	j, ok := h.jobs[jobID]
	if !ok || version != 0 && j.VersionNumber != version {
		return false
	}
	delete(h.jobs, jobID)
	h.digest = ""
	return true
}

// clear forgets every job and returns the ids it held.
func (h *heldJobs) clear() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := slices.Sorted(maps.Keys(h.jobs))
	h.jobs, h.digest = map[string]jobs.Job{}, ""
	return ids
}

// get returns the job jobID.
func (h *heldJobs) get(jobID string) (jobs.Job, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	j, ok := h.jobs[jobID]
	return j, ok
}

// ids returns the ids of the jobs held, sorted.
func (h *heldJobs) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.jobs))
}

// all returns the jobs held.
func (h *heldJobs) all() []jobs.Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Collect(maps.Values(h.jobs))
}

// versions returns the version of every job held, by job id, when there are at most limit of
// them (nil and false otherwise).
func (h *heldJobs) versions(limit int) (map[string]int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.jobs) > limit {
		return nil, false
	}
	return h.versionsLocked(), true
}

func (h *heldJobs) versionsLocked() map[string]int {
	out := make(map[string]int, len(h.jobs))
	for id, j := range h.jobs {
		out[id] = j.VersionNumber
	}
	return out
}

// digestOf returns schemas.JobSetDigest of the jobs held, and their count. It is computed
// once per change of the set, when a heartbeat asks for it, not per instruction.
func (h *heldJobs) digestOf() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.digest == "" {
		h.digest = schemas.JobSetDigest(h.versionsLocked())
	}
	return h.digest, len(h.jobs)
}

// byName returns the job held whose name is name, ignoring case (for job chains).
func (h *heldJobs) byName(name string) (jobs.Job, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range h.jobs {
		if strings.EqualFold(j.Name, name) {
			return j, true
		}
	}
	return jobs.Job{}, false
}
