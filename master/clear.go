package master

import (
	"context"
	"fmt"
	"strings"

	"github.com/msx-project/msx/master/ledger"
)

// ClearFilter selects the failed instructions ClearErrors clears: those of one target server,
// of one job (by name or id), of both, or, with All, every one.
type ClearFilter struct {
	All    bool   `json:"all,omitempty"`
	Server string `json:"server,omitempty"`
	Job    string `json:"job,omitempty"`
}

// ClearErrors clears the error of every failed instruction f selects (flag 4 goes from the
// targets left without one) and returns their instance ids. An empty filter is refused: say
// --all to clear everything.
func (m *Master) ClearErrors(ctx context.Context, f ClearFilter, by string) ([]uint64, error) {
	if !f.All && f.Server == "" && f.Job == "" {
		return nil, fmt.Errorf("%w: say which errors to clear: an instance_id, --server S, --job J, or --all", ErrInvalid)
	}
	if f.All && (f.Server != "" || f.Job != "") {
		return nil, fmt.Errorf("%w: --all clears every error: leave out --server and --job, or leave out --all", ErrInvalid)
	}
	lf := ledger.Filter{Errors: true}
	if f.Server != "" {
		t, err := m.Target(f.Server)
		if err != nil {
			return nil, err
		}
		lf.Token = t.Token
	}
	match := func(ledger.Row) bool { return true }
	if f.Job != "" {
		id := f.Job
		if j, err := m.Catalog.Get(f.Job); err == nil {
			id = j.JobID
		}
		match = func(r ledger.Row) bool { return r.ObjectID == id || strings.EqualFold(r.ObjectName, f.Job) }
	}
	cleared := []uint64{}
	for _, r := range m.Ledger.List(lf) {
		if !match(r) {
			continue
		}
		if err := m.ClearError(ctx, r.InstanceID, by); err != nil {
			return cleared, err
		}
		cleared = append(cleared, r.InstanceID)
	}
	if f.Job != "" && len(cleared) == 0 {
		if _, err := m.Catalog.Get(f.Job); err != nil {
			return nil, err // unknown job (14262), rather than "nothing to clear"
		}
	}
	return cleared, nil
}
