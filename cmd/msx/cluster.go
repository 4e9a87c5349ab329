package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
)

func newCluster(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "The masters of the bus: which one leads, the lease, replicas"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "The masters, the leader and its lease term, and each stream's and bucket's replica count", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/cluster", nil, func(cs master.ClusterStatus) error {
				w := cmd.OutOrStdout()
				if g.output == "json" {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(cs)
				}
				leader := cs.Leader
				if leader == "" {
					leader = "(none: a takeover is under way)"
				}
				fmt.Fprintf(w, "leader %s  term %d  lease expires %s  (TTL %s)  answered by %s\n\n",
					Escape(leader), cs.Term, ts(&cs.Expires), cs.LeaseTTL, Escape(cs.Self))
				if err := print(g, w, cs.Masters, []column[master.MasterInfo]{
					{"master", func(m master.MasterInfo) string { return m.Name }},
					{"leading", func(m master.MasterInfo) string { return strconv.FormatBool(m.Leading) }},
					{"api", func(m master.MasterInfo) string { return dash(m.API) }},
					{"version", func(m master.MasterInfo) string { return m.Version }},
					{"seen", func(m master.MasterInfo) string { return ts(&m.Seen) }},
				}); err != nil {
					return err
				}
				fmt.Fprintln(w)
				type rep struct {
					name string
					n    int
				}
				var reps []rep
				for k, n := range cs.Replicas {
					reps = append(reps, rep{k, n})
				}
				slices.SortFunc(reps, func(a, b rep) int { return strings.Compare(a.name, b.name) })
				return print(g, w, reps, []column[rep]{
					{"stream or bucket", func(r rep) string { return r.name }},
					{"replicas", func(r rep) string { return strconv.Itoa(r.n) }},
				})
			})
		},
	})
	return cmd
}
