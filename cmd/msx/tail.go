package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
)

// newJobTail is `msx job tail NAME --server S`: the live output of a job's running steps on one
// target, from GET /api/v1/jobs/{name}/output (Server-Sent Events). It ends when the run ends,
// or with --follow keeps waiting for the next runs; Ctrl-C ends it.
func newJobTail(g *globals) *cobra.Command {
	var server string
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail NAME --server S [--follow]",
		Short: "Follow the output of a job's running steps on a target, live (runner-mode targets)",
		Long: `Prints the output of the job's steps on one target while they run, as the target
streams it (chunks every 250 ms, at most 32 KiB/s per step; what a target drops or the bus
loses is said where it happened). It ends when the run ends; --follow keeps waiting for the
next runs. History keeps the full output (msx job history NAME --server S --full).
Control characters in the output are shown escaped (\x1b, \r), so output cannot drive the
terminal; -o json prints each event as a JSON line instead. Targets in msdb mode have no live
output: SQL Server Agent runs their steps.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(server) == "" {
				return errors.New("name the target server: --server S (live output is per target)")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t := &tailer{out: cmd.OutOrStdout(), json: g.output == "json", follow: follow, opened: func() {
				fmt.Fprintf(cmd.ErrOrStderr(), "following job %s on %s; waiting for output (Ctrl-C to stop)\n", Escape(args[0]), Escape(server))
			}}
			path := "/api/v1/jobs/" + client.Path(args[0]) + "/output?" + url.Values{"server": {server}}.Encode()
			for {
				err = c.Stream(cmd.Context(), path, t.event)
				var apiErr *client.Error
				switch {
				case cmd.Context().Err() != nil:
					return nil // Ctrl-C
				case err == nil && t.ended && !follow:
					return nil
				case !follow || errors.As(err, &apiErr):
					if err == nil {
						err = errors.New("the master ended the stream before the run ended (it stopped, or dropped this reader as too slow): run the command again")
					}
					return err
				}
				// --follow: the stream broke (a master restarting, a dropped reader); follow again.
				fmt.Fprintf(cmd.ErrOrStderr(), "the output stream ended (%v); following again in 2 s (output in between is lost; history has it)\n", orEOF(err))
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(2 * time.Second):
				}
			}
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the target server (required)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep following the next runs until Ctrl-C (following again if the stream breaks)")
	return cmd
}

// tailer prints the events of an output stream.
type tailer struct {
	out    io.Writer
	json   bool
	follow bool
	opened func() // called once the master follows the output (its first comment)

	run     string // the run shown
	step    int    // its step shown (0: none yet)
	retry   int
	lastSeq uint64
	ended   bool
	midLine bool // the last text printed did not end a line
}

// event prints one event and returns client.ErrStop at the end of a run unless following.
func (t *tailer) event(ev client.Event) error {
	if ev.Comment {
		if t.opened != nil {
			t.opened()
			t.opened = nil
		}
		return nil
	}
	if ev.Name != "output" && ev.Name != "end" {
		return nil // an event a newer master may add
	}
	var o api.OutputEvent
	if err := json.Unmarshal(ev.Data, &o); err != nil {
		return fmt.Errorf("the master sent an event that is not JSON: %w", err)
	}
	if t.json {
		b, _ := json.Marshal(struct {
			Event string `json:"event"`
			api.OutputEvent
		}{ev.Name, o})
		fmt.Fprintf(t.out, "%s\n", b)
	} else {
		t.print(ev.Name, o)
	}
	if ev.Name == "end" && o.Scope == "run" {
		t.ended = true
		if !t.follow {
			return client.ErrStop
		}
	}
	return nil
}

func (t *tailer) print(name string, o api.OutputEvent) {
	if o.RunID != t.run {
		t.newline()
		fmt.Fprintf(t.out, "=== run %s of job %s on %s\n", Escape(o.RunID), Escape(o.Job), Escape(o.Server))
		t.run, t.step, t.lastSeq = o.RunID, 0, 0
	}
	// A gap in seq is messages the bus lost; missed is what the master could not relay.
	if lost := int64(o.Seq) - int64(t.lastSeq) - 1; t.lastSeq > 0 && lost > 0 || o.Missed > 0 {
		t.newline()
		fmt.Fprintf(t.out, "[%d output messages lost on the way: see the history for the full output]\n", max(lost, o.Missed))
	}
	t.lastSeq = o.Seq
	if o.StepID != 0 && (o.StepID != t.step || o.Retry != t.retry) && !(name == "end" && o.Scope == "step") {
		t.newline()
		retry := ""
		if o.Retry > 0 {
			retry = fmt.Sprintf(", retry %d", o.Retry)
		}
		fmt.Fprintf(t.out, "--- step %d (%s)%s\n", o.StepID, Escape(o.StepName), retry)
		t.step, t.retry = o.StepID, o.Retry
	}
	if o.Dropped > 0 {
		t.newline()
		fmt.Fprintf(t.out, "[%d bytes of output dropped by the target (rate or buffer bound): see the history for the full output]\n", o.Dropped)
	}
	switch {
	case name == "output":
		if o.Text != "" {
			fmt.Fprint(t.out, EscapeLines(o.Text))
			t.midLine = !strings.HasSuffix(o.Text, "\n")
		}
	case o.Scope == "step":
		t.newline()
		fmt.Fprintf(t.out, "--- step %d (%s) ended: %s\n", o.StepID, Escape(o.StepName), jobs.RunStatus(o.RunStatus))
	case o.Scope == "run":
		t.newline()
		fmt.Fprintf(t.out, "=== run %s ended: %s\n", Escape(o.RunID), jobs.RunStatus(o.RunStatus))
	}
}

// newline ends a line the output left open, before a line of the tailer's own.
func (t *tailer) newline() {
	if t.midLine {
		fmt.Fprintln(t.out)
		t.midLine = false
	}
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
