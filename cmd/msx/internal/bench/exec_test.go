package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// The execution phase on a tiny fleet: every count is consistent with the others (no
// assertion on speed), runs did start, and the jobs are gone from the fleet afterwards.
func TestExecutionPhaseOnATinyFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a fleet for several seconds")
	}
	var progress bytes.Buffer
	cfg := Config{Targets: 2, ExecJobs: 2, ExecWindow: 3 * time.Second, Insecure: true, Dir: t.TempDir(),
		PhaseTimeout: 2 * time.Minute, Progress: &progress, Logger: quietLogger()}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	e, err := startEnv(t.Context(), cfg, cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	b := &bench{e: e, cfg: cfg, rep: &Report{}}
	names := targetNames("EXEC", cfg.Targets)
	f, err := e.startTargets(t.Context(), names)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	if err := b.waitPending(t.Context(), "ready", len(names), f, func() int {
		left := 0
		for _, n := range names {
			if ts, ok := e.m.TargetServer(n); !ok || ts.LastPollDate == nil {
				left++
			}
		}
		return left
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Reg.AddGroup(t.Context(), fleetGroup); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := e.m.Reg.AddMember(t.Context(), fleetGroup, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.execRun(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	x := b.rep.Execution
	if x == nil || x != b.exec {
		t.Fatal("no execution figures in the report")
	}
	if x.Expected != 2*2*3 || x.WindowS != 3 || x.Step != "tsql" {
		t.Fatalf("expected %d firings over %d s (%s step); want 12 over 3 s (tsql)", x.Expected, x.WindowS, x.Step)
	}
	if x.Started == 0 || x.Started+x.Missed != x.Expected || x.Started > x.Expected {
		t.Fatalf("started %d + missed %d, expected %d", x.Started, x.Missed, x.Expected)
	}
	if x.Lateness.N != x.Started+x.Doubled || x.Finished > x.Lateness.N || x.Failed > x.Finished {
		t.Fatalf("lateness over %d runs, started %d, doubled %d, finished %d, failed %d", x.Lateness.N, x.Started, x.Doubled, x.Finished, x.Failed)
	}
	if x.Failed != 0 {
		t.Fatalf("%d runs of SELECT 1 failed", x.Failed)
	}
	if x.MasterRuns < x.Finished {
		t.Fatalf("the master counted %d runs, the targets reported %d finished in the window", x.MasterRuns, x.Finished)
	}
	if x.PerSecond != round3(float64(x.Started)/3) || x.Lateness.P99MS < x.Lateness.P50MS {
		t.Fatalf("per second %v, lateness %+v", x.PerSecond, x.Lateness)
	}
	if x.RawPerSecond <= 0 || x.RawLateness.N != 4*3 {
		t.Fatalf("raw floor: %v/s over %d wake-ups; want 12 wake-ups", x.RawPerSecond, x.RawLateness.N)
	}
	for i := 1; i <= 2; i++ {
		if _, err := e.m.Catalog.Get("msx bench exec 00" + string(rune('0'+i))); err == nil {
			t.Errorf("job %d of the phase still in the catalog", i)
		}
	}
	b.rep.Measures = b.measures()
	var out bytes.Buffer
	if err := b.rep.WriteTable(&out); err != nil || !strings.Contains(out.String(), "execution msx/raw") || !strings.Contains(out.String(), "firings started") {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}

// tallyExec counts a second with two starts once (and as doubled), a skipped firing, a failed
// run, and leaves out the runs outside the window.
func TestTallyExecCounts(t *testing.T) {
	rec := newRecorder()
	from := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	until := from.Add(3 * time.Second)
	add := func(run string, started time.Time, phase string, status int, skipped bool) {
		rec.results[resKey{"T1", "J1", phase}] = append(rec.results[resKey{"T1", "J1", phase}],
			resultSeen{started: started, runID: run, status: status, skipped: skipped, due: started.Truncate(time.Second)})
	}
	add("r0", from.Add(-500*time.Millisecond), schemas.PhaseStarted, 4, false) // before the window
	add("r1", from.Add(3*time.Millisecond), schemas.PhaseStarted, 4, false)
	add("r1", from.Add(3*time.Millisecond), schemas.PhaseFinished, int(jobs.RunSucceeded), false)
	add("r2", from.Add(1100*time.Millisecond), schemas.PhaseStarted, 4, false)
	add("r3", from.Add(1900*time.Millisecond), schemas.PhaseStarted, 4, false) // same second as r2
	add("r3", from.Add(1900*time.Millisecond), schemas.PhaseFinished, int(jobs.RunFailed), false)
	add("s1", from.Add(2*time.Second), schemas.PhaseFinished, int(jobs.RunCanceled), true)
	add("r4", until, schemas.PhaseStarted, 4, false) // after the window
	x, lat := tallyExec(Execution{Expected: 3}, rec, []string{"T1"}, []string{"J1"}, from, until)
	want := Execution{Expected: 3, Started: 2, Missed: 1, Doubled: 1, Skipped: 1, Finished: 2, Failed: 1}
	if x != want || len(lat) != 3 || lat[0] != 3*time.Millisecond {
		t.Fatalf("tally %+v, lateness %v; want %+v and 3 latenesses", x, lat, want)
	}
}

// Bad execution settings are refused with the flag named.
func TestConfigRefusesBadExecSettings(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{ExecJobs: 1001}, "--exec-jobs 1001"},
		{Config{ExecWindow: time.Millisecond}, "--exec-window 1ms"},
		{Config{ExecStep: "powershell"}, `--exec-step "powershell"`},
	} {
		if err := c.cfg.defaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error naming %s", c.cfg, err, c.want)
		}
	}
	if got := execJobs(Config{Targets: 1000}); got != 2 {
		t.Errorf("default jobs per target at 1,000 targets: %d; want 2", got)
	}
	if got := execJobs(Config{Targets: 300}); got != 7 {
		t.Errorf("default jobs per target at 300 targets: %d; want 7", got)
	}
}

// The schedules of the phase fire every second from the start to the end of its day, and not
// before the start.
func TestEverySecondFromCoversTheDayFromItsStart(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 3, 4, 10, 20, 30, 0, time.UTC),
		time.Date(2026, 3, 4, 10, 59, 0, 0, time.UTC),
		time.Date(2026, 3, 4, 23, 5, 59, 0, time.UTC),
		time.Date(2026, 3, 4, 23, 55, 0, 0, time.UTC),
	} {
		scheds, start := everySecondFrom(at)
		if start.Before(at) || start.Sub(at) > 10*time.Minute {
			t.Errorf("%s: starts at %s", at, start)
		}
		for _, probe := range []time.Duration{-time.Second, 0, time.Second, 59 * time.Second, 61 * time.Second, 50 * time.Minute} {
			w := start.Add(probe)
			if w.Day() != start.Day() {
				continue
			}
			matched := 0
			for _, s := range scheds {
				if s.ActiveStartDate != 0 && jobs.DateInt(w) < s.ActiveStartDate {
					continue
				}
				if cronMatches(t, s.Cron, w) {
					matched++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[probe >= 0]; matched != want {
				t.Errorf("start %s: %s matched by %d schedules, want %d (%+v)", start, w, matched, want, scheds)
			}
		}
	}
}

// cronMatches reports whether the 6-field expression fires at w, with the library that fires
// the target's schedules.
func cronMatches(t *testing.T, expr string, w time.Time) bool {
	t.Helper()
	s := schedule.Schedule{Name: "c", Cron: expr, TimeZone: "UTC"}
	next, ok := s.Next(w.Add(-time.Second), time.UTC)
	return ok && next.Equal(w)
}
