package tsql

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	for _, tc := range evalCases {
		if tc.file == "" {
			seeds = append(seeds, []byte(tc.in))
		}
	}
	files, err := filepath.Glob("testdata/*.sql")
	if err != nil {
		f.Fatal(err)
	}
	more, err := filepath.Glob("testdata/*/*.sql")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, more...)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// fuzzLimits bound the evaluation of a fuzzed script, so that each runs in milliseconds.
var fuzzLimits = Options{MaxStatements: 5_000, MaxIterations: 2_000, MaxTime: time.Second, MaxString: 1 << 16, MaxRows: 2_000}

// FuzzImport checks that no script makes Import or Export panic, that every problem has a line
// of the script, and that a job Import returns survives Export and Import unchanged (less what
// Export does not write) and without problems. The seeds are whole scripts of several kilobytes,
// whose minimisation takes long: run it with -fuzzminimizetime 1s.
func FuzzImport(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		res, err := ImportWith(script, fuzzLimits)
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

// FuzzExpression puts a fuzzed expression where job scripts evaluate them (an assignment, an
// IF and a WHILE condition, a query's select list, WHERE and ORDER BY, dynamic SQL) and checks
// that the evaluation ends without a panic, within its limits, with every problem on a line of
// the script.
func FuzzExpression(f *testing.F) {
	for _, e := range []string{
		"N'a' + CHAR(13) + CHAR(10) + REPLACE(N'x''y', '''', '''''')", "CASE WHEN a > 1 THEN b ELSE N'z' END", "(SELECT COUNT(*) FROM @t)",
		"EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE name = N'j')", "SERVERPROPERTY('EngineEdition') NOT IN (4, 5)",
		"@@VERSION LIKE '%Linux%'", "CAST(LEFT(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)), 2) AS numeric(18,10)) >= 14",
		"ISNULL(CAST(NULL AS nvarchar), 'NULL')", "QUOTENAME(b) + SUBSTRING(N'abcdef', a, 2)", "1/0", "-9223372036854775808 - 1",
		"REPLICATE(b, 100000)", "a BETWEEN 1 AND 2 AND NOT b LIKE N'[x-z]%'", "COALESCE(NULL, @v, N'd')", "(((((1)))))",
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, e string) {
		script := "DECLARE @t TABLE (a int IDENTITY, b nvarchar(50) DEFAULT N'x')\nINSERT @t (b) VALUES (N'x'), (NULL), (N'y')\n" +
			"DECLARE @v nvarchar(max) = " + e + "\nIF " + e + " SET @v = N'y' ELSE SET @v = N'n'\n" +
			"SELECT @v = " + e + " FROM @t WHERE " + e + " ORDER BY " + e + "\n" +
			"DECLARE @i int = 0\nWHILE " + e + " BEGIN SET @i += 1 IF @i > 3 BREAK END\n" +
			"UPDATE @t SET b = " + e + " WHERE " + e + "\nEXEC (" + e + ")\n" +
			"EXEC sp_add_job @job_name = @v\n"
		res, err := ImportWith([]byte(script), fuzzLimits)
		lines := strings.Count(script, "\n") + 1
		for _, p := range res.Problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem on line %d of a %d-line script: %s", p.Line, lines, p.Message)
			}
		}
		_ = err
	})
}
