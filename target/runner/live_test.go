package runner

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas/jobs"
)

// liveSink records what a run's live output receives, with when each write came.
type liveSink struct {
	mu     sync.Mutex
	writes []liveWrite
	ends   []jobs.RunStatus
}

type liveWrite struct {
	step int
	text string
	at   time.Time
}

func (s *liveSink) Step(step jobs.Step, _ int) LiveStep {
	return &liveSinkStep{s: s, step: step.StepID}
}

func (s *liveSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, w := range s.writes {
		b.WriteString(w.text)
	}
	return b.String()
}

type liveSinkStep struct {
	s    *liveSink
	step int
}

func (w *liveSinkStep) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.writes = append(w.s.writes, liveWrite{step: w.step, text: string(p), at: time.Now()})
	return len(p), nil
}

func (w *liveSinkStep) End(status jobs.RunStatus) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.ends = append(w.s.ends, status)
}

// TestLiveMaskNeverPassesAPartOfASecret writes output byte by byte and in odd pieces, with
// secrets cut everywhere, and checks that nothing passed on holds a secret or its first part,
// and that all of it, masked, is passed on in the end (a secret cut between two writes passed
// on would be in the whole unmasked).
func TestLiveMaskNeverPassesAPartOfASecret(t *testing.T) {
	job := jobs.Job{Variables: []jobs.Variable{{Name: "PW", Secret: true, Value: "hunter22"}, {Name: "K", Secret: true, Value: "s3cr3t-key"}}}
	text := "connecting with hunter22\nkey=s3cr3t-key; again hunter22hunter22 no newline hunter2 then s3cr3t-ke" +
		strings.Repeat("x", liveHold) + "hunter22 end é€ \n"
	for _, piece := range []int{1, 2, 3, 7, 4096, len(text)} {
		var out bytes.Buffer
		var passed []string
		w := &recordWriter{w: &out, rec: &passed}
		m := NewLiveMask(w, job.SecretValues(), job.MaskSecrets)
		for i := 0; i < len(text); i += piece {
			_, _ = m.Write([]byte(text[i:min(i+piece, len(text))]))
		}
		m.Flush()
		if got, want := out.String(), job.MaskSecrets(text); got != want {
			t.Fatalf("pieces of %d: passed on\n%q\nwant\n%q", piece, got, want)
		}
		for _, p := range passed {
			for _, s := range []string{"hunter22", "s3cr3t-key"} {
				if strings.Contains(p, s) {
					t.Fatalf("pieces of %d: a write passed on secret %q: %q", piece, s, p)
				}
			}
		}
	}
}

// TestLiveMaskOverlappingSecrets: values that overlap ("abcd", "cdxy") neither loop nor leak.
func TestLiveMaskOverlappingSecrets(t *testing.T) {
	job := jobs.Job{Variables: []jobs.Variable{{Name: "A", Secret: true, Value: "abcd"}, {Name: "B", Secret: true, Value: "cdxy"}}}
	for _, text := range []string{"..abcdx", "..abcdxy\n", "abcdxyabcd\n", strings.Repeat("a", liveHold) + "bcdx"} {
		for _, piece := range []int{1, 2, 3, 7, len(text)} {
			var out bytes.Buffer
			m := NewLiveMask(&out, job.SecretValues(), job.MaskSecrets)
			var passed []string
			w := &recordWriter{w: &bytes.Buffer{}, rec: &passed}
			m.w = w
			for i := 0; i < len(text); i += piece {
				_, _ = m.Write([]byte(text[i:min(i+piece, len(text))]))
			}
			m.Flush()
			for _, p := range passed {
				if strings.Contains(p, "abcd") || strings.Contains(p, "cdxy") {
					t.Fatalf("%q in pieces of %d: a write passed on a secret: %q", text, piece, p)
				}
			}
			if got := strings.Join(passed, ""); strings.Contains(got, "abcd") || strings.Contains(got, "cdxy") {
				t.Fatalf("%q in pieces of %d: passed on %q, a secret whole across writes", text, piece, got)
			}
		}
	}
}

type recordWriter struct {
	w   *bytes.Buffer
	rec *[]string
}

func (r *recordWriter) Write(p []byte) (int, error) {
	*r.rec = append(*r.rec, string(p))
	return r.w.Write(p)
}

// TestRunLiveOutputCmdExec runs a CmdExec step that prints a line, waits, and prints another:
// the live output gets the first line while the step still runs, masked, and ends with the
// step's status; history keeps all of it.
func TestRunLiveOutputCmdExec(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("runs a POSIX shell for a second")
	}
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemCmdExec: &CmdExecExecutor{}}})
	job := jobs.Job{JobID: "J1", Name: "live", Variables: []jobs.Variable{{Name: "PW", Secret: true, Value: "hunter22"}},
		Steps: []jobs.Step{{StepID: 1, StepName: "print", Subsystem: jobs.SubsystemCmdExec, Command: "echo first hunter22; sleep 1; echo second"}}}
	sink := &liveSink{}
	started := time.Now()
	out := r.Run(t.Context(), job, RunInfo{RunID: "R1", Live: sink})
	ended := time.Now()
	if out.Status != jobs.RunSucceeded {
		t.Fatalf("run: %v %v", out.Status, out.Cause)
	}
	if got := sink.text(); got != "first ***\nsecond\n" {
		t.Fatalf("live output %q, want both lines, the secret masked", got)
	}
	sink.mu.Lock()
	first := sink.writes[0]
	ends := sink.ends
	sink.mu.Unlock()
	if first.at.Sub(started) >= ended.Sub(started)-500*time.Millisecond {
		t.Fatalf("first line came %s after the start of a run of %s: not while the step ran", first.at.Sub(started), ended.Sub(started))
	}
	if len(ends) != 1 || ends[0] != jobs.RunSucceeded {
		t.Fatalf("step ends %v, want one, succeeded", ends)
	}
	if !strings.Contains(out.Steps[0].Output, "first ***\nsecond") {
		t.Fatalf("history output %q", out.Steps[0].Output)
	}
}

// TestRunLiveOutputTSQL runs a T-SQL step through the real go-mssqldb driver against the TDS
// fake: PRINT and RAISERROR messages reach the live output as the driver gets them, here a batch
// (the fake sends a batch's messages when it ends; SQL Server sends RAISERROR WITH NOWAIT at
// once), so the first batch's message comes a second before the last one.
func TestRunLiveOutputTSQL(t *testing.T) {
	fake := mssqltest.Start(t)
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemTSQL: &SQLExecutor{DB: fake.Client(t)}}})
	job := jobs.Job{JobID: "J1", Name: "live", Steps: []jobs.Step{{StepID: 1, StepName: "print", Subsystem: jobs.SubsystemTSQL,
		Command: "PRINT N'starting';\nGO\nWAITFOR DELAY '00:00:01';\nGO\nRAISERROR('progress %d', 10, 1, 5) WITH NOWAIT;"}}}
	checkLiveWhileRunning(t, r, job, "starting\nprogress 5\n")
}

// TestRunLiveOutputPowerShell is TestRunLiveOutputCmdExec for a PowerShell step (pwsh needed).
func TestRunLiveOutputPowerShell(t *testing.T) {
	if _, err := exec.LookPath("pwsh"); err != nil {
		t.Skip("pwsh not on PATH")
	}
	r := New(Config{Server: "SQL01", Executors: map[string]Executor{jobs.SubsystemPowerShell: &PowerShellExecutor{}}})
	job := jobs.Job{JobID: "J1", Name: "live", Steps: []jobs.Step{{StepID: 1, StepName: "ps", Subsystem: jobs.SubsystemPowerShell,
		Command: "Write-Output 'first'; Start-Sleep -Seconds 1; Write-Output 'second'"}}}
	checkLiveWhileRunning(t, r, job, "first\nsecond\n")
}

// checkLiveWhileRunning runs job, which prints, waits a second and prints again: it must
// succeed, its live output must be want, and the first write must come at least 0.9 s before
// the last (the output came while the step ran, not at its end).
func checkLiveWhileRunning(t *testing.T, r *Runner, job jobs.Job, want string) {
	t.Helper()
	sink := &liveSink{}
	out := r.Run(t.Context(), job, RunInfo{RunID: "R1", Live: sink})
	if out.Status != jobs.RunSucceeded {
		t.Fatalf("run: %v %v", out.Status, out.Cause)
	}
	if got := sink.text(); got != want {
		t.Fatalf("live output %q, want %q", got, want)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if d := sink.writes[len(sink.writes)-1].at.Sub(sink.writes[0].at); d < 900*time.Millisecond {
		t.Fatalf("the first write came %s before the last: not while the step ran", d)
	}
}

// FuzzLiveMask: whatever a step prints, in whatever pieces, what LiveMask passes on holds no
// secret value, not even across writes, and is the text masked as history masks it.
func FuzzLiveMask(f *testing.F) {
	f.Add([]byte("connecting with hunter22\nkey=s3cr3t-key"), uint8(3))
	f.Add([]byte("hunter2hunter22s3cr3t-ke\ny"), uint8(1))
	f.Add([]byte(strings.Repeat("x", liveHold-3)+"hunter22"), uint8(200))
	job := jobs.Job{Variables: []jobs.Variable{{Name: "PW", Secret: true, Value: "hunter22"}, {Name: "K", Secret: true, Value: "s3cr3t-key"}}}
	f.Fuzz(func(t *testing.T, text []byte, piece uint8) {
		step := max(int(piece), 1)
		var passed []string
		m := NewLiveMask(&recordWriter{w: &bytes.Buffer{}, rec: &passed}, job.SecretValues(), job.MaskSecrets)
		for i := 0; i < len(text); i += step {
			_, _ = m.Write(text[i:min(i+step, len(text))])
		}
		m.Flush()
		got := strings.Join(passed, "")
		if strings.Contains(got, "hunter22") || strings.Contains(got, "s3cr3t-key") {
			t.Fatalf("passed on a secret: %q", got)
		}
		if want := job.MaskSecrets(string(text)); got != want {
			t.Fatalf("passed on %q, history masks it as %q", got, want)
		}
	})
}
