package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/schemas/jobs"
)

// Quarantined is a registry record that failed validation when it was read. It is kept in its
// bucket for an operator to inspect (`msx targetserver quarantined`), and never trusted: the
// master does not know that target or group until the record is fixed or the target enlists
// again.
type Quarantined struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Reason   string `json:"reason"`
	// Value is the start of the record (at most 512 bytes), for the operator.
	Value string `json:"value"`
}

// Validate reports why a target record is not to be trusted (wrapping ErrBadRecord), or nil:
// its name must be canonical, its token the subject token of that name, its server_id positive
// and its key, when set, a user nkey. Use it on every record read from the bucket.
func (t Target) Validate() error {
	canon, err := jobs.CanonicalServerName(t.ServerName)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	switch {
	case canon != t.ServerName:
		return fmt.Errorf("%w: server_name %q is not canonical (want %q)", ErrBadRecord, t.ServerName, canon)
	case t.Token != jobs.ServerToken(canon):
		return fmt.Errorf("%w: token %q is not the subject token of %s", ErrBadRecord, t.Token, canon)
	case t.ServerID <= 0:
		return fmt.Errorf("%w: server_id %d is not positive", ErrBadRecord, t.ServerID)
	case t.PublicKey != "" && !nkeys.IsValidPublicUserKey(t.PublicKey):
		return fmt.Errorf("%w: public_key of %s is not a user nkey", ErrBadRecord, canon)
	}
	return nil
}

// validTarget reports why a target record read from key k is not to be trusted, or nil.
func validTarget(k string, t Target) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if k != key(t.ServerName) {
		return fmt.Errorf("%w: server_name %q is stored under the key of another name", ErrBadRecord, t.ServerName)
	}
	return nil
}

// validGroup reports why a group record read from key is not to be trusted, or nil.
func validGroup(k string, g Group) error {
	if err := checkGroupName(g.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if k != key(g.Name) {
		return fmt.Errorf("%w: group %q is stored under the key of another name", ErrBadRecord, g.Name)
	}
	for _, m := range g.Members {
		if canon, err := jobs.CanonicalServerName(m); err != nil || canon != m {
			return fmt.Errorf("%w: member %q of group %q is not a canonical server name", ErrBadRecord, m, g.Name)
		}
	}
	if !slices.IsSorted(g.Members) {
		return fmt.Errorf("%w: members of group %q are not sorted", ErrBadRecord, g.Name)
	}
	return nil
}

func checkGroupName(name string) error {
	if name == "" || name != strings.TrimSpace(name) || len(name) > 128 || strings.ContainsAny(name, ",") {
		return fmt.Errorf("%w ('%s'): use 1 to 128 characters and no commas", ErrGroupName, name)
	}
	return nil
}

// loadValid reads every record of kv (except the keys skipKey names), decodes it strictly and keeps those check
// accepts; the others are returned as quarantined. Only a bucket that cannot be read is an
// error.
func loadValid[T any](ctx context.Context, kv jetstream.KeyValue, check func(string, T) error, add func(T)) ([]Quarantined, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kv.Bucket(), err)
	}
	var bad []Quarantined
	for k := range lister.Keys() {
		if skipKey(k) {
			continue
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", kv.Bucket(), k, err)
		}
		var v T
		err = decodeStrict(e.Value(), &v)
		if err == nil {
			err = check(k, v)
		}
		if err != nil {
			bad = append(bad, Quarantined{Bucket: kv.Bucket(), Key: k, Revision: e.Revision(), Reason: err.Error(), Value: clip(e.Value(), 512)})
			continue
		}
		add(v)
	}
	return bad, nil
}

// decodeStrict decodes exactly one JSON value. Unknown fields are allowed: a newer master may
// add fields (additive changes keep the format), and an older one sharing the bucket must not
// quarantine its records for that.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the record", ErrBadRecord)
	}
	return nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// Quarantined returns the records that failed validation when the registry was loaded.
func (r *Registry) Quarantined() []Quarantined {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.quarantined)
}
