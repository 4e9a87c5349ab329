package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
)

// call runs one API request and prints its answer.
func call[T any](cmd *cobra.Command, g *globals, method, path string, body any, show func(T) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var out T
	if err := c.Do(cmd.Context(), method, path, body, &out); err != nil {
		return err
	}
	if show == nil {
		return printOne(cmd.OutOrStdout(), out)
	}
	return show(out)
}

var targetCols = []column[master.TargetServer]{
	{"server_id", func(t master.TargetServer) string { return strconv.Itoa(t.ServerID) }},
	{"server_name", func(t master.TargetServer) string { return t.ServerName }},
	{"location", func(t master.TargetServer) string { return dash(t.Location) }},
	{"time_zone_adjustment", func(t master.TargetServer) string { return strconv.Itoa(t.TimeZoneAdjustment) }},
	{"enlist_date", func(t master.TargetServer) string { return ts(&t.EnlistDate) }},
	{"last_poll_date", func(t master.TargetServer) string { return ts(t.LastPollDate) }},
	{"status", func(t master.TargetServer) string { return strconv.Itoa(t.Status) + " " + statusWords(t.Status) }},
	{"unread_instructions", func(t master.TargetServer) string { return strconv.Itoa(t.UnreadInstructions) }},
	{"local_time", func(t master.TargetServer) string {
		if t.LocalTime == nil {
			return "-"
		}
		return t.LocalTime.Format("2006-01-02 15:04:05")
	}},
	{"enlisted_by", func(t master.TargetServer) string { return dash(t.EnlistedBy) }},
	{"poll_interval", func(t master.TargetServer) string { return strconv.Itoa(t.PollInterval) }},
	{"version", func(t master.TargetServer) string { return t.Version }},
	{"connected", func(t master.TargetServer) string { return strconv.FormatBool(t.Connected) }},
	{"download_errors", func(t master.TargetServer) string { return strconv.Itoa(t.DownloadErrors) }},
	{"disk", func(t master.TargetServer) string {
		switch {
		case t.Disk == nil:
			return "-"
		case t.Disk.HeldReports > 0:
			return fmt.Sprintf("%s (%d held)", t.Disk.State, t.Disk.HeldReports)
		}
		return t.Disk.State
	}},
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newTargetServer(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "targetserver", Aliases: []string{"targetservers", "ts"}, Short: "Enlisted target servers (sp_help_targetserver and friends)"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List target servers with their status (1 normal, 2 suspected offline, 4 blocked, 8 disk full)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/targetservers", nil, func(rows []master.TargetServer) error {
				return print(g, cmd.OutOrStdout(), rows, targetCols)
			})
		},
	}, &cobra.Command{
		Use: "show NAME", Short: "Show one target server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call[master.TargetServer](cmd, g, http.MethodGet, "/api/v1/targetservers/"+client.Path(args[0]), nil, nil)
		},
	})
	var noPost, yes bool
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a target server (posts DEFECT to it unless --no-post-defection); shows what it un-deploys first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"server": {args[0]}, "no_post_defection": {strconv.FormatBool(noPost)}}
			if err := confirmUndeploy(cmd, g, q, yes); err != nil {
				return err
			}
			return call[map[string]any](cmd, g, http.MethodDelete,
				"/api/v1/targetservers/"+client.Path(args[0])+"?no_post_defection="+strconv.FormatBool(noPost), nil, nil)
		},
	}
	del.Flags().BoolVar(&noPost, "no-post-defection", false, "only remove the master's records (after a forced defection, or a target that is gone)")
	del.Flags().BoolVar(&yes, "yes", false, "go ahead without asking (needed when stdin is not a terminal)")
	cmd.AddCommand(del)
	addTargetServerSecurity(g, cmd)
	for _, a := range []struct{ name, short string }{
		{"resync", "Delete pending instructions, then post DELETE of all jobs and an INSERT of every job targeted at it"},
		{"setpoll", "Post SET-POLL: set the poll (heartbeat) interval, 10 to 28800 seconds"},
		{"synctime", "Post SYNC-TIME: record the target's clock offset from the master"},
		{"reenlist", "Post RE-ENLIST: the target sends its enlistment information again"},
	} {
		var all bool
		use := a.name + " NAME...|--all"
		if a.name == "setpoll" {
			use = a.name + " NAME...|--all SECONDS"
		}
		c := &cobra.Command{
			Use: use, Short: a.short,
			RunE: func(cmd *cobra.Command, args []string) error {
				req := api.ActionRequest{All: all}
				if a.name == "setpoll" {
					if len(args) == 0 {
						return fmt.Errorf("setpoll needs SECONDS (10 to 28800)")
					}
					secs, err := strconv.Atoi(args[len(args)-1])
					if err != nil {
						return fmt.Errorf("setpoll: SECONDS %q is not a number (10 to 28800)", args[len(args)-1])
					}
					req.Seconds, args = secs, args[:len(args)-1]
				}
				if all == (len(args) > 0) {
					return fmt.Errorf("%s: name the target servers, or use --all (not both)", a.name)
				}
				req.Servers = args
				return call(cmd, g, http.MethodPost, "/api/v1/targetservers/actions/"+a.name, req, func(rows []master.Posted) error {
					return print(g, cmd.OutOrStdout(), rows, postedCols())
				})
			},
		}
		c.Flags().BoolVar(&all, "all", false, "every enlisted target server")
		cmd.AddCommand(c)
	}
	return cmd
}

func newToken(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Enlistment and API tokens"}
	var role, ttl, desc, server string
	create := &cobra.Command{
		Use: "create", Short: "Create a token (default: a one-time enlistment token valid 24h)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodPost, "/api/v1/tokens", api.TokenRequest{Role: role, TTL: ttl, Description: desc, Server: server},
				func(r api.TokenReply) error {
					if g.output == "json" {
						return printOne(cmd.OutOrStdout(), r)
					}
					exp := "never"
					if !r.Expires.IsZero() {
						exp = r.Expires.Local().Format(time.RFC3339)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n\nrole %s, id %s, expires %s. It is shown only once.\n", r.Token, r.Role, r.ID, exp)
					if r.Role == auth.RoleEnlist {
						name := `HOST[\INSTANCE]`
						if r.Server != "" {
							name = r.Server
							fmt.Fprintf(cmd.OutOrStdout(), "It enlists only %s.\n", r.Server)
						}
						bus := "NATS_URL"
						if r.NATSURL != "" {
							bus = r.NATSURL
						}
						fmt.Fprintf(cmd.OutOrStdout(), "Enlist a target with:\n  msx target --name %s --token %s --nats %s --data DIR\n", name, r.Token, bus)
					}
					return nil
				})
		},
	}
	create.Flags().StringVar(&role, "role", auth.RoleEnlist, "enlist (one-time, for a new target), viewer, operator (may also start and stop jobs) or admin (API)")
	create.Flags().StringVar(&ttl, "ttl", "", "validity, e.g. 24h (default 24h for enlist, no expiry for API tokens)")
	create.Flags().StringVar(&desc, "description", "", "what the token is for")
	create.Flags().StringVar(&server, "server", "", "bind the enlistment token to this server name: it enlists no other")
	cmd.AddCommand(create, &cobra.Command{
		Use: "list", Short: "List tokens (never their secret)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/tokens", nil, func(rows []auth.Record) error {
				return print(g, cmd.OutOrStdout(), rows, []column[auth.Record]{
					{"id", func(r auth.Record) string { return r.ID }},
					{"role", func(r auth.Record) string { return r.Role }},
					{"created", func(r auth.Record) string { return ts(&r.Created) }},
					{"expires", func(r auth.Record) string { return ts(&r.Expires) }},
					{"server", func(r auth.Record) string { return dash(r.Server) }},
					{"used_by", func(r auth.Record) string { return dash(r.UsedBy) }},
					{"revoked", func(r auth.Record) string { return strconv.FormatBool(r.Revoked) }},
					{"description", func(r auth.Record) string { return dash(r.Description) }},
				})
			})
		},
	}, &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token by its id (msx token list)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call[auth.Record](cmd, g, http.MethodDelete, "/api/v1/tokens/"+client.Path(args[0]), nil, nil)
		},
	})
	return cmd
}

func newGroup(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Target server groups"}
	showGroups := func(cmd *cobra.Command) func([]registry.Group) error {
		return func(rows []registry.Group) error {
			return print(g, cmd.OutOrStdout(), rows, []column[registry.Group]{
				{"name", func(gr registry.Group) string { return gr.Name }},
				{"members", func(gr registry.Group) string { return strconv.Itoa(len(gr.Members)) }},
				{"servers", func(gr registry.Group) string { return dash(strings.Join(gr.Members, ",")) }},
			})
		}
	}
	one := func(cmd *cobra.Command) func(registry.Group) error {
		return func(gr registry.Group) error { return showGroups(cmd)([]registry.Group{gr}) }
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/groups", nil, showGroups(cmd))
		},
	}, &cobra.Command{
		Use: "show GROUP", Short: "Show a group and its members", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/groups/"+client.Path(args[0]), nil, one(cmd))
		},
	}, &cobra.Command{
		Use: "add GROUP", Short: "Create a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodPost, "/api/v1/groups", map[string]string{"name": args[0]}, one(cmd))
		},
	}, destructive(&cobra.Command{
		Use: "delete GROUP", Short: "Delete a group (its members stay enlisted; the group's jobs are un-deployed from them)", Args: cobra.ExactArgs(1),
	}, g, func(args []string) (url.Values, string, string) {
		return url.Values{"group": {args[0]}}, http.MethodDelete, "/api/v1/groups/" + client.Path(args[0])
	}), &cobra.Command{
		Use: "addmember GROUP SERVER", Short: "Add a target server to a group", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodPost, "/api/v1/groups/"+client.Path(args[0])+"/members", map[string]string{"server": args[1]},
				func(r struct {
					Group  registry.Group  `json:"group"`
					Posted []master.Posted `json:"posted"`
				}) error {
					return one(cmd)(r.Group)
				})
		},
	}, destructive(&cobra.Command{
		Use: "removemember GROUP SERVER", Short: "Remove a target server from a group (the group's jobs are un-deployed from it)", Args: cobra.ExactArgs(2),
	}, g, func(args []string) (url.Values, string, string) {
		return url.Values{"group": {args[0]}, "member": {args[1]}}, http.MethodDelete,
			"/api/v1/groups/" + client.Path(args[0]) + "/members/" + client.Path(args[1])
	}))
	return cmd
}

func newDownloadList(g *globals) *cobra.Command {
	var server string
	var pending, errs bool
	var limit int
	cmd := &cobra.Command{
		Use: "downloadlist", Short: "The instruction ledger (sysdownloadlist): what was posted to each target and what it did", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if server != "" {
				q.Set("server", server)
			}
			if pending {
				q.Set("pending", "true")
			}
			if errs {
				q.Set("errors", "true")
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			return call(cmd, g, http.MethodGet, "/api/v1/downloadlist?"+q.Encode(), nil, func(rows []ledger.Row) error {
				return print(g, cmd.OutOrStdout(), rows, []column[ledger.Row]{
					{"instance_id", func(r ledger.Row) string { return strconv.FormatUint(r.InstanceID, 10) }},
					{"operation", func(r ledger.Row) string { return fmt.Sprintf("%d %s", r.Operation, r.OperationName) }},
					{"object", func(r ledger.Row) string { return dash(r.ObjectName) }},
					{"target_server", func(r ledger.Row) string { return r.TargetServer }},
					{"date_posted", func(r ledger.Row) string { return ts(&r.DatePosted) }},
					{"date_downloaded", func(r ledger.Row) string { return ts(r.DateDownloaded) }},
					{"status", func(r ledger.Row) string { return strconv.Itoa(r.Status) }},
					{"error_message", func(r ledger.Row) string {
						if r.ErrorMessage == "" {
							return "-"
						}
						if r.ErrorCleared {
							return "(cleared) " + r.ErrorMessage
						}
						return fmt.Sprintf("%s (%d)", r.ErrorMessage, r.ErrorCode)
					}},
				})
			})
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "only this target server")
	cmd.Flags().BoolVar(&pending, "pending", false, "only instructions not yet downloaded")
	cmd.Flags().BoolVar(&errs, "errors", false, "only instructions that failed, with errors not cleared")
	cmd.Flags().IntVar(&limit, "limit", 0, "only the newest N rows")
	cmd.AddCommand(newDownloadListClear(g))
	return cmd
}

func newDownloadListClear(g *globals) *cobra.Command {
	var f master.ClearFilter
	c := &cobra.Command{
		Use:   "clear ID | --all | --server S | --job J",
		Short: "Clear the error of failed instructions (status flag 4 goes from a target left without one)",
		Long: "Clear the error of one failed instruction (its instance_id), or of every failed instruction of a\n" +
			"target server (--server), of a job (--job, both to narrow), or of all (--all). Drift repair posts\n" +
			"an instruction that failed again only after its error is cleared.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if f.All || f.Server != "" || f.Job != "" {
					return fmt.Errorf("clear: give an instance_id or --all/--server/--job, not both")
				}
				return call[ledger.Row](cmd, g, http.MethodPost, "/api/v1/downloadlist/"+client.Path(args[0])+"/clear", nil, nil)
			}
			return call(cmd, g, http.MethodPost, "/api/v1/downloadlist/clear", f, func(r api.ClearReply) error {
				if g.output == "json" {
					return printOne(cmd.OutOrStdout(), r)
				}
				ids := make([]string, len(r.Cleared))
				for i, id := range r.Cleared {
					ids[i] = strconv.FormatUint(id, 10)
				}
				if len(ids) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No error to clear.")
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Cleared %d error(s): instance_id %s.\n", len(ids), strings.Join(ids, ", "))
				return nil
			})
		},
	}
	c.Flags().BoolVar(&f.All, "all", false, "every failed instruction")
	c.Flags().StringVar(&f.Server, "server", "", "the failed instructions of this target server")
	c.Flags().StringVar(&f.Job, "job", "", "the failed instructions of this job (name or id)")
	return c
}
