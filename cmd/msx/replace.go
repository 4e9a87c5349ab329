package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/registry"
)

// addTargetServerSecurity adds `targetserver replace` and `targetserver quarantined`.
func addTargetServerSecurity(g *globals, cmd *cobra.Command) {
	cmd.AddCommand(&cobra.Command{
		Use:   "replace NAME",
		Short: "Let the next enlistment of an enlisted name (with a new token) replace its agent; the old agent's key is revoked (MSX 14296 otherwise)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodPost, "/api/v1/targetservers/"+client.Path(args[0])+"/enlistment/replace", struct{}{}, func(r api.ReplaceReply) error {
				if g.output == "json" {
					return printOne(cmd.OutOrStdout(), r)
				}
				fmt.Fprintln(cmd.OutOrStdout(), Escape(r.Message))
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "quarantined",
		Short: "Registry records that failed validation when the master started (not trusted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/quarantine", nil, func(rows []registry.Quarantined) error {
				return print(g, cmd.OutOrStdout(), rows, []column[registry.Quarantined]{
					{"bucket", func(q registry.Quarantined) string { return q.Bucket }},
					{"key", func(q registry.Quarantined) string { return Escape(q.Key) }},
					{"revision", func(q registry.Quarantined) string { return strconv.FormatUint(q.Revision, 10) }},
					{"reason", func(q registry.Quarantined) string { return Escape(q.Reason) }},
				})
			})
		},
	})
}
