package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/cmd/internal/agentcmd"
	"github.com/msx-project/msx/master/client"
)

// errSilent is returned after the command printed its own error.
var errSilent = errors.New("")

type globals struct {
	data   string
	master string
	token  string
	output string
	debug  bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "msx",
		Short:         "Multiserver job administration for SQL Server fleets, on NATS JetStream",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("-o %q: use table or json", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.data, "data", agentcmd.EnvOr("MSX_DATA", "./msx-data"), "data directory (env MSX_DATA)")
	pf.StringVar(&g.master, "master", os.Getenv("MSX_MASTER"), "master API URL (env MSX_MASTER); default: found in --data")
	pf.StringVar(&g.token, "token", os.Getenv("MSX_TOKEN"), "API token, or enlistment token for `msx target` (env MSX_TOKEN); default: found in --data")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.BoolVar(&g.debug, "debug", false, "log at debug level")
	root.AddCommand(newUp(g), newMaster(g), newTarget(g), newTargetServer(g), newToken(g), newGroup(g), newDownloadList(g), newJob(g), newSchedule(g), newEvents(g), newAudit(g), newBench(g), newCluster(g), newVar(g))
	root.AddCommand(newNotifyCommands(g)...)
	root.AddCommand(newMigrate(g))
	return root
}

// newTarget mounts the target agent's command (cmd/internal/agentcmd) as `msx target`.
func newTarget(g *globals) *cobra.Command {
	return agentcmd.New("target", agentcmd.Globals{Data: &g.data, Token: &g.token, Logger: g.logger})
}

func (g *globals) client() (*client.Client, error) {
	return client.Resolve(g.master, g.token, g.data)
}

func (g *globals) logger(w io.Writer) *slog.Logger { return agentcmd.NewLogger(g.debug, w) }

// print writes v as JSON, or as a table of the given columns (header -> cell function).
func print[T any](g *globals, w io.Writer, rows []T, cols []column[T]) error {
	if g.output == "json" {
		if rows == nil {
			rows = []T{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	hdr := make([]string, len(cols))
	for i, c := range cols {
		hdr[i] = c.name
	}
	// Every cell is escaped: values come from targets and API callers.
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = Escape(c.cell(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printOne writes one object as indented JSON (the readable form of a single record).
func printOne(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

type column[T any] struct {
	name string
	cell func(T) string
}

func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
