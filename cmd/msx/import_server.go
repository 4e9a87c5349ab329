package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/cmd/msx/internal/migrate"
	"github.com/msx-project/msx/schemas/jobs"
)

// serverImport holds the flags of `msx job import --from-server DSN [--job NAME] [--category C]`:
// a SQL Server's local jobs, read from its msdb, become msx jobs.
type serverImport struct {
	dsn, job, category string
	timeout            time.Duration
}

func (s *serverImport) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.dsn, "from-server", "", "import the local jobs of this SQL Server (a DSN, e.g. sqlserver://USER:PASSWORD@HOST?database=msdb; - reads $"+envSourceDSN+") instead of a script")
	cmd.Flags().StringVar(&s.job, "job", "", "with --from-server: only the job of this name")
	cmd.Flags().StringVar(&s.category, "category", "", "with --from-server: only the jobs of this category")
	cmd.Flags().DurationVar(&s.timeout, "timeout", migrate.DefaultTimeout, "with --from-server: how long to wait for the SQL Server to answer")
}

// args checks the arguments of msx job import: a script, or --from-server and no script.
func (s *serverImport) args(_ *cobra.Command, args []string) error {
	switch {
	case s.dsn != "" && len(args) > 0:
		return fmt.Errorf("give a script (%s) or --from-server, not both", args[0])
	case s.dsn == "" && len(args) != 1:
		return errors.New("give one script to import (FILE.sql, or - for stdin), or --from-server DSN")
	case s.dsn == "" && (s.job != "" || s.category != ""):
		return errors.New("--job and --category choose jobs of --from-server")
	}
	return nil
}

// run imports the server's local jobs: each job that is a valid msx job is applied (or, with
// dryRun, printed); each other one is named with the reason, and the exit status says partial.
func (s *serverImport) run(cmd *cobra.Command, g *globals, dryRun bool) error {
	dsn := s.dsn
	if dsn == "-" {
		if dsn = os.Getenv(envSourceDSN); dsn == "" {
			return fmt.Errorf("--from-server -: $%s is empty", envSourceDSN)
		}
	}
	db, err := migrate.Open(cmd.Context(), dsn, s.timeout)
	if err != nil {
		return err
	}
	defer db.Close()
	src, err := migrate.Read(cmd.Context(), db, migrate.Scope{Local: true, Job: s.job, Category: s.category})
	if err != nil {
		return err
	}
	errw := cmd.ErrOrStderr()
	notImported := 0
	for _, it := range src.Skipped {
		notImported++
		fmt.Fprintf(errw, "job %q not imported: %s\n", Escape(it.Name), Escape(it.Reason))
	}
	today := time.Now()
	var list []jobs.Job
	for _, sj := range src.Jobs {
		j := sj.Job
		for _, n := range sj.Notes {
			fmt.Fprintf(errw, "job %q: %s\n", Escape(j.Name), Escape(n))
		}
		j.Normalize(today)
		if probs := j.Validate(); len(probs) > 0 {
			notImported++
			fmt.Fprintf(errw, "job %q not imported: it is not a valid msx job (%d problem(s)):\n", Escape(j.Name), len(probs))
			for _, p := range probs {
				fmt.Fprintf(errw, "  %s\n", Escape(p.String()))
			}
			continue
		}
		list = append(list, j)
	}
	if len(list) == 0 && notImported == 0 {
		what := "local jobs"
		if s.job != "" {
			what = fmt.Sprintf("local job named %q", s.job)
		}
		if s.category != "" {
			what += fmt.Sprintf(" in category %q", s.category)
		}
		return fmt.Errorf("%s has no %s", Escape(src.Server), what)
	}
	if len(list) > 0 {
		if dryRun {
			err = printJobDocs(cmd.OutOrStdout(), g.output, list)
		} else {
			err = applyJobs(cmd, g, list)
		}
		if err != nil {
			return err
		}
	}
	if notImported > 0 {
		return &exitError{code: exitPartial, err: fmt.Errorf("%w: %d job(s) imported, %d not imported (listed above with the reason; exit status %d)", migrate.ErrPartial, len(list), notImported, exitPartial)}
	}
	return nil
}
