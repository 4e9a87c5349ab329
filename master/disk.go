package master

import (
	"context"
	"fmt"
	"strings"

	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// diskState returns the disk state a heartbeat reports; agents older than the field are "ok".
func diskState(hb *schemas.Heartbeat) string {
	if hb == nil || hb.Disk == nil || hb.Disk.State == "" {
		return schemas.DiskOK
	}
	return hb.Disk.State
}

// diskChanged raises one event when a target's disk state changes: "Disk full on SQL07" (error),
// "Disk space low on SQL07" (warning), and one when it recovers (informational). prev is the
// target's previous liveStatus, nil for the first heartbeat this master sees.
func (m *Master) diskChanged(ctx context.Context, t registry.Target, prev any, hb *schemas.Heartbeat) {
	was := schemas.DiskOK
	if ls, ok := prev.(liveStatus); ok {
		was = diskState(&ls.hb)
	}
	now := diskState(hb)
	if now == was {
		return
	}
	ev := schemas.Event{ID: fmt.Sprintf("disk-%s-%s-%d", t.Token, now, hb.Sent.UnixMilli()), Severity: schemas.SeverityInfo}
	d := hb.Disk
	if d == nil {
		d = &schemas.DiskState{State: now}
	}
	switch now {
	case schemas.DiskFull:
		ev.Severity = schemas.SeverityError
		ev.Message = fmt.Sprintf("Disk full on %s: %d run report(s) and event(s) held in the agent's memory until space returns.", t.ServerName, d.HeldReports)
	case schemas.DiskLow:
		ev.Severity = schemas.SeverityWarning
		ev.Message = fmt.Sprintf("Disk space low on %s: %d bytes free in the agent's data directory.", t.ServerName, d.FreeBytes)
	default:
		ev.Message = fmt.Sprintf("Disk space on %s recovered (was %s): %d bytes free.", t.ServerName, was, d.FreeBytes)
	}
	if msg := strings.TrimSpace(d.Message); msg != "" {
		ev.Message += " " + msg
	}
	m.log.Warn("target disk state changed", "target", t.ServerName, "from", was, "to", now, "free_bytes", d.FreeBytes, "held_reports", d.HeldReports)
	if err := m.raise(ctx, t, ev); err != nil {
		m.log.Error("disk state event lost", "target", t.ServerName, "err", err)
	}
}
