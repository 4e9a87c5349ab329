package master

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// Audit appends a record to the audit stream (MSX_AUDIT denies delete and purge).
func (m *Master) Audit(ctx context.Context, a schemas.Audit) error {
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	b, err := schemas.Encode(&a)
	if err != nil {
		return err
	}
	if _, err := m.js.Publish(ctx, bus.SubjectAudit, b); err != nil {
		return fmt.Errorf("write audit record: %w", err)
	}
	return nil
}

// AuditLog returns the newest limit audit records, oldest first.
func (m *Master) AuditLog(ctx context.Context, limit int) ([]schemas.Audit, error) {
	if limit <= 0 {
		limit = 100
	}
	info, err := m.streams[bus.StreamAudit].Info(ctx)
	if err != nil {
		return nil, err
	}
	var start uint64 = 1
	if last := info.State.LastSeq; last > uint64(limit) {
		start = last - uint64(limit) + 1
	}
	var out []schemas.Audit
	err = m.readStream(ctx, bus.StreamAudit, bus.SubjectAudit, start, func(msg jetstream.Msg, _ *jetstream.MsgMetadata) {
		var a schemas.Audit
		if schemas.Decode(msg.Data(), &a) == nil {
			out = append(out, a)
		}
	})
	return out, err
}
