package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
)

// newJobImport is `msx job import FILE.sql`: SQL Server Agent job scripts (SSMS "Script Job as
// CREATE", maintenance solutions) become msx jobs.
func newJobImport(g *globals) *cobra.Command {
	var dryRun bool
	var flags importFlags
	var srv serverImport // --from-server (import_server.go)
	cmd := &cobra.Command{
		Use:   "import FILE.sql [--dry-run] [--platform windows|linux] [--edition E] [--var NAME=VALUE] | --from-server DSN [--job NAME] [--category C] [--dry-run]",
		Short: "Import SQL Server Agent job scripts (SSMS \"Script Job as CREATE\", dbatools, maintenance solutions) as msx jobs; - for stdin",
		Long: `Import reads the T-SQL that SQL Server Management Studio's "Script Job as CREATE", dbatools'
Export-DbaScript and maintenance solutions write (sp_add_job, sp_add_jobstep, sp_add_jobschedule,
...) and applies each job it creates to the master, by name, as "msx job apply" does.

The script is evaluated as SQL Server would run it on a new server of the --platform and
--edition given: variables, table variables, WHILE loops, IF on SERVERPROPERTY, @@VERSION or
EXISTS (SELECT ... FROM msdb.dbo.sysjobs ...), string functions, dynamic SQL and SQLCMD
$(VARIABLES) (--var). Everything the script holds that msx does not translate is printed with
its line. A job that cannot be an msx job (a Snapshot step, retry_attempts 2147483647) is named
with its line and the reason, the other jobs are imported, and the exit status is 3 (partial).
--from-server reads a running SQL Server's local jobs from its msdb instead of a script.
With --dry-run nothing is applied: the msx job documents are printed instead (YAML; with -o json
an object {"imported": [...], "not_imported": [{job, line, reason}], "problems": [...]}).`,
		Args: srv.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if srv.dsn != "" {
				return srv.run(cmd, g, dryRun)
			}
			opt, err := flags.options()
			if err != nil {
				return err
			}
			script, err := readFile(args[0])
			if err != nil {
				return err
			}
			res, err := tsql.ImportWith(script, opt)
			// Problems go to stderr first, also when the script created no job: they say why.
			printProblems(cmd.ErrOrStderr(), args[0], res.Problems)
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			return importResult(cmd, g, args[0], res, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the msx job documents instead of applying them")
	flags.add(cmd)
	srv.flags(cmd)
	return cmd
}

func printProblems(w io.Writer, file string, problems []tsql.Problem) {
	if len(problems) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d statement(s) or parameter(s) not translated:\n", file, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s:%d: %s\n", file, p.Line, p.Message)
	}
}

// printJobDocs writes jobs as YAML documents separated by ---, or as one JSON array.
func printJobDocs(w io.Writer, output string, list []jobs.Job) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	for i, j := range list {
		b, err := yaml.Marshal(j)
		if err != nil {
			return fmt.Errorf("job %q: %w", j.Name, err)
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// applyJobs posts each job to the master (`msx job apply`, `msx job import`) and prints what
// changed. It stops at the first job the master refuses; the jobs before it stay applied.
func applyJobs(cmd *cobra.Command, g *globals, list []jobs.Job, dryRun ...bool) error {
	results, err := postJobs(cmd, g, list, len(dryRun) > 0 && dryRun[0])
	if err != nil {
		return err
	}
	if g.output == "json" {
		return printOne(cmd.OutOrStdout(), results)
	}
	printApplied(cmd.OutOrStdout(), results)
	return nil
}

// newJobExport is `msx job export NAME --format tsql`.
func newJobExport(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export NAME --format tsql",
		Short: "Write a job as the T-SQL script SSMS writes (\"Script Job as CREATE\"), for a plain SQL Server Agent",
		Long: `Export writes the job as a T-SQL script on stdout. What SQL Server Agent cannot express
(cron schedules, schedule time zones, step timeouts, the job's targets) is left out of the script
and listed on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "tsql" {
				return fmt.Errorf("--format %q: the only format is tsql", format)
			}
			return call(cmd, g, http.MethodGet, "/api/v1/jobs/"+client.Path(args[0]), nil, func(v api.JobView) error {
				script, warnings := tsql.Export(v.Job)
				for _, w := range warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
				}
				_, err := cmd.OutOrStdout().Write(script)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "tsql", "output format: tsql")
	return cmd
}
