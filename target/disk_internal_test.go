package target

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/store"
)

// TestDiskState: the heartbeat's disk state follows the spool and the free space.
func TestDiskState(t *testing.T) {
	refused := errors.New("database or disk is full (13)")
	tests := []struct {
		name      string
		low       int64
		setup     func(s *spool)
		wantState string
		wantHeld  int
		wantInMsg string
	}{
		{name: "ok", low: 1, setup: func(*spool) {}, wantState: schemas.DiskOK},
		{name: "low", low: math.MaxInt64, setup: func(*spool) {}, wantState: schemas.DiskLow, wantInMsg: "under the warning threshold"},
		{name: "refused", low: 1, setup: func(s *spool) {
			s.refused(refused)
			s.add(store.Write{Msgs: []store.OutMsg{eventOut("a"), eventOut("b")}})
		}, wantState: schemas.DiskFull, wantHeld: 2, wantInMsg: "database or disk is full"},
		{name: "held after the disk took a write again", low: 1, setup: func(s *spool) {
			s.refused(refused)
			s.add(store.Write{Msgs: []store.OutMsg{eventOut("a")}})
			s.accepted()
		}, wantState: schemas.DiskFull, wantHeld: 1, wantInMsg: "held reports wait for their turn"},
		{name: "recovered", low: 1, setup: func(s *spool) {
			s.refused(refused)
			s.accepted()
		}, wantState: schemas.DiskOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{cfg: Config{DataDir: t.TempDir(), LowDiskBytes: tt.low, HoldBytes: 1 << 20}, spool: newSpool(1 << 20)}
			tt.setup(a.spool)
			ds := a.diskState()
			if ds.State != tt.wantState || ds.HeldReports != tt.wantHeld || !strings.Contains(ds.Message, tt.wantInMsg) {
				t.Errorf("disk state %+v, want %s with %d held, message containing %q", ds, tt.wantState, tt.wantHeld, tt.wantInMsg)
			}
			if ds.FreeBytes <= 0 {
				t.Errorf("free bytes %d", ds.FreeBytes)
			}
		})
	}
}
