package tsql

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/export")

// testDay is the date both sides of a round trip are normalised with.
var testDay = time.Date(2024, time.June, 1, 0, 0, 0, 0, time.UTC)

// exportCases are the job documents of the jobs package's testdata, with what Export warns
// about each.
var exportCases = []struct {
	file     string
	warnings []string
}{
	{
		file: "cmdexec-cleanup.yaml",
		warnings: []string{
			"targets not exported: the script creates a job on the server it runs on; run it on the servers of the groups All Servers",
			"step 1 (Delete old files): timeout 30m0s not exported: SQL Server Agent has no step timeout",
		},
	},
	{
		file: "cron-powershell.yaml",
		warnings: []string{
			`targets not exported: the script creates a job on the server it runs on; run it on the servers SQL01, SQL02, SQL03\REPORTING`,
			"step 2 (Export to CSV): timeout 5m0s not exported: SQL Server Agent has no step timeout",
			`schedule "every 15 minutes, business hours" not exported: the cron schedule "*/15 7-19 * * MON-FRI" in Europe/Paris cannot be expressed as a SQL Server Agent schedule`,
		},
	},
	{
		file: "log-backup.json",
		warnings: []string{
			"targets not exported: the script creates a job on the server it runs on; run it on the servers of the groups Production",
			"step 1 (DatabaseBackup - USER_DATABASES - LOG): timeout 45m0s not exported: SQL Server Agent has no step timeout",
		},
	},
	{
		file: "multi-step-retries.yaml",
		warnings: []string{
			`targets not exported: the script creates a job on the server it runs on; run it on the servers SQL-DW01, SQL-DW02\ETL`,
			"step 2 (Merge into warehouse): timeout 1h30m0s not exported: SQL Server Agent has no step timeout",
		},
	},
	{
		file: "ola-index-maintenance.yaml",
		warnings: []string{
			`targets not exported: the script creates a job on the server it runs on; run it on the servers SQL01, SQL02\SALES and the servers of the groups Production`,
			"step 1 (IndexOptimize - USER_DATABASES): timeout 4h0m0s not exported: SQL Server Agent has no step timeout",
		},
	},
}

// TestExportRoundTrip exports the realistic jobs of the jobs package's testdata, compares the
// scripts with the golden files in testdata/export, and checks that importing a script gives
// back the normalised job less what Export warned about.
func TestExportRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(exportCases) {
		t.Errorf("../testdata has %d job files and exportCases %d: add the new ones", len(files), len(exportCases))
	}
	for _, tc := range exportCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			j, err := jobs.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			script, warnings := Export(j)
			if !reflect.DeepEqual(warnings, tc.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tc.warnings)
			}
			golden(t, filepath.Join("testdata/export", strings.TrimSuffix(tc.file, filepath.Ext(tc.file))+".sql"), script)

			res, err := Import(script)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != 0 {
				t.Errorf("importing the exported script reports problems: %v", res.Problems)
			}
			if len(res.Jobs) != 1 {
				t.Fatalf("got %d jobs, want 1", len(res.Jobs))
			}
			checkRoundTrip(t, j, res.Jobs[0])
		})
	}
}

// TestExportImported exports the jobs imported from the test scripts and imports them again.
func TestExportImported(t *testing.T) {
	for _, tc := range importCases {
		if tc.wantErr != nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(caseInput(t, tc.file, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range res.Jobs {
				script, _ := Export(j)
				again, err := Import(script)
				if err != nil {
					t.Fatal(err)
				}
				if len(again.Problems) != 0 || len(again.Jobs) != 1 {
					t.Fatalf("reimport: %d jobs, problems %v", len(again.Jobs), again.Problems)
				}
				checkRoundTrip(t, j, again.Jobs[0])
			}
		})
	}
}

func TestExportQuoting(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  jobs.Job
	}{
		{"quotes", jobs.Job{Name: "O'Brien's job", Description: "It's 'quoted'", Steps: []jobs.Step{{StepName: "'", Command: "SELECT N'''';"}}}},
		{"comment markers in names", jobs.Job{Name: "a */ b /* c", Category: "x*/", Steps: []jobs.Step{{StepName: "/*/", Command: "--"}}}},
		{"line breaks in names", jobs.Job{Name: "two\nlines\r\nGO\n", Steps: []jobs.Step{{StepName: "s\rx", Command: "GO\nGO\n"}}}},
		{"brackets and tokens", jobs.Job{Name: "[job]]", Owner: `DOMAIN\user`, Steps: []jobs.Step{{StepName: "s", Command: "$(ESCAPE_SQUOTE(SRVR))", Subsystem: "CmdExec"}}}},
		{"no steps", jobs.Job{Name: "empty"}},
		{"schedule time zone", jobs.Job{Name: "tz", Steps: []jobs.Step{{StepName: "s", Command: "x"}},
			Schedules: []schedule.Schedule{{Name: "z", FreqType: 1, ActiveStartDate: 20250101, TimeZone: "Europe/Paris"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, _ := Export(tc.job)
			res, err := Import(script)
			if err != nil {
				t.Fatalf("%v\n%s", err, script)
			}
			if len(res.Problems) != 0 || len(res.Jobs) != 1 {
				t.Fatalf("%d jobs, problems %v\n%s", len(res.Jobs), res.Problems, script)
			}
			checkRoundTrip(t, tc.job, res.Jobs[0])
		})
	}
}

// checkRoundTrip compares an imported job with the job it was exported from: both normalised,
// and without what Export does not write (targets, step timeouts, cron schedules, time zones).
func checkRoundTrip(t testing.TB, exported, imported jobs.Job) {
	t.Helper()
	want := exportable(exported)
	got := exportable(imported)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changes the job: %q\n got %s\nwant %s", jobs.Diff(want, got), toJSON(got), toJSON(want))
	}
}

// exportable returns a normalised copy of j without what Export does not write, with every
// schedule's enabled flag set (Normalize leaves it nil; Export writes it).
func exportable(j jobs.Job) jobs.Job {
	j = j.Clone()
	j.Normalize(testDay)
	j.JobID, j.VersionNumber, j.Targets = "", 0, jobs.Targets{}
	for i := range j.Steps {
		j.Steps[i].Timeout = 0
	}
	var scheds []schedule.Schedule
	for _, s := range j.Schedules {
		if s.Cron != "" {
			continue
		}
		s.TimeZone = ""
		s.Enabled = ptr(s.IsEnabled())
		scheds = append(scheds, s)
	}
	j.Schedules = scheds
	return j
}

// golden compares got with the file, or writes the file with -update.
func golden(t testing.TB, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the script exported (run go test -update to accept it):\n%s", file, got)
	}
}
