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
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// ErrUnknownJob: "The specified @job_name ('%s') does not exist." (14262)
var ErrUnknownJob = errors.New("The specified job does not exist")

// Catalog holds the jobs. Its methods are safe for concurrent use.
type Catalog struct {
	kv jetstream.KeyValue
	mu sync.RWMutex
	by map[string]jobs.Job // by job id
	// bad lists records that were not jobs on load (read only after Open).
	bad []registry.Quarantined
}

// Open loads the catalog from its bucket.
func Open(ctx context.Context, js jetstream.JetStream) (*Catalog, error) {
	kv, err := js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("open job catalog: %w", err)
	}
	c := &Catalog{kv: kv, by: map[string]jobs.Job{}}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("open job catalog: %w", err)
	}
	// A record that is not a job stored under its own id is quarantined, never trusted: the
	// master starts without it.
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open job catalog: read %s: %w", k, err)
		}
		var j jobs.Job
		err = json.Unmarshal(e.Value(), &j)
		if err == nil && (j.JobID != k || strings.TrimSpace(j.Name) == "") {
			err = fmt.Errorf("record is not a named job stored under its job_id (job_id %q, name %q)", j.JobID, j.Name)
		}
		if err != nil {
			c.bad = append(c.bad, registry.Quarantined{Bucket: bus.BucketJobs, Key: k, Revision: e.Revision(),
				Reason: err.Error(), Value: strings.ToValidUTF8(string(e.Value()[:min(len(e.Value()), 512)]), "?")})
			continue
		}
		c.by[j.JobID] = j
	}
	return c, nil
}

// Quarantined returns the records of the bucket that were not jobs when the catalog was loaded.
func (c *Catalog) Quarantined() []registry.Quarantined { return slices.Clone(c.bad) }

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
	if _, err := c.kv.Put(ctx, j.JobID, b); err != nil {
		return fmt.Errorf("store job %s: %w", j.Name, err)
	}
	c.mu.Lock()
	c.by[j.JobID] = j.Clone()
	c.mu.Unlock()
	return nil
}

// Delete removes a job.
func (c *Catalog) Delete(ctx context.Context, id string) error {
	if err := c.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	c.mu.Lock()
	delete(c.by, id)
	c.mu.Unlock()
	return nil
}
