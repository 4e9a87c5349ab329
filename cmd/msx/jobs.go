package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
	"sigs.k8s.io/yaml"
)

func postedCols() []column[master.Posted] {
	return []column[master.Posted]{
		{"target_server", func(p master.Posted) string { return p.TargetServer }},
		{"instance_id", func(p master.Posted) string { return strconv.FormatUint(p.InstanceID, 10) }},
		{"operation", func(p master.Posted) string { return p.Operation }},
	}
}

func newJob(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Aliases: []string{"jobs"}, Short: "Multiserver jobs: define once, run on every target"}
	var file string
	var dryRun bool
	apply := &cobra.Command{
		Use: "apply -f FILE", Short: "Create or update a job (by name) from a YAML or JSON document and post it to its targets", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readFile(file)
			if err != nil {
				return err
			}
			docs, err := jobs.ParseMany(data)
			if err != nil {
				return err
			}
			return applyJobs(cmd, g, docs, dryRun)
		},
	}
	apply.Flags().StringVarP(&file, "file", "f", "", "job document (YAML or JSON; several with ---); - for stdin")
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes and the instructions it would post, per target, and change nothing")
	_ = apply.MarkFlagRequired("file")

	summaryCols := []column[api.JobSummary]{
		{"name", func(s api.JobSummary) string { return s.Name }},
		{"enabled", func(s api.JobSummary) string { return strconv.FormatBool(s.Enabled) }},
		{"version", func(s api.JobSummary) string { return strconv.Itoa(s.VersionNumber) }},
		{"steps", func(s api.JobSummary) string { return strconv.Itoa(s.Steps) }},
		{"schedules", func(s api.JobSummary) string { return strconv.Itoa(s.Schedules) }},
		{"targets", func(s api.JobSummary) string { return strconv.Itoa(s.Targets) }},
		{"pending_instructions", func(s api.JobSummary) string { return strconv.Itoa(s.PendingInstructions) }},
		{"download_errors", func(s api.JobSummary) string { return strconv.Itoa(s.DownloadErrors) }},
		{"failed_executions", func(s api.JobSummary) string { return strconv.Itoa(s.FailedExecutions) }},
	}
	list := func(use, short string) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/jobs", nil, func(rows []api.JobSummary) error {
				return print(g, cmd.OutOrStdout(), rows, summaryCols)
			})
		}}
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a job: definition, targets with their last outcome, next run times", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/jobs/"+client.Path(args[0]), nil, func(v api.JobView) error {
				if g.output == "json" {
					return printOne(cmd.OutOrStdout(), v)
				}
				w := cmd.OutOrStdout()
				def, _ := yaml.Marshal(v.Job)
				fmt.Fprintf(w, "%s\n", def)
				fmt.Fprintln(w, "targets:")
				if err := print(g, w, v.Servers, []column[master.JobServer]{
					{"  server_name", func(s master.JobServer) string { return "  " + s.ServerName }},
					{"last_run_outcome", func(s master.JobServer) string { return fmt.Sprintf("%d %s", s.LastRunOutcome, s.LastRunOutcome) }},
					{"last_run_date", func(s master.JobServer) string { return dash(intOrEmpty(s.LastRunDate)) }},
					{"last_run_time", func(s master.JobServer) string { return dash(clock(s.LastRunTime)) }},
					{"last_run_duration", func(s master.JobServer) string { return span(s.LastRunDuration) }},
					{"last_outcome_message", func(s master.JobServer) string { return dash(firstLine(s.LastOutcomeMessage)) }},
				}); err != nil {
					return err
				}
				fmt.Fprintln(w, "\nschedules (next runs in each target's time zone):")
				for _, s := range v.Schedules {
					fmt.Fprintf(w, "  %s (%s): %s\n", s.Name, map[bool]string{true: "enabled", false: "disabled"}[s.Enabled], s.Description)
					if len(s.ByZone) == 0 {
						fmt.Fprintln(w, "    (no target servers) in UTC:")
						for _, t := range s.NextRuns {
							fmt.Fprintf(w, "      %s\n", t.Format(time.RFC3339))
						}
					}
					for _, z := range s.ByZone {
						fmt.Fprintf(w, "    %s (%s):\n", z.Zone, strings.Join(z.Servers, ", "))
						for _, t := range z.NextRuns {
							fmt.Fprintf(w, "      %s\n", t.Format("2006-01-02 15:04:05 -07:00"))
						}
					}
				}
				return nil
			})
		},
	}
	del := destructive(&cobra.Command{
		Use: "delete NAME", Short: "Delete a job and post DELETE to its targets; shows them first", Args: cobra.ExactArgs(1),
	}, g, func(args []string) (url.Values, string, string) {
		return url.Values{"job": {args[0]}}, http.MethodDelete, "/api/v1/jobs/" + client.Path(args[0])
	})
	retarget := func(use, short string, remove bool) *cobra.Command {
		var servers, groups []string
		c := &cobra.Command{Use: use + " NAME --server S --group G", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return call(cmd, g, http.MethodPost, "/api/v1/jobs/"+client.Path(args[0])+"/targets",
					api.TargetRequest{Servers: servers, Groups: groups, Remove: remove}, func(res master.ApplyResult) error {
						if g.output == "json" {
							return printOne(cmd.OutOrStdout(), res)
						}
						n := 0
						for _, p := range res.Posted {
							if (p.Operation == "INSERT") != remove {
								n++
							}
						}
						if remove {
							fmt.Fprintf(cmd.OutOrStdout(), "Job removed from %d servers.\n", n)
						} else {
							fmt.Fprintf(cmd.OutOrStdout(), "Job applied to %d new servers.\n", n)
						}
						return nil
					})
			}}
		c.Flags().StringSliceVar(&servers, "server", nil, "target server (repeatable)")
		c.Flags().StringSliceVar(&groups, "group", nil, "target server group (repeatable)")
		return c
	}
	var hServer string
	var hLimit int
	var hFull bool
	history := &cobra.Command{
		Use: "history NAME [--server S] [--limit N]", Short: "Job history (sysjobhistory): step 0 is the job outcome", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if hServer != "" {
				q.Set("server", hServer)
			}
			q.Set("limit", strconv.Itoa(hLimit))
			return call(cmd, g, http.MethodGet, "/api/v1/jobs/"+client.Path(args[0])+"/history?"+q.Encode(), nil, func(rows []jobs.HistoryRow) error {
				return print(g, cmd.OutOrStdout(), rows, []column[jobs.HistoryRow]{
					{"server", func(r jobs.HistoryRow) string { return r.Server }},
					{"step_id", func(r jobs.HistoryRow) string { return strconv.Itoa(r.StepID) }},
					{"step_name", func(r jobs.HistoryRow) string { return r.StepName }},
					{"run_status", func(r jobs.HistoryRow) string { return fmt.Sprintf("%d %s", r.RunStatus, r.RunStatus) }},
					{"run_date", func(r jobs.HistoryRow) string { return strconv.Itoa(r.RunDate) }},
					{"run_time", func(r jobs.HistoryRow) string { return clock(r.RunTime) }},
					{"run_duration", func(r jobs.HistoryRow) string { return span(r.RunDuration) }},
					{"retries_attempted", func(r jobs.HistoryRow) string { return strconv.Itoa(r.RetriesAttempted) }},
					{"message", func(r jobs.HistoryRow) string {
						if hFull {
							return r.Message
						}
						return firstLine(r.Message)
					}},
					{"output", func(r jobs.HistoryRow) string { return dash(stepOutput(r.Output, hFull)) }},
				})
			})
		},
	}
	history.Flags().StringVar(&hServer, "server", "", "only this target server")
	history.Flags().IntVar(&hLimit, "limit", 20, "newest N runs")
	history.Flags().BoolVar(&hFull, "full", false, "show messages and step output in full (default: trimmed to one line)")
	cmd.AddCommand(apply, list("list", "List jobs"), show, del,
		retarget("target", "Apply a job to servers and groups (posts INSERT to the servers that gain it)", false),
		retarget("untarget", "Remove servers and groups from a job (posts DELETE to the servers that lose it)", true),
		newJobStart(g, "start", "Start a job now on its targets (posts START)"), newJobStart(g, "stop", "Stop a running job (posts STOP)"),
		newJobEnable(g, "enable"), newJobEnable(g, "disable"),
		history, list("summary", "Multiserver job summary: targets, pending instructions, download errors, failed executions"),
		newJobImport(g), newJobExport(g), newJobTail(g))
	return cmd
}

func intOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func summarisePosted(ps []master.Posted) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Operation+" "+p.TargetServer)
	}
	return strings.Join(parts, ", ")
}

// explain adds every validation problem to an API error.
func explain(name string, err error) error {
	ce, ok := err.(*client.Error)
	if !ok || len(ce.Problems) == 0 {
		return fmt.Errorf("job %q: %w", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "job %q is invalid (%d problem(s)):", name, len(ce.Problems))
	for _, p := range ce.Problems {
		b.WriteString("\n  " + p.String())
	}
	return fmt.Errorf("%s", b.String())
}

func readFile(path string) ([]byte, error) {
	if path == "-" {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(os.Stdin)
		return buf.Bytes(), err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

func newSchedule(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Check schedules before deploying them"}
	var file, from, tz string
	var count int
	next := &cobra.Command{
		Use: "next -f SCHEDULE --from RFC3339 --count N [--tz ZONE]", Short: "Print the next N run times of one schedule (the code targets use)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readFile(file)
			if err != nil {
				return err
			}
			var s schedule.Schedule
			if err := jobs.DecodeYAML(data, &s); err != nil {
				return fmt.Errorf("schedule %s: %w", file, err)
			}
			start := time.Now()
			if from != "" {
				if start, err = time.Parse(time.RFC3339, from); err != nil {
					return fmt.Errorf("--from %q: use RFC 3339, e.g. 2026-11-25T00:00:00Z", from)
				}
			}
			loc := time.Local
			if tz != "" {
				if loc, err = time.LoadLocation(tz); err != nil {
					return fmt.Errorf("--tz %q: an IANA zone such as Europe/London: %w", tz, err)
				}
			}
			s.Normalize(start.In(loc))
			if err := s.Validate("").Err(); err != nil {
				return err
			}
			runs := s.NextN(start.Add(-time.Nanosecond), loc, count)
			if g.output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(runs)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", s.Describe())
			for _, t := range runs {
				fmt.Fprintln(cmd.OutOrStdout(), t.Format("2006-01-02 15:04:05 Mon -0700 MST"))
			}
			if len(runs) < count {
				fmt.Fprintf(cmd.OutOrStdout(), "(no further runs after %d)\n", len(runs))
			}
			return nil
		},
	}
	next.Flags().StringVarP(&file, "file", "f", "", "schedule document (YAML or JSON)")
	next.Flags().StringVar(&from, "from", "", "start time, RFC 3339 (default now)")
	next.Flags().IntVar(&count, "count", 10, "how many run times")
	next.Flags().StringVar(&tz, "tz", "", "the target's time zone (default this machine's)")
	_ = next.MarkFlagRequired("file")
	cmd.AddCommand(next)
	return cmd
}

func newEvents(g *globals) *cobra.Command {
	var follow bool
	var minSev, limit int
	var server string
	cmd := &cobra.Command{
		Use: "events [--follow] [--min-severity N] [--server S]", Short: "Forwarded events: failed jobs and steps, failed instructions, agent errors", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var since uint64
			for {
				q := url.Values{"min_severity": {strconv.Itoa(minSev)}, "limit": {strconv.Itoa(limit)}}
				if server != "" {
					q.Set("server", server)
				}
				if since > 0 {
					q.Set("since", strconv.FormatUint(since, 10))
				}
				var evs []master.EventRecord
				if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/events?"+q.Encode(), nil, &evs); err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
				if g.output == "json" {
					enc := json.NewEncoder(cmd.OutOrStdout())
					for _, e := range evs {
						_ = enc.Encode(e)
					}
				} else {
					for _, e := range evs {
						// Values come from targets: escaped, and a server the body claimed is
						// shown as a claim, beside the sender's name.
						msg := firstLine(e.Message)
						if e.ClaimedServer != "" {
							msg = "[claims to be " + e.ClaimedServer + "] " + msg
						}
						job := e.JobName
						if job == "" {
							job = e.JobID
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s  %-10s sev %2d  %-11s %-20s %s\n", e.Time.Local().Format("2006-01-02 15:04:05"),
							Escape(e.Server), e.Severity, Escape(e.Source), Escape(dash(job)), Escape(msg))
					}
				}
				if len(evs) > 0 {
					since = evs[len(evs)-1].Seq
				} else if since == 0 {
					since = 1
				}
				if !follow {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events until Ctrl-C")
	cmd.Flags().IntVar(&minSev, "min-severity", 0, "only events at or above this severity (10 info, 16 error, 20 critical)")
	cmd.Flags().StringVar(&server, "server", "", "only this target server")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most N events per read")
	return cmd
}

// auditStatus is an audit record's status, with its count when it stands for several refused
// requests, and UNVERIFIED when no master signed it.
func auditStatus(a master.AuditRecord) string {
	s := strconv.Itoa(a.Status)
	if a.Count > 1 {
		s += " x" + strconv.Itoa(a.Count)
	}
	if a.Unverified {
		s += " UNVERIFIED"
	}
	return s
}

func newAudit(g *globals) *cobra.Command {
	var limit int
	var unverified bool
	cmd := &cobra.Command{
		Use: "audit [--limit N]", Short: "The append-only audit of changes: who, what, when, from where", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/audit?limit=" + strconv.Itoa(limit) + "&unverified=" + strconv.FormatBool(unverified)
			return call(cmd, g, http.MethodGet, path, nil, func(rows []master.AuditRecord) error {
				return print(g, cmd.OutOrStdout(), rows, []column[master.AuditRecord]{
					{"time", func(a master.AuditRecord) string { return ts(&a.Time) }},
					{"who", func(a master.AuditRecord) string { return a.Who }},
					{"from", func(a master.AuditRecord) string { return a.From }},
					{"action", func(a master.AuditRecord) string { return a.Action }},
					{"object", func(a master.AuditRecord) string { return dash(a.Object) }},
					{"status", func(a master.AuditRecord) string { return auditStatus(a) }},
					{"changes", func(a master.AuditRecord) string { return dash(strings.Join(a.Changes, "; ")) }},
					{"detail", func(a master.AuditRecord) string { return dash(a.Detail) }},
				})
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "newest N records")
	cmd.Flags().BoolVar(&unverified, "unverified", false, "also show records no master signed, flagged UNVERIFIED (they were not written by a master)")
	return cmd
}
