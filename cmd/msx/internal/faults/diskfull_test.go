//go:build faults

package faults_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// smallDisk mounts a 4 MiB tmpfs at a new directory named name and returns it; the test is
// skipped without root (CAP_SYS_ADMIN).
func smallDisk(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// heartbeats records the heartbeats a target publishes, as the master receives them.
type heartbeats struct {
	mu  sync.Mutex
	all []schemas.Heartbeat
}

func watchHeartbeats(t *testing.T, nc *nats.Conn, name string) *heartbeats {
	t.Helper()
	h := &heartbeats{}
	sub, err := nc.Subscribe(bus.StatusSubject(jobs.ServerToken(name)), func(m *nats.Msg) {
		var hb schemas.Heartbeat
		if schemas.Decode(m.Data, &hb) == nil {
			h.mu.Lock()
			h.all = append(h.all, hb)
			h.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

// since returns the heartbeats received after the first n.
func (h *heartbeats) since(n int) []schemas.Heartbeat {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]schemas.Heartbeat(nil), h.all[min(n, len(h.all)):]...)
}

func (h *heartbeats) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.all)
}

// last returns the latest heartbeat's disk state ("" when it has none).
func (h *heartbeats) lastDisk() (state string, held int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.all) == 0 || h.all[len(h.all)-1].Disk == nil {
		return "", 0
	}
	d := h.all[len(h.all)-1].Disk
	return d.State, d.HeldReports
}

// sawFull returns the largest held_reports of heartbeats with disk state "full" among hbs, and
// whether there was one.
func sawFull(hbs []schemas.Heartbeat) (held int, ok bool) {
	for _, hb := range hbs {
		if hb.Disk != nil && hb.Disk.State == schemas.DiskFull {
			ok, held = true, max(held, hb.Disk.HeldReports)
		}
	}
	return held, ok
}

// tickJob is a CmdExec job run every 10 seconds whose step appends a line to log, outside the
// full disk: the lines count its real executions.
func tickJob(name, log string, servers ...string) jobs.Job {
	return jobs.Job{Name: name, Category: "faults", Targets: jobs.Targets{Servers: servers},
		Steps: []jobs.Step{{StepID: 1, StepName: "tick", Subsystem: jobs.SubsystemCmdExec, Command: "echo tick >> " + log}},
		Schedules: []schedule.Schedule{{Name: "every 10 s", FreqType: schedule.FreqDaily, FreqInterval: 1,
			FreqSubdayType: schedule.SubdaySeconds, FreqSubdayInterval: 10, ActiveStartDate: 20000101}}}
}

// pollUntil polls cond until it holds or timeout passes, and reports whether it held: for a
// count that a broken agent never reaches, checked after.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
	return true
}

func lines(tb testing.TB, path string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// TestFullDiskDuringRuns fills a target's data directory while scheduled jobs keep running:
// every run must reach the master exactly once (sent from memory while the disk is full, or
// from the outbox after), and the heartbeats must say "full" meanwhile.
func TestFullDiskDuringRuns(t *testing.T) {
	const njobs = 4
	dir := smallDisk(t, "FULL02")
	f := newSecureFixture(t)
	hbs := watchHeartbeats(t, f.nc, "FULL02")
	a := f.newAgent(t, "FULL02", dir)
	a.start()
	f.waitOnline(t, "FULL02")
	logs := t.TempDir()
	var names []string
	for i := range njobs {
		j := tickJob(fmt.Sprintf("tick %d", i), filepath.Join(logs, fmt.Sprintf("tick%d.log", i)), "FULL02")
		names = append(names, applyAll(t, f.m, j).Name)
	}
	executions := func() int {
		n := 0
		for i := range njobs {
			n += lines(t, filepath.Join(logs, fmt.Sprintf("tick%d.log", i)))
		}
		return n
	}
	waitFor(t, patience, "jobs held and running", func() bool {
		ts, _ := f.m.TargetServer("FULL02")
		return ts.UnreadInstructions == 0 && executions() >= njobs
	})

	filler := fill(t, filepath.Join(dir, "filler"))
	before, hbMark := executions(), hbs.count()
	t.Logf("disk full (%d bytes of filler) after %d executions", filler, before)
	waitFor(t, patience, "8 executions on the full disk", func() bool { return executions() >= before+8 })

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	t.Log("space freed")
	waitFor(t, patience, "disk state back from full with nothing held", func() bool {
		st, held := hbs.lastDisk()
		return st != schemas.DiskFull && held == 0
	})
	// No more runs: untarget the jobs, then count what ran.
	for _, n := range names {
		if _, err := f.m.DeleteJob(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, patience, "jobs deleted on FULL02", func() bool { ts, _ := f.m.TargetServer("FULL02"); return ts.UnreadInstructions == 0 })
	ran := executions()
	held, _ := sawFull(hbs.since(hbMark))
	var fin map[string]map[string]int
	pollUntil(patience, func() bool {
		fin, _ = finishedRuns(t, f.js)
		return len(fin[a.tok]) >= ran
	})
	for run, n := range fin[a.tok] {
		if n != 1 {
			t.Errorf("run %s reported finished %d times", run, n)
		}
	}
	t.Logf("counts: executions %d (%d while the disk was full), finished runs on the master %d, most reports held at once %d",
		ran, ran-before, len(fin[a.tok]), held)
	if len(fin[a.tok]) != ran {
		t.Errorf("%d finished runs reached the master, %d executions: want one each", len(fin[a.tok]), ran)
	}
	if _, ok := sawFull(hbs.since(hbMark)); !ok {
		t.Error("no heartbeat said the disk was full while it was")
	}
	a.stop()
	if res := integrity(t, filepath.Join(dir, "target.db")); res != "ok" {
		t.Errorf("target.db after recovery: integrity_check says %q", res)
	}
}

// TestFullDiskAtStart starts an enlisted agent on a full data directory: it must not exit, but
// run degraded (heartbeats saying "full", a log that says what to do), and resume by itself
// when space returns: its scheduled job runs and is reported again.
func TestFullDiskAtStart(t *testing.T) {
	dir := smallDisk(t, "FULL03")
	f := newSecureFixture(t)
	hbs := watchHeartbeats(t, f.nc, "FULL03")
	a := f.newAgent(t, "FULL03", dir)
	logs := &syncBuf{}
	a.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a.start()
	f.waitOnline(t, "FULL03")
	log := filepath.Join(t.TempDir(), "tick.log")
	applyAll(t, f.m, tickJob("tick", log, "FULL03"))
	waitFor(t, patience, "the job ran once", func() bool { return lines(t, log) >= 1 })
	a.stop()

	fill(t, filepath.Join(dir, "filler"))
	hbMark := hbs.count()
	a.start()
	waitFor(t, patience, "heartbeats saying the disk is full", func() bool { _, ok := sawFull(hbs.since(hbMark)); return ok })
	select {
	case err := <-a.done:
		t.Fatalf("the agent exited on a full disk: %v", err)
	default:
	}
	if l := logs.String(); !strings.Contains(l, "runs degraded") || !strings.Contains(l, "Free space") {
		t.Errorf("the log does not explain the degraded mode and its fix:\n%s", l)
	}
	fin, _ := finishedRuns(t, f.js)
	before := len(fin[a.tok])

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "a run reported after the space returned", func() bool {
		fin, _ := finishedRuns(t, f.js)
		return len(fin[a.tok]) > before
	})
	waitFor(t, patience, "disk state back from full", func() bool { st, _ := hbs.lastDisk(); return st != "" && st != schemas.DiskFull })
	a.stop()
	if res := integrity(t, filepath.Join(dir, "target.db")); res != "ok" {
		t.Errorf("target.db after recovery: integrity_check says %q", res)
	}
}
