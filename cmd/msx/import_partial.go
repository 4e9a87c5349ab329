package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/jobs/tsql"
)

// exitPartial is the exit status of `msx job import` (and `msx migrate`) when some jobs of the
// script or server were imported (or, with --dry-run, would be) and others cannot be msx jobs. Every job that
// cannot is named on stderr with its line and the reason, and in the JSON output.
const exitPartial = 3

// exitError is an error that sets the exit status of msx.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode returns the exit status for the error a command returned.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// errPartialImport is wrapped in the exitPartial error.
var errPartialImport = errors.New("partial import")

// importFlags are the flags of `msx job import` that say what server the script is evaluated
// for.
type importFlags struct {
	platform, edition string
	vars              []string
}

func (f *importFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "windows", "the platform the script is evaluated for: windows or linux (sys.dm_os_host_info, @@VERSION)")
	cmd.Flags().StringVar(&f.edition, "edition", "enterprise",
		"the edition the script is evaluated for: enterprise, developer, standard, web, express or managed-instance (SERVERPROPERTY('Edition'), ('EngineEdition'))")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "a SQLCMD variable NAME=VALUE for $(NAME) in the script, as sqlcmd -v (repeat for more); a :setvar in the script wins")
}

// options returns the tsql.Options of the flags.
func (f *importFlags) options() (tsql.Options, error) {
	opt := tsql.Options{Platform: f.platform, Edition: f.edition}
	for _, v := range f.vars {
		name, value, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return opt, fmt.Errorf("--var %q: write NAME=VALUE", v)
		}
		if opt.Vars == nil {
			opt.Vars = map[string]string{}
		}
		opt.Vars[strings.TrimSpace(name)] = value
	}
	return opt, nil
}

// importReport is the JSON output of `msx job import -o json`: the jobs imported (their
// documents with --dry-run, the master's apply results otherwise) and those that cannot be
// msx jobs.
type importReport struct {
	Imported    any                `json:"imported"`
	NotImported []tsql.NotImported `json:"not_imported"`
	Problems    []tsql.Problem     `json:"problems"`
}

// importResult applies (or, with dryRun, prints) the valid jobs of res with its operators and
// alerts, and reports the jobs that cannot be msx jobs. It returns an exitError with
// exitPartial when some jobs are not imported, and an error when none is valid. source names
// the script in messages (`msx job import FILE`).
func importResult(cmd *cobra.Command, g *globals, source string, res tsql.Result, dryRun bool) error {
	ok, not := res.Partition(time.Now())
	stderr := cmd.ErrOrStderr()
	for _, n := range not {
		fmt.Fprintf(stderr, "%s:%d: job %q not imported: %s\n", source, n.Line, n.Job, n.Reason)
	}
	if len(ok) == 0 && len(not) > 0 {
		if g.output == "json" {
			_ = printOne(cmd.OutOrStdout(), importReport{Imported: []jobs.Job{}, NotImported: not, Problems: nonNil(res.Problems)})
		}
		return fmt.Errorf("%s: none of its %d job(s) is a valid msx job: nothing was applied", source, len(not))
	}
	var imported any = ok
	if dryRun {
		if n, m := len(res.Operators), len(res.Alerts); n+m > 0 {
			fmt.Fprintf(stderr, "%d operator(s) and %d alert(s) would be created\n", n, m)
		}
		if g.output != "json" {
			if err := printJobDocs(cmd.OutOrStdout(), g.output, ok); err != nil {
				return err
			}
		}
	} else {
		if err := applyImportedNotify(cmd, g, res.Operators, res.Alerts); err != nil {
			return err
		}
		results, err := postJobs(cmd, g, ok, false)
		if err != nil {
			return err
		}
		imported = results
		if g.output != "json" {
			printApplied(cmd.OutOrStdout(), results)
		}
	}
	if g.output == "json" {
		if err := printOne(cmd.OutOrStdout(), importReport{Imported: imported, NotImported: nonNil(not), Problems: nonNil(res.Problems)}); err != nil {
			return err
		}
	}
	if len(not) > 0 {
		verb := "imported"
		if dryRun {
			verb = "would be imported"
		}
		return &exitError{code: exitPartial, err: fmt.Errorf("%w of %s: %d job(s) %s, %d not (exit status %d)", errPartialImport, source, len(ok), verb, len(not), exitPartial)}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// postJobs posts each job to the master as `msx job apply` does. It stops at the first job the
// master refuses; the jobs before it stay applied.
func postJobs(cmd *cobra.Command, g *globals, list []jobs.Job, dryRun bool) ([]master.ApplyResult, error) {
	c, err := g.client()
	if err != nil {
		return nil, err
	}
	path := "/api/v1/jobs"
	if dryRun {
		path += "?dry_run=true"
	}
	results := make([]master.ApplyResult, 0, len(list))
	for _, j := range list {
		var res master.ApplyResult
		if err := c.Do(cmd.Context(), http.MethodPost, path, j, &res); err != nil {
			if len(results) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d job(s) applied before this one failed\n", len(results))
			}
			return results, explain(j.Name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// printApplied prints what applying changed, job by job (with ?dry_run, what it would change).
func printApplied(w io.Writer, results []master.ApplyResult) {
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
}
