package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LastRevision returns the revision of the last write to a KV bucket (0 when it was never
// written): a view loaded after reading it and then fed by WatchFrom(rev+1) misses nothing.
func LastRevision(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("status of %s: %w", kv.Bucket(), err)
	}
	s, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("status of %s: unexpected type %T", kv.Bucket(), st)
	}
	return s.StreamInfo().State.LastSeq, nil
}

// WatchFrom passes every write to kv from revision from on (puts, deletes and purges) to
// apply, in order, until ctx ends; it re-creates the watcher if it stops. apply runs on the
// calling goroutine.
func WatchFrom(ctx context.Context, kv jetstream.KeyValue, from uint64, apply func(jetstream.KeyValueEntry)) error {
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx, jetstream.ResumeFromRevision(max(from, 1)))
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				continue // caught up
			}
			from = e.Revision() + 1
			apply(e)
		}
		_ = w.Stop()
	}
	return ctx.Err()
}
