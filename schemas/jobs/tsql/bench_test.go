package tsql

import (
	"os"
	"testing"
)

// BenchmarkImport measures Import on the test scripts: a maintenance installer's WHILE loop
// over a table variable, and a dbatools export of a whole Agent (19 jobs).
func BenchmarkImport(b *testing.B) {
	for _, file := range []string{"testdata/ola-while-loop.sql", "testdata/dbatools-agent.sql", "testdata/ssms-multistep.sql"} {
		script, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file[len("testdata/"):], func(b *testing.B) {
			b.SetBytes(int64(len(script)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Import(script); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoop measures the evaluator on a loop of 10,000 iterations that fills a table
// variable and reads it back with TOP 1 ... ORDER BY, the shape of installers' job loops.
func BenchmarkLoop(b *testing.B) {
	script := []byte(`DECLARE @t TABLE (id int IDENTITY, name nvarchar(100), done bit DEFAULT 0)
DECLARE @i int = 0, @id int, @name nvarchar(100)
WHILE @i < 100 BEGIN INSERT @t (name) VALUES (N'job ' + CAST(@i AS nvarchar(10))) SET @i += 1 END
WHILE EXISTS (SELECT * FROM @t WHERE done = 0)
BEGIN
	SELECT TOP 1 @id = id, @name = name FROM @t WHERE done = 0 ORDER BY id
	UPDATE @t SET done = 1 WHERE id = @id
END
EXEC sp_add_job @job_name = @name`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Import(script); err != nil {
			b.Fatal(err)
		}
	}
}
