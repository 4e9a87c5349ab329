//go:build !unix

package bench

func fdLimit() (int, bool) { return 0, false }
