package registry

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
)

// Watch keeps the registry current with writes that other masters make to its buckets, until
// ctx ends. A watched record is validated as a loaded one is: one that is not valid, or whose
// key is registered to another target, is quarantined and not applied. A write older than one
// this master made itself is skipped. It returns ctx's error.
func (r *Registry) Watch(ctx context.Context, log *slog.Logger) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = bus.WatchFrom(ctx, r.targetsKV, r.loadedAt[0]+1, func(e jetstream.KeyValueEntry) { r.applyTarget(e, log) })
	})
	wg.Go(func() {
		_ = bus.WatchFrom(ctx, r.groupsKV, r.loadedAt[1]+1, func(e jetstream.KeyValueEntry) { r.applyGroup(e, log) })
	})
	wg.Wait()
	return ctx.Err()
}

// fresh reports whether e is newer than what the maps hold for its key and records it; the
// caller holds mu.
func (r *Registry) fresh(e jetstream.KeyValueEntry) bool {
	k := e.Bucket() + "/" + e.Key()
	if e.Revision() <= r.revs[k] {
		return false
	}
	r.revs[k] = e.Revision()
	return true
}

// quarantine records a watched record that is not to be trusted; the caller holds mu.
func (r *Registry) quarantine(e jetstream.KeyValueEntry, reason error, log *slog.Logger) {
	r.quarantined = slices.DeleteFunc(r.quarantined, func(q Quarantined) bool { return q.Bucket == e.Bucket() && q.Key == e.Key() })
	r.quarantined = append(r.quarantined, Quarantined{Bucket: e.Bucket(), Key: e.Key(), Revision: e.Revision(), Reason: reason.Error(), Value: clip(e.Value(), 512)})
	log.Warn("registry record quarantined", "bucket", e.Bucket(), "key", e.Key(), "revision", e.Revision(), "reason", reason)
}

func nameOfKey(k string) (string, bool) {
	b, err := hex.DecodeString(k)
	return string(b), err == nil
}

// OnKeyGone sets f to be called, outside the registry's lock, with the record a watched write of
// another master removed from a key: a target deleted, or enlisted again with another key. The
// master revokes the old key on its own NATS node with it. Set it before Watch.
func (r *Registry) OnKeyGone(f func(Target)) { r.onKeyGone = f }

func (r *Registry) applyTarget(e jetstream.KeyValueEntry, log *slog.Logger) {
	if gone, ok := r.applyTargetLocked(e, log); ok && r.onKeyGone != nil && gone.PublicKey != "" {
		r.onKeyGone(gone)
	}
}

// applyTargetLocked applies a watched target record and returns the record it took a key from.
func (r *Registry) applyTargetLocked(e jetstream.KeyValueEntry, log *slog.Logger) (gone Target, ok bool) {
	if e.Key() == counterKey {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.fresh(e) {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		name, valid := nameOfKey(e.Key())
		if t, known := r.targets[name]; valid && known {
			delete(r.byKey, t.PublicKey)
			delete(r.targets, name)
			return t, true
		}
		return
	}
	var t Target
	err := decodeStrict(e.Value(), &t)
	if err == nil {
		err = validTarget(e.Key(), t)
	}
	if err == nil && t.PublicKey != "" {
		if other, ok := r.byKey[t.PublicKey]; ok && other != t.ServerName {
			err = fmt.Errorf("%w: the public_key of %s is registered to %s", ErrBadRecord, t.ServerName, other)
		}
	}
	if err != nil {
		r.quarantine(e, err, log)
		return
	}
	r.quarantined = slices.DeleteFunc(r.quarantined, func(q Quarantined) bool { return q.Bucket == e.Bucket() && q.Key == e.Key() })
	prev, had := r.targets[t.ServerName]
	r.set(t)
	return prev, had && prev.PublicKey != t.PublicKey
}

func (r *Registry) applyGroup(e jetstream.KeyValueEntry, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.fresh(e) {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		if name, ok := nameOfKey(e.Key()); ok {
			delete(r.groups, strings.ToUpper(name))
		}
		return
	}
	var g Group
	err := decodeStrict(e.Value(), &g)
	if err == nil {
		err = validGroup(e.Key(), g)
	}
	if err != nil {
		r.quarantine(e, err, log)
		return
	}
	r.groups[strings.ToUpper(g.Name)] = g
}
