package jobs

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse, ParseMany, Normalize, Validate, CheckTargets,
// Digest or Diff panic, and that Normalize is idempotent on whatever Parse accepts.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range literalCases {
		f.Add([]byte(tc.in))
	}
	for _, pat := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/invalid/*.yaml"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseMany(data)
		j, err := Parse(data)
		if err != nil {
			return
		}
		_ = j.Validate()
		_ = j.Digest()
		j.Normalize(testToday)
		_ = j.Validate()
		_ = j.CheckTargets(func(string) bool { return false }, func(string) bool { return false })
		again := j.Clone()
		again.Normalize(testToday)
		if diff := Diff(j, again); diff != nil {
			t.Fatalf("Normalize is not idempotent: %q", diff)
		}
	})
}
