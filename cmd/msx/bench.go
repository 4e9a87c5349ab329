package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/cmd/msx/internal/bench"
)

func newBench(g *globals) *cobra.Command {
	var cfg bench.Config
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a simulated fleet (embedded NATS, a master, N in-process targets) against bare JetStream",
		Long: `bench starts an embedded NATS JetStream server and a master, runs N real target agents in this
process (each with its own data directory in a temporary directory and its own NATS connection),
and measures enlistment, job fan-out, job start, result ingestion (with runs, and alone), the time of
each API view, executions on 1-second schedules fleet-wide, schedule lateness and memory.
Each figure comes with the bare JetStream figure for the same work, measured in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			if g.debug {
				cfg.Logger = g.logger(cmd.ErrOrStderr())
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Targets, "targets", 200, "number of simulated targets")
	f.IntVar(&cfg.Jobs, "jobs", 1000, "jobs (firing every 10 s) on the one target of the schedule lateness measure")
	f.IntVar(&cfg.Rounds, "rounds", 3, "fan-out and start rounds")
	f.IntVar(&cfg.ViewJobs, "view-jobs", 100, "jobs on the whole fleet when the API views are timed (-1: skip the views)")
	f.BoolVar(&asJSON, "json", false, "print one JSON document instead of the table")
	f.IntVar(&cfg.Masters, "masters", 0, "add the failover phase: this many masters (3 or more) on a cluster of their own; the leader is stopped once per round")
	f.IntVar(&cfg.Dials, "dials", 100, "connections opened at once, by the raw phases and the fleet's targets alike (targets stagger their starts)")
	f.BoolVar(&cfg.Insecure, "insecure", false, "plain bus: no TLS, no authentication (default: TLS and nkeys, as msx up)")
	f.DurationVar(&cfg.ScheduleWindow, "schedule-window", 25*time.Second, "how long the schedule lateness measure watches (whole 10 s periods)")
	f.IntVar(&cfg.ExecJobs, "exec-jobs", 0, "execution phase: jobs on every target, each firing every second (0: enough for 2,000 executions/s; -1: skip the phase)")
	f.DurationVar(&cfg.ExecWindow, "exec-window", 20*time.Second, "how long the execution phase counts runs (whole seconds)")
	f.StringVar(&cfg.ExecStep, "exec-step", "tsql", "the execution phase's step: tsql (SELECT 1 on the target's SQLite) or cmdexec (exit 0 through the shell)")
	f.DurationVar(&cfg.PhaseTimeout, "phase-timeout", 3*time.Minute, "timeout of each phase")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the server store and the targets' data (default: a temporary directory, removed)")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (master, targets and raw phases share the process) to this file, for go tool pprof")
	return cmd
}

// startCPUProfile starts a CPU profile written to path; stop ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w (give a writable file path)", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
