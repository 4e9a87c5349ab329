package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LoadAll reads the values of a KV bucket as JSON documents of type T and passes each to add:
// every key, or those keep accepts when keep is not nil. A key deleted while the bucket is read
// is skipped; any other failure stops it with an error that names the bucket and the key.
func LoadAll[T any](ctx context.Context, kv jetstream.KeyValue, keep func(key string) bool, add func(v T)) error {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", kv.Bucket(), err)
	}
	for k := range lister.Keys() {
		if keep != nil && !keep(k) {
			continue
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s/%s: %w", kv.Bucket(), k, err)
		}
		var v T
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return fmt.Errorf("read %s/%s: %w", kv.Bucket(), k, err)
		}
		add(v)
	}
	return nil
}
