package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
)

// errInvalidImport is returned when a job found in a script does not validate; each problem
// has been printed.
var errInvalidImport = errors.New("the script's jobs are not valid msx jobs: nothing was applied")

// newJobImport is `msx job import FILE.sql`: SQL Server Agent job scripts (SSMS "Script Job as
// CREATE", maintenance solutions) become msx jobs.
func newJobImport(g *globals) *cobra.Command {
	var dryRun bool
	var srv serverImport // --from-server (import_server.go)
	cmd := &cobra.Command{
		Use:   "import FILE.sql | --from-server DSN [--job NAME] [--category C] [--dry-run]",
		Short: "Import SQL Server Agent job scripts (SSMS \"Script Job as CREATE\") as msx jobs; - for stdin",
		Long: `Import reads the T-SQL that SQL Server Management Studio's "Script Job as CREATE" and
maintenance solutions write (sp_add_job, sp_add_jobstep, sp_add_jobschedule, ...) and applies
each job it creates to the master, by name, as "msx job apply" does. Everything the script holds
that msx does not translate is printed with its line. With --dry-run nothing is applied: the msx
job documents are printed instead (YAML, or a JSON array with -o json).`,
		Args: srv.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if srv.dsn != "" {
				return srv.run(cmd, g, dryRun)
			}
			script, err := readFile(args[0])
			if err != nil {
				return err
			}
			res, err := tsql.Import(script)
			// Problems go to stderr first, also when the script created no job: they say why.
			printProblems(cmd.ErrOrStderr(), args[0], res.Problems)
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			today := time.Now()
			invalid := false
			for i := range res.Jobs {
				j := &res.Jobs[i]
				j.Normalize(today)
				if l := j.Validate(); len(l) > 0 {
					invalid = true
					fmt.Fprintf(cmd.ErrOrStderr(), "job %q is invalid (%d problem(s)):\n", j.Name, len(l))
					for _, p := range l {
						fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", p)
					}
				}
			}
			if invalid {
				return errInvalidImport
			}
			if dryRun {
				if n, m := len(res.Operators), len(res.Alerts); n+m > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "%d operator(s) and %d alert(s) would be created\n", n, m)
				}
				return printJobDocs(cmd.OutOrStdout(), g.output, res.Jobs)
			}
			if err := applyImportedNotify(cmd, g, res.Operators, res.Alerts); err != nil {
				return err
			}
			return applyJobs(cmd, g, res.Jobs)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the msx job documents instead of applying them")
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
	c, err := g.client()
	if err != nil {
		return err
	}
	path := "/api/v1/jobs"
	if len(dryRun) > 0 && dryRun[0] {
		path += "?dry_run=true"
	}
	results := make([]master.ApplyResult, 0, len(list))
	for _, j := range list {
		var res master.ApplyResult
		if err := c.Do(cmd.Context(), http.MethodPost, path, j, &res); err != nil {
			if len(results) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d job(s) applied before this one failed\n", len(results))
			}
			return explain(j.Name, err)
		}
		results = append(results, res)
	}
	if g.output == "json" {
		return printOne(cmd.OutOrStdout(), results)
	}
	w := cmd.OutOrStdout()
	for _, res := range results {
		if res.DryRun {
			printPlan(w, res)
			continue
		}
		verb := "updated"
		switch {
		case res.Created:
			verb = "created"
		case len(res.Changes) == 0:
			verb = "unchanged"
		}
		fmt.Fprintf(w, "job %q %s (version %d, job_id %s)\n", res.Job.Name, verb, res.Job.VersionNumber, res.Job.JobID)
		for _, ch := range res.Changes {
			if ch != "created" {
				fmt.Fprintf(w, "  %s\n", ch)
			}
		}
		if len(res.Posted) > 0 {
			fmt.Fprintf(w, "  posted %d instruction(s): %s\n", len(res.Posted), summarisePosted(res.Posted))
		}
		printWarnings(w, res.Warnings)
	}
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
