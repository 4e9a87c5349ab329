package ledger

import "time"

// Target status flags, as sp_help_targetserver reports them.
//
//	        heartbeat                 no heartbeat for 3 intervals
//	  ┌──────────────────┐        ┌───────────────────────────────┐
//	  ▼                  │        │                               ▼
//	1 normal ────────────┴────────┘                 2 suspected offline
//	  + 4 blocked while an instruction failed and its error is not cleared
//	  + 8 disk full while the last heartbeat says the target's data directory refuses writes
//	      (msx's own flag: run reports are held in the agent's memory until space returns)
const (
	StatusNormal           = 1
	StatusSuspectedOffline = 2
	StatusBlocked          = 4
	StatusDiskFull         = 8
)

// OfflineAfter is how many heartbeat intervals without contact make a target suspected offline.
const OfflineAfter = 3

// Flags computes a target's status. lastContact is the last heartbeat (or the enlistment when
// none came yet), interval the heartbeat interval, errs the uncleared failed instructions.
// Suspected offline replaces normal; blocked adds to either.
func Flags(now, lastContact time.Time, interval time.Duration, errs int) int {
	f := StatusNormal
	if now.Sub(lastContact) > OfflineAfter*interval {
		f = StatusSuspectedOffline
	}
	if errs > 0 {
		f |= StatusBlocked
	}
	return f
}
