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

// newJobStart is `msx job start|stop NAME [--server S]... [--group G]... [--wait]`.
func newJobStart(g *globals, verb, short string) *cobra.Command {
	var servers, groups []string
	var wait bool
	var timeout time.Duration
	c := &cobra.Command{Use: verb + " NAME [--server S]... [--group G]... [--wait]", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"server": servers, "group": groups}
			if wait {
				q.Set("wait", timeout.String())
			}
			path := "/api/v1/jobs/" + client.Path(args[0]) + "/" + verb + "?" + q.Encode()
			if !wait {
				return call(cmd, g, http.MethodPost, path, nil, func(rows []master.Posted) error {
					return print(g, cmd.OutOrStdout(), rows, postedCols())
				})
			}
			return call(cmd, g, http.MethodPost, path, nil, func(rows []master.StartReport) error {
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
	return c
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
