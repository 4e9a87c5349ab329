//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
)

// TestEndToEndTail runs a CmdExec step that prints a line a second for 10 s on a real target
// of `msx up`, and follows it with `msx job tail` (the binary) and with the SSE endpoint: both
// see lines while the step runs (the first chunk comes before the run has a history row), tail
// exits when the run ends, and history keeps the full output. An operator token starts it.
func TestEndToEndTail(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--targets", "1", "--no-examples")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return strings.Contains(up.out.String(), "msx is up") })
	waitFor(t, 60*time.Second, "SQL01 online", func() bool { return targets(t, dir)["SQL01"].LastPollDate != nil })
	job := filepath.Join(dir, "ticker.yaml")
	doc := "name: ticker\nsteps:\n  - step_name: tick\n    subsystem: CmdExec\n" +
		"    command: for i in 1 2 3 4 5 6 7 8 9 10; do echo \"tick $i\"; sleep 1; done\ntargets:\n  servers: [SQL01]\n"
	if err := os.WriteFile(job, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", job)
	// START follows the job's INSERT in SQL01's download list: no need to wait for it.

	// The SSE endpoint, read in the test.
	c, err := client.Resolve("", "", filepath.Join(dir, "msx-data"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	type got struct {
		name string
		ev   api.OutputEvent
		at   time.Time
	}
	events := make(chan got, 1000)
	opened := make(chan struct{}, 1)
	go func() {
		_ = c.Stream(ctx, "/api/v1/jobs/ticker/output?server=SQL01", func(e client.Event) error {
			if e.Comment {
				select {
				case opened <- struct{}{}:
				default:
				}
				return nil
			}
			var o api.OutputEvent
			if err := json.Unmarshal(e.Data, &o); err != nil {
				return err
			}
			events <- got{e.Name, o, time.Now()}
			return nil
		})
	}()
	select {
	case <-opened:
	case <-time.After(30 * time.Second):
		t.Fatal("the output stream did not open")
	}
	// msx job tail, the binary, started before the run; it says when it follows.
	tail := start(t, dir, "job", "tail", "ticker", "--server", "SQL01")
	waitFor(t, 30*time.Second, "msx job tail to follow", func() bool { return strings.Contains(tail.out.String(), "following job ticker on SQL01") })

	// An operator token (msx token create --role operator) starts it, and may not delete it.
	var tok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "--role", "operator", "-o", "json")), &tok); err != nil || tok.Role != "operator" {
		t.Fatalf("operator token: %+v %v", tok, err)
	}
	if out := msx(t, dir, true, "job", "delete", "ticker", "--yes", "--token", tok.Token); !strings.Contains(out, "operator") {
		t.Errorf("job delete as operator: %s", out)
	}
	msx(t, dir, false, "job", "start", "ticker", "--server", "SQL01", "--token", tok.Token)
	var first got
	select {
	case first = <-events:
	case <-time.After(60 * time.Second):
		t.Fatal("no live output within 60 s of the start")
	}
	if first.name != "output" || !strings.Contains(first.ev.Text, "tick 1") || first.ev.Server != "SQL01" || first.ev.Job != "ticker" {
		t.Fatalf("first event %s %+v, want the output of tick 1", first.name, first.ev)
	}
	// The run is still going: its history has no row yet (the job outcome comes when it ends).
	var hist []struct {
		RunID     string `json:"run_id"`
		StepID    int    `json:"step_id"`
		RunStatus int    `json:"run_status"`
		Output    string `json:"output"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "job", "history", "ticker", "--server", "SQL01", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.RunID == first.ev.RunID && h.RunStatus != 4 {
			t.Fatalf("the run has a finished history row (%+v) when its first chunk came: the output was not live", h)
		}
	}

	// msx job tail shows the line while the run goes on too.
	waitFor(t, 30*time.Second, "msx job tail to print tick 1", func() bool { return strings.Contains(tail.out.String(), "tick 1\n") })
	if err := json.Unmarshal([]byte(msx(t, dir, false, "job", "history", "ticker", "--server", "SQL01", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.RunID == first.ev.RunID && h.RunStatus != 4 {
			t.Fatalf("the run has a finished history row (%+v) when msx job tail printed its first line", h)
		}
	}

	// The rest of the run, to its end.
	var text strings.Builder
	text.WriteString(first.ev.Text)
	lat := []time.Duration{first.at.Sub(first.ev.Sent)}
	var ticksBeforeEnd int
	for done := false; !done; {
		select {
		case g := <-events:
			if !g.ev.Sent.IsZero() {
				lat = append(lat, g.at.Sub(g.ev.Sent))
			}
			switch {
			case g.name == "output":
				text.WriteString(g.ev.Text)
				ticksBeforeEnd++
			case g.name == "end" && g.ev.Scope == "run":
				if g.ev.RunStatus != 1 || g.ev.RunID != first.ev.RunID {
					t.Fatalf("run end %+v, want run %s succeeded", g.ev, first.ev.RunID)
				}
				done = true
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no end of the run; output so far %q", text.String())
		}
	}
	var want strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&want, "tick %d\n", i)
	}
	if text.String() != want.String() {
		t.Fatalf("live output %q, want %q", text.String(), want.String())
	}
	if ticksBeforeEnd < 5 {
		t.Errorf("only %d output events for 10 lines a second apart: chunks are not streamed as the step prints", ticksBeforeEnd+1)
	}
	t.Logf("publish->SSE client latency over %d events (target clock = test clock): first %s, max %s", len(lat), lat[0], maxDur(lat))

	// msx job tail printed the lines and exited on its own when the run ended.
	waitFor(t, 30*time.Second, "msx job tail to exit at the run's end", func() bool {
		return tail.cmd.ProcessState != nil || strings.Contains(tail.out.String(), "ended: Succeeded")
	})
	done := make(chan error, 1)
	go func() { done <- tail.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("msx job tail: %v\n%s", err, tail.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("msx job tail did not exit after the run ended:\n%s", tail.out)
	}
	out := tail.out.String()
	for _, w := range []string{"--- step 1 (tick)", "tick 1\n", "tick 10\n", "--- step 1 (tick) ended: Succeeded", "=== run " + first.ev.RunID + " ended: Succeeded"} {
		if !strings.Contains(out, w) {
			t.Errorf("msx job tail output does not have %q:\n%s", w, out)
		}
	}

	// History keeps the full output.
	waitFor(t, 60*time.Second, "the run's history", func() bool {
		full := msx(t, dir, false, "job", "history", "ticker", "--server", "SQL01", "--full")
		return strings.Contains(full, "tick 1") && strings.Contains(full, "tick 10")
	})
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
