package target

import (
	"fmt"

	"github.com/msx-project/msx/schemas"
)

// defaultLowDiskBytes is the default of Config.LowDiskBytes.
const defaultLowDiskBytes = 64 << 20

// diskState is the state of the data directory for the heartbeat: full while the disk refuses
// writes or reports are held, low under Config.LowDiskBytes of free space, ok otherwise.
func (a *Agent) diskState() *schemas.DiskState {
	free, known := freeBytes(a.cfg.DataDir)
	st := a.spool.state()
	ds := &schemas.DiskState{State: schemas.DiskOK, HeldReports: st.reports}
	if known {
		ds.FreeBytes = free
	}
	switch {
	case st.err != nil || st.writes > 0:
		ds.State = schemas.DiskFull
		cause := "held reports wait for their turn"
		if st.err != nil {
			cause = fmt.Sprintf("writes fail since %s: %v", st.since.UTC().Format("15:04:05Z"), st.err)
		}
		ds.Message = fmt.Sprintf("data directory %s: %s; %d report(s) held in memory (%d of %d bytes). Free space on its file system: the agent catches up by itself.",
			a.cfg.DataDir, cause, st.reports, st.bytes, a.cfg.HoldBytes)
	case known && free < a.cfg.LowDiskBytes:
		ds.State = schemas.DiskLow
		ds.Message = fmt.Sprintf("data directory %s: %d bytes free, under the warning threshold of %d", a.cfg.DataDir, free, a.cfg.LowDiskBytes)
	}
	return ds
}
