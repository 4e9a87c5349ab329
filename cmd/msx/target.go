package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/target"
)

func newTarget(g *globals) *cobra.Command {
	var cfg target.Config
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Run a target agent for one SQL Server instance: enlists once, then runs until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DataDir, cfg.Token = g.data, g.token
			cfg.Logger = g.logger(cmd.ErrOrStderr())
			err := target.Run(cmd.Context(), cfg)
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Name, "name", "", "SQL Server instance: HOST or HOST\\INSTANCE (required)")
	cmd.Flags().StringVar(&cfg.Location, "location", "", "free text shown on the master, e.g. \"rack 7\"")
	cmd.Flags().StringVar(&cfg.NATSURL, "nats", "nats://127.0.0.1:4222", "URL of the master's NATS server")
	cmd.Flags().IntVar(&cfg.PollInterval, "poll", 60, "poll (heartbeat) interval in seconds, 10 to 28800")
	cmd.Flags().DurationVar(&cfg.HeartbeatInterval, "heartbeat", 0, "override the heartbeat interval (default: the poll interval)")

	var dc target.DefectConfig
	defect := &cobra.Command{
		Use:   "defect",
		Short: "Defect this target from its master and delete every job that came from it (stop the agent first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc.DataDir = g.data
			dc.Logger = g.logger(cmd.ErrOrStderr())
			msg, err := target.Defect(cmd.Context(), dc)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			if dc.Force {
				fmt.Fprintln(cmd.OutOrStdout(), "Forced: the master still lists this target until `msx targetserver delete NAME --no-post-defection`.")
			}
			return nil
		},
	}
	defect.Flags().StringVar(&dc.NATSURL, "nats", "nats://127.0.0.1:4222", "URL of the master's NATS server")
	defect.Flags().BoolVar(&dc.Force, "force", false, "defect without the master (gone, or its data lost)")
	cmd.AddCommand(defect)
	return cmd
}
