package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/client"
)

// newVar is `msx var`: per-target variables that jobs use as $(VAR:NAME).
func newVar(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "var", Short: "Per-target variables: values that jobs use as $(VAR:NAME), set per server or group"}
	var server, group string
	var secret bool
	scope := func(c *cobra.Command) {
		c.Flags().StringVar(&server, "server", "", "the target server the value is for")
		c.Flags().StringVar(&group, "group", "", "the group the value is for (a server's own value wins)")
	}
	showChange := func(cmd *cobra.Command) func(master.VarChange) error {
		return func(c master.VarChange) error {
			if g.output == "json" {
				return printOne(cmd.OutOrStdout(), c)
			}
			for _, s := range c.Changes {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "posted %d instruction(s)\n", len(c.Posted))
			for _, p := range c.Posted {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s %s (instance_id %d)\n", p.TargetServer, p.Operation, p.InstanceID)
			}
			return nil
		}
	}
	set := &cobra.Command{
		Use:   "set NAME VALUE|- (--server S | --group G) [--secret]",
		Short: "Set a variable for a server or a group; VALUE - reads it from standard input (keeps a secret out of the shell history)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value := args[1]
			if value == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return fmt.Errorf("read the value from standard input: %w", err)
				}
				value = strings.TrimRight(string(b), "\r\n")
			}
			return call(cmd, g, http.MethodPut, "/api/v1/vars/"+client.Path(args[0]),
				map[string]any{"value": value, "server": server, "group": group, "secret": secret}, showChange(cmd))
		},
	}
	scope(set)
	set.Flags().BoolVar(&secret, "secret", false, "never show the value back (*** in lists, history, events and audit)")
	unset := &cobra.Command{
		Use: "unset NAME (--server S | --group G)", Short: "Remove a variable's value for a server or a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (server == "") == (group == "") {
				return errors.New("name one target server (--server S) or one group (--group G)")
			}
			q := url.Values{}
			if server != "" {
				q.Set("server", server)
			} else {
				q.Set("group", group)
			}
			return call(cmd, g, http.MethodDelete, "/api/v1/vars/"+client.Path(args[0])+"?"+q.Encode(), nil, showChange(cmd))
		},
	}
	scope(unset)
	list := &cobra.Command{
		Use: "list [--server S]", Short: "List the values set, or with --server the value each variable of its jobs resolves to there", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/vars"
			if server != "" {
				path += "?" + url.Values{"server": {server}}.Encode()
			}
			return call(cmd, g, http.MethodGet, path, nil, func(rows []master.VarRow) error {
				return print(g, cmd.OutOrStdout(), rows, []column[master.VarRow]{
					{"name", func(r master.VarRow) string { return r.Name }},
					{"server", func(r master.VarRow) string { return dash(r.Server) }},
					{"group", func(r master.VarRow) string { return dash(r.Group) }},
					{"value", func(r master.VarRow) string { return dash(r.Value) }},
					{"from", func(r master.VarRow) string { return dash(r.From) }},
					{"error", func(r master.VarRow) string { return dash(r.Error) }},
				})
			})
		},
	}
	list.Flags().StringVar(&server, "server", "", "show what the variables resolve to on this target server")
	cmd.AddCommand(set, unset, list)
	return cmd
}
