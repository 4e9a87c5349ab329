// Package catalog is the master's job catalog: every multiserver job, with its id (stable
// across servers), version number (incremented on each change of its definition) and targets,
// kept in the msx_jobs KV bucket with an in-memory copy for reads. Job names are unique,
// compared case-insensitively.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// ErrUnknownJob: "The specified @job_name ('%s') does not exist." (14262)
var ErrUnknownJob = errors.New("The specified job does not exist")

// Catalog holds the jobs. Its methods are safe for concurrent use.
type Catalog struct {
	kv jetstream.KeyValue
	// fence makes every write conditional on the leader's term (see Fence).
	fence *leader.Fence
	mu    sync.RWMutex
	by    map[string]jobs.Job // by job id
	// bad lists records that were not jobs on load or when watched.
	bad []registry.Quarantined
	// revs holds the revision of each job the map holds (see Watch).
	revs map[string]uint64
	// added is told the id of each job added, replaced or deleted (see Watch).
	added atomic.Pointer[func(jobID string, present bool)]
	// loadedAt is the bucket's last revision when it was loaded: Watch starts after it.
	loadedAt uint64
}

// Open loads the catalog from its bucket.
func Open(ctx context.Context, js jetstream.JetStream) (*Catalog, error) {
	kv, err := js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("open job catalog: %w", err)
	}
	c := &Catalog{kv: kv, fence: leader.NewKVFence(js, bus.BucketJobs), by: map[string]jobs.Job{}, revs: map[string]uint64{}}
	if c.loadedAt, err = bus.LastRevision(ctx, kv); err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("open job catalog: %w", err)
	}
	// A record that is not a job stored under its own id is quarantined, never trusted: the
	// master starts without it.
	for k := range lister.Keys() {
		if k == leader.FenceKey {
			continue
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open job catalog: read %s: %w", k, err)
		}
		j, err := decode(e)
		if err != nil {
			c.bad = append(c.bad, quarantined(e, err))
			continue
		}
		c.by[j.JobID] = j
	}
	return c, nil
}

// decode returns the job a record holds, or why it is not to be trusted.
func decode(e jetstream.KeyValueEntry) (jobs.Job, error) {
	var j jobs.Job
	err := json.Unmarshal(e.Value(), &j)
	if err == nil && (j.JobID != e.Key() || strings.TrimSpace(j.Name) == "") {
		err = fmt.Errorf("record is not a named job stored under its job_id (job_id %q, name %q)", j.JobID, j.Name)
	}
	return j, err
}

func quarantined(e jetstream.KeyValueEntry, err error) registry.Quarantined {
	return registry.Quarantined{Bucket: bus.BucketJobs, Key: e.Key(), Revision: e.Revision(),
		Reason: err.Error(), Value: strings.ToValidUTF8(string(e.Value()[:min(len(e.Value()), 512)]), "?")}
}

// Watch keeps the catalog current with writes other masters make to the bucket, until ctx
// ends; a record that is not a job is quarantined, as on load, and a write older than one
// this master made is skipped. changed (if not nil) is called, without a lock held, with the
// id of each job the watch adds or replaces (present) or deletes or quarantines (not present).
// It returns ctx's error. Put calls changed too, for the jobs this master writes.
func (c *Catalog) Watch(ctx context.Context, log *slog.Logger, changed func(jobID string, present bool)) error {
	if changed != nil {
		c.added.Store(&changed)
	}
	return bus.WatchFrom(ctx, c.kv, c.loadedAt+1, log, func(e jetstream.KeyValueEntry) {
		if present, ok := c.apply(e, log); ok && changed != nil {
			changed(e.Key(), present)
		}
	})
}

// apply applies a watched record and reports whether it changed the catalog (ok) and whether
// the job is in it now (present).
func (c *Catalog) apply(e jetstream.KeyValueEntry, log *slog.Logger) (present, ok bool) {
	if e.Key() == leader.FenceKey {
		return false, false // the leader's term marker
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Revision() <= c.revs[e.Key()] {
		return false, false
	}
	c.revs[e.Key()] = e.Revision()
	c.bad = slices.DeleteFunc(c.bad, func(q registry.Quarantined) bool { return q.Key == e.Key() })
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.by, e.Key())
		return false, true
	}
	j, err := decode(e)
	if err != nil {
		c.bad = append(c.bad, quarantined(e, err))
		delete(c.by, e.Key())
		log.Warn("job record quarantined", "key", e.Key(), "revision", e.Revision(), "reason", err)
		return false, true
	}
	c.by[j.JobID] = j
	return true, true
}

// Fence returns the fence of the catalog's bucket, for the leader to raise: until a master
// raises it, any master may write; after, only the one that raised it last.
func (c *Catalog) Fence() *leader.Fence { return c.fence }

// Quarantined returns the records of the bucket that are not jobs.
func (c *Catalog) Quarantined() []registry.Quarantined {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.bad)
}

// All returns every job ordered by name.
func (c *Catalog) All() []jobs.Job {
	c.mu.RLock()
	out := make([]jobs.Job, 0, len(c.by))
	for _, j := range c.by {
		out = append(out, j)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b jobs.Job) int { return strings.Compare(strings.ToUpper(a.Name), strings.ToUpper(b.Name)) })
	return out
}

// ByName returns a job by name (case-insensitive) or by job id.
func (c *Catalog) ByName(name string) (jobs.Job, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if j, ok := c.by[name]; ok {
		return j, true
	}
	for _, j := range c.by {
		if strings.EqualFold(j.Name, strings.TrimSpace(name)) {
			return j, true
		}
	}
	return jobs.Job{}, false
}

// Get returns a job or ErrUnknownJob.
func (c *Catalog) Get(name string) (jobs.Job, error) {
	j, ok := c.ByName(name)
	if !ok {
		return j, fmt.Errorf("%w: @job_name ('%s')", ErrUnknownJob, name)
	}
	return j, nil
}

// Put stores a job (JobID must be set). The catalog keeps its own copy: later changes to j's
// steps or schedules by the caller do not reach it. Jobs returned by the catalog must not be
// modified in place either; copy them with Clone.
func (c *Catalog) Put(ctx context.Context, j jobs.Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	rev, err := c.fence.KVPut(ctx, j.JobID, b)
	if err != nil {
		return fmt.Errorf("store job %s: %w", j.Name, err)
	}
	c.mu.Lock()
	c.revs[j.JobID] = max(c.revs[j.JobID], rev)
	c.by[j.JobID] = j.Clone()
	c.mu.Unlock()
	if f := c.added.Load(); f != nil {
		(*f)(j.JobID, true)
	}
	return nil
}

// Delete removes a job.
func (c *Catalog) Delete(ctx context.Context, id string) error {
	if err := c.fence.KVDelete(ctx, id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	c.mu.Lock()
	delete(c.by, id)
	c.mu.Unlock()
	return nil
}
