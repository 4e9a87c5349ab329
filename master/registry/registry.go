// Package registry is the master's record of enlisted target servers and target server groups,
// kept in JetStream KV buckets (msx_targets, msx_groups) with an in-memory copy for reads.
// Server and group names are compared case-insensitively, as MSX does.
package registry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/schemas/jobs"
)

// Target is one enlisted target server.
type Target struct {
	ServerID           int       `json:"server_id"`
	ServerName         string    `json:"server_name"` // canonical: upper case, HOST or HOST\INSTANCE
	Token              string    `json:"token"`       // subject token
	Location           string    `json:"location"`
	TimeZoneAdjustment int       `json:"time_zone_adjustment"`
	EnlistDate         time.Time `json:"enlist_date"`
	EnlistedBy         string    `json:"enlisted_by"`
	PollInterval       int       `json:"poll_interval"`
	Version            string    `json:"version"`
	ProtocolVersion    int       `json:"protocol_version"`
	PublicKey          string    `json:"public_key"`
	StartSeq           uint64    `json:"start_seq"`
	// ReplaceAllowedAt, set by `msx targetserver replace`, lets the next token enlistment of
	// this name take it over (for 24 hours); ReplaceAllowedBy says who allowed it.
	ReplaceAllowedAt time.Time `json:"replace_allowed_at,omitzero"`
	ReplaceAllowedBy string    `json:"replace_allowed_by,omitempty"`
}

// Group is a target server group.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"` // canonical server names, sorted
}

// Registry holds targets and groups. Its methods are safe for concurrent use.
type Registry struct {
	targetsKV jetstream.KeyValue
	groupsKV  jetstream.KeyValue
	// targetsFence and groupsFence make every write of a bucket conditional on the leader's
	// term (see Fences).
	targetsFence, groupsFence *leader.Fence

	// mu guards the maps; it is never held across I/O.
	mu      sync.RWMutex
	allocMu sync.Mutex
	// groupMu serialises group edits (read, edit, write) across their KV write; readers never
	// take it.
	groupMu sync.Mutex
	targets map[string]Target // by canonical name
	byKey   map[string]string // public nkey -> canonical name
	groups  map[string]Group  // by upper-case name
	// quarantined lists records that failed validation on load or when watched.
	quarantined []Quarantined
	// revs holds, by bucket key, the revision of the record the maps hold, so that a watched
	// write older than one this master made is not applied over it.
	revs map[string]uint64
	// added is told the token of each target added, replaced or deleted (see Watch).
	added atomic.Pointer[func(tok string, present bool)]
	// loadedAt is the last revision of each bucket when it was loaded: Watch starts after it.
	loadedAt [2]uint64
	// onKeyGone, when set, hears of keys other masters' writes took away (see OnKeyGone).
	onKeyGone func(Target)
	// gen counts the writes of the maps (see Generation).
	gen atomic.Uint64
}

// Generation changes whenever the targets or groups held change (it is advanced under the
// write lock, before the change): a view cached with the generation read before it read the
// registry is current while Generation returns the same number.
func (r *Registry) Generation() uint64 { return r.gen.Load() }

// Open loads the registry from its buckets (which bus.Layout.Ensure created).
func Open(ctx context.Context, js jetstream.JetStream) (*Registry, error) {
	r := &Registry{targets: map[string]Target{}, byKey: map[string]string{}, groups: map[string]Group{}, revs: map[string]uint64{}}
	var err error
	if r.targetsKV, err = js.KeyValue(ctx, bus.BucketTargets); err != nil {
		return nil, fmt.Errorf("open target registry: %w", err)
	}
	if r.groupsKV, err = js.KeyValue(ctx, bus.BucketGroups); err != nil {
		return nil, fmt.Errorf("open groups: %w", err)
	}
	r.targetsFence, r.groupsFence = leader.NewKVFence(js, bus.BucketTargets), leader.NewKVFence(js, bus.BucketGroups)
	for i, kv := range []jetstream.KeyValue{r.targetsKV, r.groupsKV} {
		if r.loadedAt[i], err = bus.LastRevision(ctx, kv); err != nil {
			return nil, err
		}
	}
	// Every record is validated as it is read: one written by anything but a master (or
	// damaged) is quarantined, never trusted.
	var loaded []Target
	bad, err := loadValid(ctx, r.targetsKV, validTarget, func(t Target) { loaded = append(loaded, t) })
	if err != nil {
		return nil, err
	}
	// A key registered to two names belongs to neither: which record is genuine cannot be
	// told, so both are quarantined.
	names := map[string][]string{}
	for _, t := range loaded {
		if t.PublicKey != "" {
			names[t.PublicKey] = append(names[t.PublicKey], t.ServerName)
		}
	}
	for _, t := range loaded {
		if n := names[t.PublicKey]; len(n) > 1 {
			r.quarantined = append(r.quarantined, Quarantined{Bucket: bus.BucketTargets, Key: key(t.ServerName),
				Reason: fmt.Sprintf("%v: the public_key of %s is registered to %s", ErrBadRecord, t.ServerName, strings.Join(n, " and "))})
			continue
		}
		r.set(t)
	}
	r.quarantined = append(r.quarantined, bad...)
	bad, err = loadValid(ctx, r.groupsKV, validGroup, func(g Group) { r.groups[strings.ToUpper(g.Name)] = g })
	if err != nil {
		return nil, err
	}
	r.quarantined = append(r.quarantined, bad...)
	// Members that are not enlisted targets (their record was quarantined) are left out.
	for k, g := range r.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { _, ok := r.targets[m]; return !ok })
		r.groups[k] = g
	}
	return r, nil
}

// key maps a name to a KV key: KV keys allow fewer characters than names do.
func key(name string) string { return hex.EncodeToString([]byte(strings.ToUpper(name))) }

// Fences returns the fences of the registry's buckets, for the leader to raise: until a
// master raises them, any master may write; after, only the one that raised them last.
func (r *Registry) Fences() []*leader.Fence { return []*leader.Fence{r.targetsFence, r.groupsFence} }

// skipKey reports whether k of a registry bucket holds no record: the server_id counter or the
// fence's term markers.
func skipKey(k string) bool { return k == counterKey || k == leader.FenceKey }

// put writes v under name through fence f (of bucket).
func put(ctx context.Context, f *leader.Fence, bucket, name string, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	rev, err := f.KVPut(ctx, key(name), b)
	if err != nil {
		return 0, fmt.Errorf("write %s/%s: %w", bucket, name, err)
	}
	return rev, nil
}

// seen records that the maps hold revision rev of bucket key k; the caller holds mu.
func (r *Registry) seen(bucket, k string, rev uint64) {
	r.revs[bucket+"/"+k] = max(r.revs[bucket+"/"+k], rev)
}

// Target returns the target with a canonical name.
func (r *Registry) Target(name string) (Target, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.targets[strings.ToUpper(name)]
	return t, ok
}

// TargetByKey returns the target that registered a public nkey.
func (r *Registry) TargetByKey(pub string) (Target, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.targets[r.byKey[pub]]
	return t, ok
}

// TargetByToken returns the target with a subject token (its name with '\' written as '~').
func (r *Registry) TargetByToken(tok string) (Target, bool) {
	name, err := jobs.ServerFromToken(tok)
	if err != nil {
		return Target{}, false
	}
	return r.Target(name)
}

// set records t in the in-memory maps; the caller holds mu (or owns r during Open).
func (r *Registry) set(t Target) {
	if old, ok := r.targets[t.ServerName]; ok && old.PublicKey != t.PublicKey {
		delete(r.byKey, old.PublicKey)
	}
	r.targets[t.ServerName] = t
	if t.PublicKey != "" {
		r.byKey[t.PublicKey] = t.ServerName
	}
}

// Targets returns every target ordered by server_id.
func (r *Registry) Targets() []Target {
	r.mu.RLock()
	out := make([]Target, 0, len(r.targets))
	for _, t := range r.targets {
		out = append(out, t)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Target) int { return a.ServerID - b.ServerID })
	return out
}

// counterKey holds the next server_id in the targets bucket.
const counterKey = "next-server-id"

// AllocServerID returns a new server_id. Ids are never reused, as in msdb: the counter lives in
// the bucket and is advanced with compare-and-set, so two masters cannot hand out the same id.
func (r *Registry) AllocServerID(ctx context.Context) (int, error) {
	// One allocation at a time in this master; compare-and-set guards against other masters.
	r.allocMu.Lock()
	defer r.allocMu.Unlock()
	for range 10 {
		r.mu.RLock()
		n := 1
		for _, t := range r.targets {
			n = max(n, t.ServerID+1)
		}
		r.mu.RUnlock()
		var rev uint64
		e, err := r.targetsKV.Get(ctx, counterKey)
		switch {
		case err == nil:
			var stored int
			if json.Unmarshal(e.Value(), &stored) == nil {
				n = max(n, stored)
			}
			rev = e.Revision()
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return 0, fmt.Errorf("read server_id counter: %w", err)
		}
		next, _ := json.Marshal(n + 1)
		if rev == 0 {
			_, err = r.targetsKV.Create(ctx, counterKey, next)
		} else {
			_, err = r.targetsKV.Update(ctx, counterKey, next, rev)
		}
		if err == nil {
			return n, nil
		}
	}
	return 0, errors.New("allocate server_id: too much contention on the counter")
}

// PutTarget creates or replaces a target.
func (r *Registry) PutTarget(ctx context.Context, t Target) error {
	rev, err := put(ctx, r.targetsFence, bus.BucketTargets, t.ServerName, t)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.gen.Add(1) // see Generation
	r.seen(bus.BucketTargets, key(t.ServerName), rev)
	r.set(t)
	r.mu.Unlock()
	if f := r.added.Load(); f != nil {
		(*f)(t.Token, true)
	}
	return nil
}

// DeleteTarget removes a target and its group memberships. It returns ErrUnknownTarget when
// there is no such target.
func (r *Registry) DeleteTarget(ctx context.Context, name string) error {
	name = strings.ToUpper(name)
	if _, ok := r.Target(name); !ok {
		return fmt.Errorf("%w ('%s')", ErrUnknownTarget, name)
	}
	for _, g := range r.Groups() {
		if slices.Contains(g.Members, name) {
			if err := r.RemoveMember(ctx, g.Name, name); err != nil {
				return err
			}
		}
	}
	if err := r.targetsFence.KVDelete(ctx, key(name)); err != nil {
		return fmt.Errorf("delete target %s: %w", name, err)
	}
	r.mu.Lock()
	r.gen.Add(1) // see Generation
	delete(r.byKey, r.targets[name].PublicKey)
	delete(r.targets, name)
	r.mu.Unlock()
	return nil
}
