package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Quarantined returns the registry and catalog records that failed validation when the master
// started: they are not trusted (their target, group or job is unknown to the master) and stay
// in their bucket for an operator to inspect. Enlisting the target again replaces its record.
func (m *Master) Quarantined() []registry.Quarantined {
	return append(m.Reg.Quarantined(), m.Catalog.Quarantined()...)
}

// reportQuarantined logs each quarantined record and forwards it as an event of the master's,
// so that it shows in `msx events` and on the dashboard.
func (m *Master) reportQuarantined(ctx context.Context) {
	for _, q := range m.Quarantined() {
		m.log.Error("registry record quarantined: not trusted", "bucket", q.Bucket, "key", q.Key, "revision", q.Revision, "reason", q.Reason)
		m.masterEvent(ctx, schemas.SeverityError, quarantineID(q),
			fmt.Sprintf("registry record %s/%s (revision %d) is quarantined and not trusted: %s. Inspect it with `msx targetserver quarantined`; enlist the target again or delete the key.",
				q.Bucket, Truncate(q.Key, 80), q.Revision, q.Reason))
	}
}

func quarantineID(q registry.Quarantined) string {
	h := sha256.Sum256([]byte(q.Bucket + "/" + q.Key))
	return "quarantine-" + hex.EncodeToString(h[:8]) + "-" + strconv.FormatUint(q.Revision, 10)
}

// masterToken is the subject token the master's own events are published under.
func (m *Master) masterToken() string {
	tok := jobs.ServerToken(m.cfg.Name)
	if bus.CheckToken(tok) != nil {
		return "MSX-MASTER"
	}
	return tok
}

// masterEvent publishes an event in the master's own name; id makes a repeat within the
// duplicate window a no-op.
func (m *Master) masterEvent(ctx context.Context, severity int, id, msg string) {
	tok := m.masterToken()
	e := schemas.Event{ID: id, Server: m.cfg.Name, Time: time.Now().UTC(), Severity: severity, Source: "agent", Message: Truncate(msg, 4096)}
	b, err := schemas.Encode(&e)
	if err == nil {
		_, err = m.js.Publish(ctx, bus.EventSubject(tok, strconv.Itoa(severity)), b, jetstream.WithMsgID(e.ID))
	}
	if err != nil {
		m.log.Warn("master event not published", "event", id, "err", err)
	}
}
