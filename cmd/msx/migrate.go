package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/cmd/msx/internal/migrate"
)

// envSourceDSN holds the DSN of --from and --from-server when the flag is not given, so that a
// password stays out of the process list and the shell history.
const envSourceDSN = "MSX_SOURCE_DSN"

// newMigrate is `msx migrate --from DSN`: an MSX master's multiserver jobs, target servers,
// groups, operators and alerts move to the msx master.
func newMigrate(g *globals) *cobra.Command {
	var (
		from             string
		dryRun           bool
		timeout, tokenTT time.Duration
	)
	cmd := &cobra.Command{
		Use:   "migrate --from DSN [--dry-run]",
		Short: "Move an MSX master (SQL Server Agent multiserver administration) to msx: jobs, targets, groups, operators, alerts",
		Long: `Migrate reads the msdb of an MSX master (DSN: sqlserver://USER:PASSWORD@HOST[:PORT]?database=msdb, or
the environment variable ` + envSourceDSN + `) and creates on the msx master, through its API, the same
target server groups, multiserver jobs (names, categories, owners, enabled flags, steps, schedules,
shared ones copied into each job) with their target servers, operators and alerts, and one
enlistment token per target server, bound to its name.

A job is applied only to the target servers already enlisted into msx, and a group gets only those
members: enlist each server with the command printed for it, run msx migrate again (it compares
with what the master holds and applies only what changed), then run the printed T-SQL on the
server to defect it from the old master. Until it defects, the old master's jobs also run there.

What cannot come across is listed with the reason, never dropped; the exit status is then 1
("partial"). --dry-run changes nothing and prints the plan (-o json for scripts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				from = os.Getenv(envSourceDSN)
			}
			if from == "" {
				return fmt.Errorf("give the old master with --from DSN (or %s), e.g. sqlserver://sa:PASSWORD@OLDMSX?database=msdb", envSourceDSN)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			db, err := migrate.Open(cmd.Context(), from, timeout)
			if err != nil {
				return err
			}
			defer db.Close()
			src, err := migrate.Read(cmd.Context(), db, migrate.Scope{})
			if err != nil {
				return err
			}
			m := &migrate.Migrator{API: c, TokenTTL: tokenTT, Progress: progress(cmd.ErrOrStderr(), "jobs")}
			plan, err := m.Run(cmd.Context(), src, dryRun)
			if err != nil {
				return err
			}
			if g.output == "json" {
				err = printOne(cmd.OutOrStdout(), plan)
			} else {
				printMigration(cmd.OutOrStdout(), plan)
			}
			if err != nil {
				return err
			}
			if n := len(plan.NotMigrated()); n > 0 {
				return &exitError{code: exitPartial, err: fmt.Errorf("%w: %d object(s) not migrated, each listed with its reason (exit status %d)", migrate.ErrPartial, n, exitPartial)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "DSN of the old MSX master's SQL Server (default $"+envSourceDSN+")")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan (what would be created, updated, left alone, or cannot be migrated) and change nothing")
	cmd.Flags().DurationVar(&timeout, "timeout", migrate.DefaultTimeout, "how long to wait for the SQL Server to answer")
	cmd.Flags().DurationVar(&tokenTT, "token-ttl", 72*time.Hour, "life of each enlistment token")
	return cmd
}

// progress returns a callback that prints "N of M what" about ten times, for 20 objects or
// more.
func progress(w io.Writer, what string) func(done, total int) {
	return func(done, total int) {
		if total < 20 {
			return
		}
		step := max(1, total/10)
		if done%step == 0 || done == total {
			fmt.Fprintf(w, "%d of %d %s\n", done, total, what)
		}
	}
}

// printMigration prints a plan for people: each object with its action (unchanged ones are
// only counted), then per target how it moves, then what was not migrated.
func printMigration(w io.Writer, p *migrate.Plan) {
	mode := "applied"
	if p.DryRun {
		mode = "dry run: nothing changed"
	}
	fmt.Fprintf(w, "migration from %s to %s (%s)\n", Escape(p.Source), p.Master, mode)
	for _, it := range p.Items {
		// Unchanged objects are only counted: a rerun over a large fleet prints what moved.
		if it.Action == migrate.ActionNotMigrated || it.Action == migrate.ActionUnchanged && len(it.Notes) == 0 {
			continue
		}
		line := fmt.Sprintf("  %-8s %-40s %s", it.Kind, Escape(it.Name), it.Action)
		if it.Reason != "" {
			line += ": " + Escape(it.Reason)
		}
		fmt.Fprintln(w, line)
		for _, c := range it.Changes {
			fmt.Fprintf(w, "      %s\n", Escape(c))
		}
		for _, n := range it.Notes {
			fmt.Fprintf(w, "      note: %s\n", Escape(n))
		}
	}
	var counts []string
	for _, a := range []string{migrate.ActionCreate, migrate.ActionUpdate, migrate.ActionUnchanged, migrate.ActionPending,
		migrate.ActionNote, migrate.ActionLeftOut, migrate.ActionNotMigrated} {
		if n := p.Counts[a]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, a))
		}
	}
	fmt.Fprintf(w, "summary: %s\n", strings.Join(counts, ", "))
	if len(p.Targets) > 0 {
		fmt.Fprintln(w, "\ntarget servers:")
	}
	for _, t := range p.Targets {
		fmt.Fprintf(w, "  %s\n", Escape(t.Server))
		switch {
		case t.Enlisted:
			fmt.Fprintln(w, "    enlisted into msx")
		case t.Token != "":
			fmt.Fprintf(w, "    1. enlist:  %s   (token expires %s)\n", t.Enlist, t.Expires.Local().Format(time.DateTime))
			fmt.Fprintln(w, "    2. run msx migrate again: it applies the server's jobs and groups")
		case p.DryRun:
			fmt.Fprintln(w, "    1. enlist:  a token bound to it is created when the migration is applied")
		default:
			fmt.Fprintf(w, "    1. enlist with the unused token %s, or revoke it and run msx migrate again for a new one\n", t.TokenID)
		}
		fmt.Fprintf(w, "    3. defect from %s, on the server, once it runs under msx:  %s\n", Escape(p.Source), t.Defect)
	}
	if bad := p.NotMigrated(); len(bad) > 0 {
		fmt.Fprintf(w, "\nnot migrated (%d):\n", len(bad))
		for _, it := range bad {
			fmt.Fprintf(w, "  %s %q: %s\n", it.Kind, Escape(it.Name), Escape(it.Reason))
		}
	}
}
