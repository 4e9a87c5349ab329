package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
)

// errNotConfirmed is returned when an operator answers no, or when a destructive verb runs
// without a terminal and without --yes.
var errNotConfirmed = errors.New("not confirmed")

// confirmUndeploy shows what a destructive change will take away from which servers (the
// master's plan, GET /api/v1/plans/undeploy?query) and goes on only with --yes or, on a
// terminal, after the operator answers "y".
func confirmUndeploy(cmd *cobra.Command, g *globals, query url.Values, yes bool) error {
	var plan master.UndeployPlan
	if err := call(cmd, g, http.MethodGet, "/api/v1/plans/undeploy?"+query.Encode(), nil, func(p master.UndeployPlan) error {
		plan = p
		return nil
	}); err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	describePlan(w, plan)
	if yes {
		return nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !isTerminal(in) {
		return fmt.Errorf("%w: %s changes the fleet as shown above; run it again with --yes to go ahead (stdin is not a terminal, so msx cannot ask)", errNotConfirmed, plan.Change)
	}
	fmt.Fprintf(w, "Go ahead and %s? [y/N] ", plan.Change)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%w: nothing changed", errNotConfirmed)
	}
	return nil
}

// describePlan writes a plan as one line per server: the jobs it loses.
func describePlan(w io.Writer, p master.UndeployPlan) {
	by := map[string][]string{}
	for _, u := range p.Undeploy {
		by[u.Server] = append(by[u.Server], u.Job)
	}
	servers := make([]string, 0, len(by))
	for s := range by {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	if len(p.Undeploy) == 0 {
		fmt.Fprintf(w, "%s un-deploys no job from any server.\n", p.Change)
	} else {
		fmt.Fprintf(w, "%s un-deploys %d job(s) from %d server(s) (a DELETE posted for each):\n", p.Change, len(p.Undeploy), len(servers))
		for _, s := range servers {
			jobs := by[s]
			slices.Sort(jobs)
			fmt.Fprintf(w, "  %s: %s\n", s, strings.Join(jobs, ", "))
		}
	}
	if p.Defect != "" {
		fmt.Fprintf(w, "It also posts DEFECT to %s, which then deletes every job it got from this master.\n", p.Defect)
	}
}

// destructive completes cmd as a verb that un-deploys jobs: it shows the plan (query), asks
// (or needs --yes), then sends method path and prints the instructions posted.
func destructive(cmd *cobra.Command, g *globals, req func(args []string) (query url.Values, method, path string)) *cobra.Command {
	var yes bool
	cmd.Flags().BoolVar(&yes, "yes", false, "go ahead without asking (needed when stdin is not a terminal)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q, method, path := req(args)
		if err := confirmUndeploy(cmd, g, q, yes); err != nil {
			return err
		}
		return call(cmd, g, method, path, nil, func(rows []master.Posted) error {
			return print(g, cmd.OutOrStdout(), rows, postedCols())
		})
	}
	return cmd
}
