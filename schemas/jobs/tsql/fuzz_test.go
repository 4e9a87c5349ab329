package tsql

import (
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns the scripts of the table tests and of testdata.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, tc := range importCases {
		seeds = append(seeds, caseInput(f, tc.file, tc.in))
	}
	for _, tc := range tokenizeCases {
		seeds = append(seeds, []byte(tc.in))
	}
	files, err := filepath.Glob("testdata/export/*.sql")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzImport checks that no script makes Import or Export panic, that every problem has a line
// of the script, and that a job Import returns survives Export and Import unchanged (less what
// Export does not write) and without problems. The seeds are whole scripts of several kilobytes,
// whose minimisation takes long: run it with -fuzzminimizetime 1s.
func FuzzImport(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		res, err := Import(script)
		lines := 1
		for _, c := range decodeScript(script) {
			if c == '\n' {
				lines++
			}
		}
		for _, p := range res.Problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem on line %d of a %d-line script: %s", p.Line, lines, p.Message)
			}
		}
		if err != nil {
			return
		}
		for _, j := range res.Jobs {
			out, _ := Export(j)
			again, err := Import(out)
			if err != nil {
				t.Fatalf("importing the export: %v\n%s", err, out)
			}
			if len(again.Problems) != 0 || len(again.Jobs) != 1 {
				t.Fatalf("importing the export: %d jobs, problems %v\n%s", len(again.Jobs), again.Problems, out)
			}
			checkRoundTrip(t, j, again.Jobs[0])
		}
	})
}

// FuzzTokenize checks that tokenize never panics and that, when it succeeds, its tokens are the
// script in order with only white space between them, each on the right line.
func FuzzTokenize(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(string(s))
	}
	f.Fuzz(func(t *testing.T, src string) {
		toks, err := tokenize(src)
		if err != nil {
			return
		}
		checkCoverage(t, src, toks)
	})
}
