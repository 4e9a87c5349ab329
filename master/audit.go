package master

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// Bounds of one audit record: a request cannot make a large record.
const (
	// MaxAuditField bounds each text field of an audit record, in bytes.
	MaxAuditField = 1024
	// maxAuditChanges bounds the change lines of one record.
	maxAuditChanges = 200
)

// Audit appends a record of a change to the audit stream (MSX_AUDIT denies delete and purge).
// The record is bounded (each field at most MaxAuditField bytes) and signed with the master's
// audit key. Changes are the leader's: the write is fenced to its term, and a master that no
// longer leads has it refused (ErrNotLeader).
func (m *Master) Audit(ctx context.Context, a schemas.Audit) error { return m.audit(ctx, a, true) }

// audit writes an audit record, fenced to the leader's term or (a refused request, which any
// master records) not.
func (m *Master) audit(ctx context.Context, a schemas.Audit, fenced bool) error {
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	a.Time = a.Time.UTC()
	a.Type = schemas.TypeAudit
	a.Who, a.From, a.Action = Truncate(a.Who, MaxAuditField), Truncate(a.From, MaxAuditField), Truncate(a.Action, MaxAuditField)
	a.Object, a.Detail = Truncate(a.Object, MaxAuditField), Truncate(a.Detail, MaxAuditField)
	a.Changes = slices.Clone(a.Changes) // the caller's slice is not changed
	if len(a.Changes) > maxAuditChanges {
		n := len(a.Changes) - maxAuditChanges
		a.Changes = append(a.Changes[:maxAuditChanges:maxAuditChanges], fmt.Sprintf("... and %d more", n))
	}
	for i, c := range a.Changes {
		a.Changes[i] = Truncate(c, MaxAuditField)
	}
	a.Signer, a.Signature = "", ""
	if m.auditKey != nil {
		a.Signer = m.auditPub
		sig, err := m.auditKey.Sign(schemas.SignedAuditBytes(a))
		if err != nil {
			return fmt.Errorf("sign audit record: %w", err)
		}
		a.Signature = base64.StdEncoding.EncodeToString(sig)
	}
	b, err := schemas.Encode(&a)
	if err != nil {
		return err
	}
	if fenced {
		_, err = m.fences.audit.Publish(ctx, bus.SubjectAudit, b)
	} else {
		_, err = m.js.Publish(ctx, bus.SubjectAudit, b)
	}
	if err != nil {
		return fmt.Errorf("write audit record: %w", err)
	}
	return nil
}

// auditEvent writes an audit record of something that did not come through the API: a target's
// enlistment, re-enlistment or defection over the bus, or a repair the master made on its own.
// who says who acted ("target SQL01 (key UABC...)", "master MSX1"), action what happened
// ("enlist", "re-enlist", "defect", "replace", "repair"), object what it was about ("server
// SQL01"), detail why or how, changes what changed (one line each: servers posted to, jobs
// re-sent). It never fails the caller: a record that cannot be written is logged.
func (m *Master) auditEvent(ctx context.Context, who, action, object, detail string, changes ...string) {
	a := schemas.Audit{Who: who, From: "bus", Action: action, Object: object, Status: 200, Detail: detail, Changes: changes}
	if err := m.Audit(ctx, a); err != nil {
		m.log.Error("audit record lost", "action", action, "object", object, "err", err)
	}
}

// Truncate cuts s to at most n bytes on a rune boundary, saying how much was cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("...(%d bytes cut)", len(s)-cut)
}

// AuditRecord is an audit record as read back: its stream sequence, and whether its signature
// verifies against a master's audit key. Records that do not verify were not written by a
// master; AuditLog leaves them out unless asked.
type AuditRecord struct {
	Seq uint64 `json:"seq"`
	schemas.Audit
	Unverified bool `json:"unverified,omitempty"`
}

// AuditFilter selects audit records.
type AuditFilter struct {
	Limit int // newest Limit records; default 100
	// Unverified includes records that no master signed, flagged as unverified.
	Unverified bool
}

// auditScan bounds how many of the newest messages of MSX_AUDIT AuditLog reads to find Limit
// genuine records: forged or unreadable messages are skipped, not counted.
func auditScan(limit int) uint64 { return uint64(min(max(limit*10, 1000), 20000)) }

// AuditLog returns the newest f.Limit audit records, oldest first. Records that do not verify
// (not written by a master) are counted in Rejected and left out unless f.Unverified.
func (m *Master) AuditLog(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	info, err := m.streams[bus.StreamAudit].Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	start := info.State.FirstSeq
	if last, scan := info.State.LastSeq, auditScan(f.Limit); last >= scan && last-scan+1 > start {
		start = last - scan + 1
	}
	var out []AuditRecord
	var forged int
	err = m.readStream(ctx, bus.StreamAudit, bus.SubjectAudit, max(start, 1), func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		rec := AuditRecord{Seq: meta.Sequence.Stream}
		if schemas.Decode(msg.Data(), &rec.Audit) != nil {
			rec.Audit = schemas.Audit{Type: schemas.TypeAudit, Time: meta.Timestamp.UTC(), Action: "(unreadable record)",
				Detail: Truncate(string(msg.Data()), 256)}
			rec.Unverified = true
		} else if !m.verifyAudit(rec.Audit) {
			rec.Unverified = true
		}
		if rec.Unverified {
			forged++
			if !f.Unverified {
				return
			}
		}
		out = append(out, rec)
		if len(out) > f.Limit {
			out = out[1:]
		}
	})
	if forged > 0 {
		m.Rejected.Add(int64(forged))
		m.log.Warn("audit stream holds records no master signed", "count", forged)
	}
	return out, err
}

// verifyAudit reports whether a master holding the audit key wrote a.
func (m *Master) verifyAudit(a schemas.Audit) bool {
	if m.auditKey == nil || a.Signer != m.auditPub {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil {
		return false
	}
	return m.auditKey.Verify(schemas.SignedAuditBytes(a), sig) == nil
}

// Refused-request aggregation: a source (caller and address) gets refusedBurst records of
// refused requests per refusedWindow; the rest of the window is counted and written as one
// record when the window ends, so that a flood of refused requests cannot push real records out
// of view or fill the stream.
const (
	refusedWindow = 10 * time.Second
	refusedBurst  = 5
	// refusedSources bounds the sources tracked at once; beyond it all sources share one.
	refusedSources = 1000
	// refusedTotal bounds the refused-request records written at once per window, all sources
	// together; beyond it requests are counted.
	refusedTotal = 100
)

type refusedCount struct {
	n       int // records written this window
	dropped int // requests counted, not written
	last    schemas.Audit
}

// AuditRefused records a refused request: at once while its source is within its burst, else
// counted into one aggregate record written at the end of the window. Every master records the
// requests it refused: these records are not fenced.
func (m *Master) AuditRefused(ctx context.Context, a schemas.Audit) error {
	src := a.Who + " from " + hostOf(a.From)
	m.refusedMu.Lock()
	if len(m.refused) >= refusedSources && m.refused[src] == nil {
		src = "(many sources)"
	}
	c := m.refused[src]
	if c == nil {
		c = &refusedCount{}
		m.refused[src] = c
	}
	c.n++
	write := c.n <= refusedBurst && m.refusedWritten < refusedTotal
	if write {
		m.refusedWritten++
	} else {
		c.dropped++
		c.last = a
	}
	m.refusedMu.Unlock()
	if !write {
		return nil
	}
	return m.audit(ctx, a, false)
}

// flushRefused writes one record per source that had requests counted this window, and starts
// a new window.
func (m *Master) flushRefused(ctx context.Context) {
	m.refusedMu.Lock()
	pending := m.refused
	m.refused, m.refusedWritten = map[string]*refusedCount{}, 0
	m.refusedMu.Unlock()
	for src, c := range pending {
		if c.dropped == 0 {
			continue
		}
		a := c.last
		a.Time, a.Count = time.Time{}, c.dropped
		a.Detail = fmt.Sprintf("%d more refused requests from %s in %s (the last shown): %s", c.dropped, src, refusedWindow, a.Detail)
		if err := m.audit(ctx, a, false); err != nil {
			m.log.Error("audit record lost", "action", a.Action, "count", c.dropped, "err", err)
		}
	}
}

// runRefusedFlusher flushes refused-request counts every window until ctx ends.
func (m *Master) runRefusedFlusher(ctx context.Context) {
	t := time.NewTicker(refusedWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m.flushRefused(fctx)
			cancel()
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			m.flushRefused(fctx)
			cancel()
		}
	}
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.TrimSpace(addr)
}
