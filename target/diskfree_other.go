//go:build !unix && !windows

package target

// freeBytes cannot tell the free space here.
func freeBytes(string) (int64, bool) { return 0, false }
