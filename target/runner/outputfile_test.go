package runner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
)

func TestRunOutputFile(t *testing.T) {
	dir := t.TempDir()
	blocked := filepath.Join(dir, "blocked")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		flags  int
		runs   int
		want   string
		status jobs.RunStatus
	}{
		{name: "overwrite", path: filepath.Join(dir, "a", "b", "out.txt"), runs: 2, want: "out\n", status: ok},
		{name: "append with flag 2", path: filepath.Join(dir, "append.txt"), flags: 2, runs: 3, want: "out\nout\nout\n", status: ok},
		{name: "other flags overwrite", path: filepath.Join(dir, "flags.txt"), flags: 4 | 32, runs: 2, want: "out\n", status: ok},
		{name: "parent is a file", path: filepath.Join(blocked, "out.txt"), runs: 1, status: fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := steps(1)
			s[0].OutputFileName, s[0].Flags = tt.path, tt.flags
			f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{output: "out\n"}}}}
			r := newFakeRunner(f, Config{})
			var out Outcome
			for range tt.runs {
				out = r.Run(t.Context(), jobs.Job{Name: "j", Steps: s}, RunInfo{})
			}
			if out.Status != tt.status {
				t.Fatalf("status = %v, want %v (%s)", out.Status, tt.status, out.Steps[0].Message)
			}
			if tt.status == fail {
				if !errors.Is(out.Cause, ErrOutputFile) {
					t.Errorf("cause = %v, want ErrOutputFile", out.Cause)
				}
				if len(f.calls) != 0 {
					t.Errorf("the step ran %d times; a step whose output file cannot be opened must not run", len(f.calls))
				}
				return
			}
			b, err := os.ReadFile(tt.path)
			if err != nil || string(b) != tt.want {
				t.Errorf("file = %q, %v; want %q", b, err, tt.want)
			}
		})
	}
}
