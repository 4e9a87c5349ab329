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
// this master made itself is skipped. changed (if not nil) is called, without a lock held, with
// the subject token of each target the watch adds or replaces (present) or deletes (not
// present). It returns ctx's error. PutTarget calls changed too, for the targets this master
// writes.
func (r *Registry) Watch(ctx context.Context, log *slog.Logger, changed func(tok string, present bool)) error {
	if changed != nil {
		r.added.Store(&changed)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = bus.WatchFrom(ctx, r.targetsKV, r.loadedAt[0]+1, log, func(e jetstream.KeyValueEntry) {
			if tok, present, ok := r.applyTarget(e, log); ok && changed != nil {
				changed(tok, present)
			}
		})
	})
	wg.Go(func() {
		_ = bus.WatchFrom(ctx, r.groupsKV, r.loadedAt[1]+1, log, func(e jetstream.KeyValueEntry) { r.applyGroup(e, log) })
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

// applyTarget applies a watched target record and returns the token of the target it added
// or replaced (present) or deleted, if it did (ok). A key the record took away is reported to
// OnKeyGone's function.
func (r *Registry) applyTarget(e jetstream.KeyValueEntry, log *slog.Logger) (tok string, present, ok bool) {
	tok, present, ok, gone := r.applyTargetLocked(e, log)
	if gone != nil && r.onKeyGone != nil && gone.PublicKey != "" {
		r.onKeyGone(*gone)
	}
	return tok, present, ok
}

// applyTargetLocked is applyTarget under the registry's lock; gone is the record it took a key
// from (nil: none).
func (r *Registry) applyTargetLocked(e jetstream.KeyValueEntry, log *slog.Logger) (tok string, present, ok bool, gone *Target) {
	if skipKey(e.Key()) {
		return "", false, false, nil
	}
	r.mu.Lock()
	r.gen.Add(1) // see Generation
	defer r.mu.Unlock()
	if !r.fresh(e) {
		return "", false, false, nil
	}
	if e.Operation() != jetstream.KeyValuePut {
		name, valid := nameOfKey(e.Key())
		if t, known := r.targets[name]; valid && known {
			delete(r.byKey, t.PublicKey)
			delete(r.targets, name)
			return t.Token, false, true, &t
		}
		return "", false, false, nil
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
		return "", false, false, nil
	}
	r.quarantined = slices.DeleteFunc(r.quarantined, func(q Quarantined) bool { return q.Bucket == e.Bucket() && q.Key == e.Key() })
	prev, had := r.targets[t.ServerName]
	r.set(t)
	if had && prev.PublicKey != t.PublicKey {
		return t.Token, true, true, &prev
	}
	return t.Token, true, true, nil
}

func (r *Registry) applyGroup(e jetstream.KeyValueEntry, log *slog.Logger) {
	if skipKey(e.Key()) {
		return
	}
	r.mu.Lock()
	r.gen.Add(1) // see Generation
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
