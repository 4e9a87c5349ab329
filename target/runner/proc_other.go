//go:build unix && !linux

package runner

import (
	"errors"
	"syscall"
)

// startTime is unknown outside Linux: pid reuse is then not detected.
func startTime(int) uint64 { return 0 }

// groupAlive reports whether process group pgid answers signal 0.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
