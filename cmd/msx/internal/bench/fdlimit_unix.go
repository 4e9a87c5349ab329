//go:build unix

package bench

import "syscall"

// fdLimit returns how many files this process may open (Go raises the soft limit to the hard
// one at start).
func fdLimit() (int, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return int(min(r.Cur, 1<<30)), true
}
