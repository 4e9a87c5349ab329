package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// TestExampleJobsAreValid checks every job document msx ships: the ones `msx up` loads and the
// ones in deploy/examples.
func TestExampleJobsAreValid(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	more, _ := filepath.Glob("../../deploy/examples/*.yaml")
	files = append(files, more...)
	if len(files) < 4 {
		t.Fatalf("found only %d example jobs", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			j, err := jobs.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			j.Normalize(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
			if err := j.Validate().Err(); err != nil {
				t.Fatal(err)
			}
			if len(j.Targets.Servers)+len(j.Targets.Groups) == 0 {
				t.Error("an example should say where it runs")
			}
		})
	}
}
