package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
)

// TestTailerHostileOutput feeds the tailer what a step (or a hostile target) could print:
// terminal escapes, a fake prompt, bidi overrides, and names with control characters. Nothing
// reaches the terminal raw; lost and dropped output is said; the run's end stops it.
func TestTailerHostileOutput(t *testing.T) {
	var out bytes.Buffer
	tl := &tailer{out: &out}
	send := func(name string, o api.OutputEvent) error {
		b, _ := json.Marshal(o)
		return tl.event(client.Event{Name: name, Data: b})
	}
	base := api.OutputEvent{Server: "SQL01", Job: "Nightly\x1b[2J", RunID: "R1", StepID: 1, StepName: "evil\r\nname"}
	steps := []struct {
		name string
		ev   func(o api.OutputEvent) api.OutputEvent
	}{
		{"output", func(o api.OutputEvent) api.OutputEvent {
			o.Seq, o.Text = 1, "clear \x1b[2J\x1b]0;pwned\x07 done\n"
			return o
		}},
		{"output", func(o api.OutputEvent) api.OutputEvent {
			o.Seq, o.Text = 2, "progress 10%\rprogress 20%\u202eevil\n"
			return o
		}},
		{"output", func(o api.OutputEvent) api.OutputEvent { o.Seq, o.Text, o.Dropped = 5, "after a gap", 4096; return o }},
		{"end", func(o api.OutputEvent) api.OutputEvent { o.Seq, o.Scope, o.RunStatus = 6, "step", 0; return o }},
	}
	for _, s := range steps {
		if err := send(s.name, s.ev(base)); err != nil {
			t.Fatal(err)
		}
	}
	end := base
	end.Seq, end.Scope, end.RunStatus, end.StepID, end.StepName = 7, "run", 0, 0, ""
	if err := send("end", end); !errors.Is(err, client.ErrStop) {
		t.Fatalf("run end: %v, want ErrStop", err)
	}
	got := out.String()
	for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e"} {
		if strings.Contains(got, bad) {
			t.Errorf("output holds %q raw:\n%s", bad, got)
		}
	}
	for _, want := range []string{
		`=== run R1 of job Nightly\x1b[2J on SQL01`, `--- step 1 (evil\r\nname)`, `clear \x1b[2J\x1b]0;pwned\a done`,
		`progress 10%\rprogress 20%\u202eevil`, "[2 output messages lost", "[4096 bytes of output dropped",
		"after a gap\n--- step 1 (evil\\r\\nname) ended: Failed", "=== run R1 ended: Failed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not have %q:\n%s", want, got)
		}
	}
	if !tl.ended {
		t.Error("the tailer did not note the run's end")
	}
}

// TestTailerFollow keeps going past a run's end with --follow, and refuses data that is not
// JSON with an error instead of printing it.
func TestTailerFollow(t *testing.T) {
	var out bytes.Buffer
	tl := &tailer{out: &out, follow: true}
	b, _ := json.Marshal(api.OutputEvent{Server: "SQL01", Job: "J", RunID: "R1", Seq: 1, Scope: "run", RunStatus: 1})
	if err := tl.event(client.Event{Name: "end", Data: b}); err != nil {
		t.Fatalf("--follow stopped at the run's end: %v", err)
	}
	if err := tl.event(client.Event{Name: "output", Data: []byte("\x1b[2J not json")}); err == nil {
		t.Fatal("non-JSON data accepted")
	}
	if err := tl.event(client.Event{Name: "future", Data: []byte("{}")}); err != nil {
		t.Fatalf("an unknown event: %v", err)
	}
}
