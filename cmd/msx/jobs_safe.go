package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
)

// printPlan prints what `msx job apply --dry-run` would do with one job.
func printPlan(w io.Writer, res master.ApplyResult) {
	switch {
	case res.Created:
		fmt.Fprintf(w, "job %q would be created (version 1)\n", res.Job.Name)
	case len(res.Changes) == 0:
		fmt.Fprintf(w, "job %q is unchanged (version %d)\n", res.Job.Name, res.Job.VersionNumber)
	default:
		fmt.Fprintf(w, "job %q would be updated (version %d)\n", res.Job.Name, res.Job.VersionNumber)
	}
	for _, ch := range res.Changes {
		if ch != "created" {
			fmt.Fprintf(w, "  %s\n", ch)
		}
	}
	if len(res.Posted) > 0 {
		fmt.Fprintf(w, "  would post %d instruction(s):\n", len(res.Posted))
		for _, p := range res.Posted {
			fmt.Fprintf(w, "    %-8s %s\n", p.Operation, p.TargetServer)
		}
	}
	printWarnings(w, res.Warnings)
	fmt.Fprintln(w, "  (dry run: nothing was changed or posted)")
}

func printWarnings(w io.Writer, warnings []string) {
	for _, x := range warnings {
		fmt.Fprintf(w, "  warning: %s\n", x)
	}
}

// newJobEnable is `msx job enable|disable NAME [--server S]...`.
func newJobEnable(g *globals, verb string) *cobra.Command {
	var servers []string
	c := &cobra.Command{
		Use:   verb + " NAME [--server S]...",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a job on every target, or on the servers named only, and post the change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if len(servers) > 0 {
				body = api.EnableRequest{Servers: servers}
			}
			return call(cmd, g, http.MethodPost, "/api/v1/jobs/"+client.Path(args[0])+"/"+verb, body, func(res master.ApplyResult) error {
				if g.output == "json" {
					return printOne(cmd.OutOrStdout(), res)
				}
				w := cmd.OutOrStdout()
				where := "on every target"
				if len(servers) > 0 {
					where = "on " + strings.ToUpper(strings.Join(servers, ", "))
				}
				if len(res.Changes) == 0 {
					fmt.Fprintf(w, "job %q was already %sd %s\n", res.Job.Name, verb, where)
					return nil
				}
				fmt.Fprintf(w, "job %q %sd %s (version %d)\n", res.Job.Name, verb, where, res.Job.VersionNumber)
				if len(res.Posted) > 0 {
					fmt.Fprintf(w, "  posted %d instruction(s): %s\n", len(res.Posted), summarisePosted(res.Posted))
				}
				return nil
			})
		},
	}
	c.Flags().StringSliceVar(&servers, "server", nil, "only this target server (repeatable; default: the whole job)")
	return c
}

// newJobStart is `msx job start|stop NAME [--server S]... [--group G]... [--wait]`. Each
// invocation sends one idempotency key, and sends the request again with it when the master
// does not answer or is changing hands: the master posts nothing twice for one key.
func newJobStart(g *globals, verb, short string) *cobra.Command {
	var servers, groups []string
	var wait bool
	var timeout time.Duration
	var key string
	c := &cobra.Command{Use: verb + " NAME [--server S]... [--group G]... [--wait]", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"server": servers, "group": groups}
			if wait {
				q.Set("wait", timeout.String())
			}
			if key == "" {
				key = client.NewIdempotencyKey()
			}
			path := "/api/v1/jobs/" + client.Path(args[0]) + "/" + verb + "?" + q.Encode()
			if !wait {
				return callRetried(cmd, g, path, key, verb, func(rows []master.Posted) error {
					if err := print(g, cmd.OutOrStdout(), rows, postedCols()); err != nil {
						return err
					}
					printDuplicates(cmd.ErrOrStderr(), rows)
					return nil
				})
			}
			return callRetried(cmd, g, path, key, verb, func(rows []master.StartReport) error {
				if err := print(g, cmd.OutOrStdout(), rows, []column[master.StartReport]{
					{"target_server", func(r master.StartReport) string { return r.TargetServer }},
					{"outcome", func(r master.StartReport) string { return r.Outcome }},
					{"error", func(r master.StartReport) string { return dash(intOrEmpty(r.ErrorCode)) }},
					{"message", func(r master.StartReport) string { return dash(firstLine(r.Message)) }},
				}); err != nil {
					return err
				}
				return startFailures(rows)
			})
		}}
	c.Flags().StringSliceVar(&servers, "server", nil, "only this target server (repeatable; default: every target of the job)")
	c.Flags().StringSliceVar(&groups, "group", nil, "only the job's targets in this group (repeatable)")
	c.Flags().BoolVar(&wait, "wait", false, "wait for each target's answer: started (stopped), refused (22022 already running, ...) or unreachable; exit 1 unless all did")
	c.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "with --wait, how long to wait for the targets (at most 25s)")
	c.Flags().StringVar(&key, "idempotency-key", "", "1 to 64 of [A-Za-z0-9_-]: the same key within 10 minutes posts nothing twice, so a script may run the command again after a failure (default: a random key per invocation)")
	return c
}

// callRetried POSTs path with an idempotency key, sending it again with the same key while
// the master does not answer or is changing hands, and says so on stderr; show prints the
// answer.
func callRetried[T any](cmd *cobra.Command, g *globals, path, key, verb string, show func(T) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var out T
	err = c.DoIdempotent(cmd.Context(), http.MethodPost, path, key, nil, &out, func(err error, wait time.Duration) {
		fmt.Fprintf(cmd.ErrOrStderr(), "msx: %v\nmsx: sending the %s again in %s with the same idempotency key (%s): it cannot %s the job twice\n",
			err, verb, wait.Round(100*time.Millisecond), key, verb)
	})
	if err != nil {
		return err
	}
	return show(out)
}

// printDuplicates says which rows an earlier try of the same request had already posted.
func printDuplicates(w io.Writer, rows []master.Posted) {
	var dup []string
	for _, r := range rows {
		if r.Duplicate {
			dup = append(dup, fmt.Sprintf("%s (%d)", r.TargetServer, r.InstanceID))
		}
	}
	if len(dup) > 0 {
		fmt.Fprintf(w, "already posted by an earlier try of this request, not posted again: %s\n", strings.Join(dup, ", "))
	}
}

// startFailures is the error a waited start exits with when a target refused or did not
// answer.
func startFailures(rows []master.StartReport) error {
	var refused, silent []string
	for _, r := range rows {
		switch r.Outcome {
		case master.StartRefused:
			refused = append(refused, fmt.Sprintf("%s (%d)", r.TargetServer, r.ErrorCode))
		case master.StartUnreachable:
			silent = append(silent, r.TargetServer)
		}
	}
	var parts []string
	if len(refused) > 0 {
		parts = append(parts, "refused on "+strings.Join(refused, ", "))
	}
	if len(silent) > 0 {
		parts = append(parts, "no answer from "+strings.Join(silent, ", ")+" (see msx targetserver list)")
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d target(s) did not start: %s", len(refused)+len(silent), len(rows), strings.Join(parts, "; "))
}
