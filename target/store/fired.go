package store

import (
	"context"
	"fmt"
	"time"
)

// SetFired records that the firings of job jobID up to handled were handled (started, skipped
// or queued): the catch-up mark of a job with a catch-up policy (scheduler.Marker).
func (s *Store) SetFired(ctx context.Context, jobID string, handled time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO fired (job_id, handled) VALUES (?, ?)
		ON CONFLICT(job_id) DO UPDATE SET handled = excluded.handled`, jobID, handled.UnixNano())
	if err != nil {
		return fmt.Errorf("record the firing of job %s: %w", jobID, err)
	}
	return nil
}

// Fired returns the catch-up marks of the jobs in keep, by job id, and forgets the marks of
// every other job (deleted since).
func (s *Store) Fired(ctx context.Context, keep map[string]bool) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT job_id, handled FROM fired`)
	if err != nil {
		return nil, fmt.Errorf("read the catch-up marks: %w", err)
	}
	out := map[string]time.Time{}
	var gone []string
	for rows.Next() {
		var id string
		var ns int64
		if err := rows.Scan(&id, &ns); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the catch-up marks: %w", err)
		}
		if keep[id] {
			out[id] = time.Unix(0, ns)
		} else {
			gone = append(gone, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the catch-up marks: %w", err)
	}
	for _, id := range gone {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM fired WHERE job_id = ?`, id); err != nil {
			return out, fmt.Errorf("forget the catch-up mark of deleted job %s: %w", id, err)
		}
	}
	return out, nil
}
