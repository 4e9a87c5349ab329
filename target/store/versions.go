package store

import (
	"context"
	"fmt"
)

// JobVersions returns the version of every job held, by job id, when there are at most limit
// of them (nil and false when there are more). A heartbeat carries them so that the master can
// tell which jobs differ from what it expects.
func (s *Store) JobVersions(ctx context.Context, limit int) (map[string]int, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT job_id, version FROM jobs LIMIT ?`, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("job versions: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, false, fmt.Errorf("job versions: %w", err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("job versions: %w", err)
	}
	if len(out) > limit {
		return nil, false, nil
	}
	return out, true, nil
}
