//go:build faults

package faults_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFullDisk puts a target's data directory on a 4 MiB tmpfs, fills it while instructions
// arrive, then frees it: the target must say clearly that the disk is full, keep its database
// intact, and apply everything once after the space is back. It needs root (CAP_SYS_ADMIN) to
// mount the tmpfs and is skipped otherwise.
func TestFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "FULL01")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	f := newSecureFixture(t)
	logs := &syncBuf{}
	a := f.newAgent(t, "FULL01", dir)
	a.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a.start()
	f.waitOnline(t, "FULL01")
	job := applyAll(t, f.m, countingJob("disk job", "FULL01"))
	startRounds(t, f.m, job, []*agent{a}, 1)

	filler := fill(t, filepath.Join(dir, "filler"))
	t.Logf("disk full: %d bytes of filler", filler)
	// Instructions keep coming while the disk is full: new versions and a START.
	for i := range 3 {
		job.Description = "full disk " + string(rune('a'+i))
		job = applyAll(t, f.m, job)
	}
	if _, err := f.m.StartJob(t.Context(), job.Name, "", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "a clear disk-full error in the target's log", func() bool {
		l := strings.ToLower(logs.String())
		return strings.Contains(l, "disk is full") || strings.Contains(l, "no space left")
	})
	// The observable end of "nothing was applied": the agent tried again after its backoff and
	// failed again (a second consumer restart after the first disk-full error).
	waitFor(t, patience, "a second failed attempt to apply", func() bool {
		return strings.Count(logs.String(), "instruction consumer stopped, restarting") >= 2
	})
	if ts, _ := f.m.TargetServer("FULL01"); ts.UnreadInstructions == 0 {
		t.Error("instructions were reported applied while the disk was full")
	}
	a.stop()
	if res := integrity(t, filepath.Join(dir, "target.db")); res != "ok" {
		t.Fatalf("target.db after the full disk: integrity_check says %q", res)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	t.Log("space freed; agent restarted")
	a.start()
	waitFor(t, patience, "FULL01 caught up", func() bool { ts, _ := f.m.TargetServer("FULL01"); return ts.UnreadInstructions == 0 })
	waitFor(t, patience, "second run", func() bool { return ranRows(t, dir, "disk job") == 2 })
	checkExact(t, masterLedger(f.m), f.js, []*agent{a}, "disk job", map[string]int{"FULL01": 2}, checkOpts{})
	if res := integrity(t, filepath.Join(dir, "target.db")); res != "ok" {
		t.Errorf("target.db after recovery: integrity_check says %q", res)
	}
	masterRuns(t, f.m, job, 2)
}

// fill writes zeros to path until the file system is full and returns how many bytes fit.
func fill(tb testing.TB, path string) int64 {
	tb.Helper()
	fh, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	buf := bytes.Repeat([]byte{0}, 64<<10)
	var n int64
	for {
		w, err := fh.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func integrity(tb testing.TB, path string) string {
	tb.Helper()
	db := openRO(tb, path)
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return err.Error()
	}
	return res
}
