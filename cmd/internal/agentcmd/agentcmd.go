// Package agentcmd is the target agent's command line: its flags, its run and `defect`. The msx
// binary mounts it as `msx target`; cmd/msx-agent is a binary of this command alone, for the
// SQL Server hosts: it links none of the master (embedded NATS server, Prometheus, SMTP, web
// console), so it is smaller on disk and in memory (README: "The agent binary").
package agentcmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/target"
)

// Globals are the flags the agent shares with the rest of the command line it is mounted in:
// read when the command runs, not when it is built.
type Globals struct {
	Data, Token *string
	Logger      func(io.Writer) *slog.Logger
}

// New returns the agent's command, named use ("target" under msx, "msx-agent" alone).
func New(use string, g Globals) *cobra.Command {
	var cfg target.Config
	var proxies, perfAlerts string
	cmd := &cobra.Command{
		Use:   use,
		Short: "Run a target agent for one SQL Server instance: enlists once, then runs until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DataDir, cfg.Token = *g.Data, *g.Token
			cfg.Logger = g.Logger(cmd.ErrOrStderr())
			if err := loadProxies(&cfg, proxies, *g.Data); err != nil {
				return err
			}
			if perfAlerts != "" {
				var err error
				if cfg.PerfAlerts, err = target.LoadPerfAlerts(perfAlerts); err != nil {
					return err
				}
			}
			// --location "" clears the location; no --location keeps the one held.
			cfg.ClearLocation = cmd.Flags().Changed("location") && cfg.Location == ""
			err := target.Run(cmd.Context(), cfg)
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Name, "name", "", "SQL Server instance: HOST or HOST\\INSTANCE (required)")
	cmd.Flags().StringVar(&cfg.Location, "location", "", "free text shown on the master, e.g. \"rack 7\" (default: the location last reported; --location \"\" clears it)")
	cmd.Flags().StringVar(&cfg.NATSURL, "nats", "nats://127.0.0.1:4222", "URL of the master's NATS server; several, comma separated, for a cluster")
	cmd.Flags().IntVar(&cfg.PollInterval, "poll", 0, "poll (heartbeat) interval in seconds, 10 to 28800 (default: the one the target holds; 60 for a new target)")
	cmd.Flags().DurationVar(&cfg.HeartbeatInterval, "heartbeat", 0, "override the heartbeat interval (default: the poll interval)")
	cmd.Flags().Var(&cfg.Encrypt, "encrypt", "bus encryption, as MsxEncryptChannelOptions: verify (default), encrypt (no certificate validation), none")
	cmd.Flags().StringVar(&cfg.CAFile, "ca", "", "the master's CA certificate (default: the fingerprint in the token, then the CA saved at enlistment)")
	cmd.Flags().StringVar(&cfg.SQLDSN, "sql", "", "SQL Server for T-SQL steps, e.g. sqlserver://user:pass@host?database=master (default: an embedded SQLite database)")
	cmd.Flags().StringVar(&cfg.AgentMode, "agent-mode", target.AgentModeRunner, "who runs the jobs: runner (this agent) or msdb (SQL Server Agent of --sql: jobs are written into msdb, category \"Jobs from MSX\", and its history is harvested)")
	cmd.Flags().DurationVar(&cfg.HarvestInterval, "harvest", 0, "msdb mode: how often to read msdb.dbo.sysjobhistory (default 10s)")
	cmd.Flags().StringVar(&cfg.ForwardEvents, "forward-events", target.ForwardUnhandled, "forward errors from the error log of --sql as events: unhandled (those no enabled local alert handles), all, or off")
	cmd.Flags().IntVar(&cfg.ForwardSeverity, "forward-severity", 17, "least severity of the SQL Server errors forwarded, 1 to 25")
	cmd.Flags().StringVar(&perfAlerts, "perf-alerts", "", "JSON file of local performance-condition alerts to evaluate on --sql, in addition to those the master sends (msx alert list -o json); default none")
	cmd.Flags().DurationVar(&cfg.PerfInterval, "perf-interval", 0, "how often to evaluate the performance conditions (default 20s)")
	cmd.Flags().DurationVar(&cfg.ErrorLogInterval, "error-log-interval", 0, "how often to read the SQL Server error log (default 30s)")
	cmd.Flags().StringVar(&cfg.WorkDir, "work-dir", "", "working directory of CmdExec steps (default DATA/work)")
	cmd.Flags().Var(&tzFlag{&cfg.TimeZone}, "time-zone", "the target's time zone, IANA (default: this machine's)")
	cmd.Flags().StringVar(&proxies, "proxies", "", "this target's proxies and connection profiles, YAML, never sent anywhere (default DATA/"+target.ProxiesFile+" when it exists)")
	cmd.Flags().StringVar(&cfg.OrphanPolicy, "orphans", target.OrphanEnd, "at start, what to do with job steps a previous agent left running (kill -9, crash): end (SIGTERM, then SIGKILL after --orphan-grace) or wait (schedule nothing until they finish)")
	cmd.Flags().DurationVar(&cfg.OrphanGrace, "orphan-grace", 0, "time between SIGTERM and SIGKILL when ending steps a previous agent left running (default 10s)")
	cmd.Flags().BoolVar(&cfg.KeepStepChildren, "keep-step-children", false, "leave running the background processes a CmdExec or PowerShell step leaves behind (default: end them when the step's main process exits)")
	cmd.Flags().IntVar(&cfg.HoldBytes, "hold-bytes", 0, "memory for reports the data directory refuses (a full disk) until they are out; over it, superseded start reports, then events, then history rows are dropped, never an outcome (default 16 MiB)")
	cmd.Flags().Int64Var(&cfg.LowDiskBytes, "low-disk-bytes", 0, "free space of the data directory under which heartbeats report the disk \"low\" (default 64 MiB)")
	cmd.Flags().BoolVar(&cfg.AllowProxyMatching, "allow-proxy-matching", false, "let downloaded jobs' steps use this target's proxies by proxy_name, as AllowDownloadedJobsToMatchProxyName (default off, as in MSX: such jobs fail to apply)")

	var dc target.DefectConfig
	defect := &cobra.Command{
		Use:   "defect",
		Short: "Defect this target from its master and delete every job that came from it (stop the agent first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc.DataDir = *g.Data
			dc.Logger = g.Logger(cmd.ErrOrStderr())
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
	defect.Flags().StringVar(&dc.NATSURL, "nats", "nats://127.0.0.1:4222", "URL of the master's NATS server; several, comma separated, for a cluster")
	defect.Flags().BoolVar(&dc.Force, "force", false, "defect without the master (gone, or its data lost)")
	defect.Flags().Var(&dc.Encrypt, "encrypt", "bus encryption: verify (default), encrypt, none")
	defect.Flags().StringVar(&dc.CAFile, "ca", "", "the master's CA certificate (default: the CA saved at enlistment)")
	cmd.AddCommand(defect)
	return cmd
}

// loadProxies reads the proxies file into cfg: path, or DATA/proxies.yaml when path is empty
// and that file exists.
func loadProxies(cfg *target.Config, path, data string) error {
	if path == "" {
		path = filepath.Join(data, target.ProxiesFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	c, err := target.LoadCredentials(path)
	if err != nil {
		return err
	}
	cfg.Proxies, cfg.ConnectionProfiles = c.Proxies, c.ConnectionProfiles
	return nil
}

// tzFlag reads an IANA time zone name into a *time.Location.
type tzFlag struct{ loc **time.Location }

func (f *tzFlag) String() string {
	if f.loc == nil || *f.loc == nil {
		return ""
	}
	return (*f.loc).String()
}

func (f *tzFlag) Set(s string) error {
	l, err := time.LoadLocation(s)
	if err != nil {
		return fmt.Errorf("time zone %q: use an IANA name such as Europe/London: %w", s, err)
	}
	*f.loc = l
	return nil
}

func (f *tzFlag) Type() string { return "zone" }

// EnvOr returns the environment variable k, or def when it is unset or empty (the defaults of
// --data and --token).
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// NewLogger returns the command line's logger: text on w, at info level or, with debug, debug.
func NewLogger(debug bool, w io.Writer) *slog.Logger {
	lvl := slog.LevelInfo
	if debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
