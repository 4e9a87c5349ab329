package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// PruneApplied forgets the instructions applied before cutoff, except the last one applied,
// and returns how many it forgot. A redelivered instruction is recognised by its id only while
// its row is kept, so cutoff must lie before anything the master may post again: the
// instruction stream's maximum age. The last sequence applied is kept apart (AppliedSeq).
func (s *Store) PruneApplied(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM applied WHERE applied_at < ? AND seq < (SELECT max(seq) FROM applied)`,
		cutoff.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, fmt.Errorf("prune applied instructions: %w", err)
	}
	return res.RowsAffected()
}

// OutboxDropped counts what PruneOutbox dropped, by kind.
type OutboxDropped struct {
	Started int64 // "started" run reports
	Events  int64
	Bytes   int64
	// Over is what the outbox still holds over the limit: outcomes, which are never dropped.
	Over int64
}

// Zero reports whether nothing was dropped.
func (d OutboxDropped) Zero() bool { return d.Started == 0 && d.Events == 0 }

// String says what was dropped, for logs and events.
func (d OutboxDropped) String() string {
	var parts []string
	if d.Started > 0 {
		parts = append(parts, fmt.Sprintf("%d run start report(s)", d.Started))
	}
	if d.Events > 0 {
		parts = append(parts, fmt.Sprintf("%d event(s)", d.Events))
	}
	return strings.Join(parts, " and ") + fmt.Sprintf(" (%d bytes)", d.Bytes)
}

// Message ids of the outbox rows PruneOutbox may drop (see the target's resultMsg and eventMsg).
const (
	startedSuffix = "-started"
	finishedLike  = "run-%-finished"
	startedLike   = "run-%-started"
	eventLike     = "event-%"
)

// PruneOutbox drops queued messages while their payloads take more than limit bytes, in this
// order: the "started" reports of runs whose outcome is queued too (the outcome says all they
// say), then events, oldest first, then the "started" reports of runs still going, oldest
// first. Outcomes (finished runs, instruction statuses) are never dropped: Over says how far
// over the limit they keep the outbox. It runs in one transaction.
func (s *Store) PruneOutbox(ctx context.Context, limit int64) (OutboxDropped, error) {
	var d OutboxDropped
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var size int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(length(payload)), 0) FROM outbox`).Scan(&size); err != nil {
			return err
		}
		if size <= limit {
			return nil
		}
		// Superseded start reports: all of them, they carry nothing the outcome does not.
		n, b, err := dropWhere(ctx, tx, `msg_id LIKE ? AND substr(msg_id, 1, length(msg_id) - ?) || '-finished' IN
			(SELECT msg_id FROM outbox WHERE msg_id LIKE ?)`, startedLike, len(startedSuffix), finishedLike)
		if err != nil {
			return err
		}
		d.Started, d.Bytes, size = d.Started+n, d.Bytes+b, size-b
		for _, like := range []string{eventLike, startedLike} {
			if size <= limit {
				break
			}
			n, b, err := dropOldest(ctx, tx, like, size-limit)
			if err != nil {
				return err
			}
			if like == eventLike {
				d.Events += n
			} else {
				d.Started += n
			}
			d.Bytes, size = d.Bytes+b, size-b
		}
		d.Over = max(size-limit, 0)
		return nil
	})
	if err != nil {
		return OutboxDropped{}, fmt.Errorf("prune outbox: %w", err)
	}
	return d, nil
}

// dropWhere deletes the outbox rows matching where and returns how many and their bytes.
func dropWhere(ctx context.Context, tx *sql.Tx, where string, args ...any) (n, bytes int64, err error) {
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox WHERE `+where, args...).Scan(&n, &bytes); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, nil
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM outbox WHERE `+where, args...)
	return n, bytes, err
}

// dropOldest deletes the oldest outbox rows whose msg_id is like like, until need bytes are
// freed or none is left.
func dropOldest(ctx context.Context, tx *sql.Tx, like string, need int64) (n, bytes int64, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, length(payload) FROM outbox WHERE msg_id LIKE ? ORDER BY id`, like)
	if err != nil {
		return 0, 0, err
	}
	var upTo int64
	for rows.Next() && bytes < need {
		var id, l int64
		if err := rows.Scan(&id, &l); err != nil {
			rows.Close()
			return 0, 0, err
		}
		upTo, n, bytes = id, n+1, bytes+l
	}
	if err := rows.Close(); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, nil
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM outbox WHERE msg_id LIKE ? AND id <= ?`, like, upTo)
	return n, bytes, err
}
