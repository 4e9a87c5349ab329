package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCPUProfile: --cpuprofile writes a non-empty profile, and a path that cannot be
// created is refused with an error naming the flag.
func TestBenchCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v, %v bytes", path, err, fi)
	}
	_, err = startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Fatalf("unwritable path: %v, want an error naming --cpuprofile", err)
	}
}
