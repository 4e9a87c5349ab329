package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas"
)

// The validating handler cannot check a stream's events (it passes a text/event-stream answer
// on as it is written): this checks the data of the live output stream's events against the
// document's OutputEvent schema, the one the console's run page and `msx job tail` read.

// TestOpenAPIOutputEvents relays a run as a target sends it (output with dropped bytes, a
// failed step attempt, a retry, the run's end) and checks each event's data against
// #/components/schemas/OutputEvent.
func TestOpenAPIOutputEvents(t *testing.T) {
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["OutputEvent"]
	if ref == nil || ref.Value == nil {
		t.Fatal("the document has no OutputEvent schema")
	}
	schema := ref.Value
	f := newOutputFixture(t)
	events, _, _ := f.follow(t, f.viewer, "SQL01")
	sent := []schemas.OutputChunk{
		{Seq: 1, StepID: 1, StepName: "one", Text: "line 1\n"},
		{Seq: 3, StepID: 1, StepName: "one", Text: "after a gap\n", Dropped: 4096},
		{Seq: 4, Kind: schemas.OutputStepEnd, StepID: 1, StepName: "one", RunStatus: 0}, // failed: run_status left out
		{Seq: 5, StepID: 1, StepName: "one", Retry: 1, Text: "again\n"},
		{Seq: 6, Kind: schemas.OutputStepEnd, StepID: 1, StepName: "one", Retry: 1, RunStatus: 1},
		{Seq: 7, Kind: schemas.OutputRunEnd, RunStatus: 1},
	}
	for _, c := range sent {
		f.chunk(t, "SQL01", c)
	}
	for i := range sent {
		var ev client.Event
		select {
		case ev = <-events:
		case <-time.After(patience):
			t.Fatalf("event %d of %d did not come", i+1, len(sent))
		}
		if ev.Name != "output" && ev.Name != "end" {
			t.Fatalf("event %d is %q, not output or end", i, ev.Name)
		}
		var v any
		if err := json.Unmarshal(ev.Data, &v); err != nil {
			t.Fatalf("event %d data %q: %v", i, ev.Data, err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("event %s %s does not match OutputEvent: %v", ev.Name, ev.Data, err)
		}
		// The schema refuses what the console would not expect: the check can fail.
		if m, ok := v.(map[string]any); ok && i == 0 {
			m["colour"] = "red"
			if schema.VisitJSON(m) == nil {
				t.Error("OutputEvent takes a field it does not list")
			}
			delete(m, "colour")
			delete(m, "seq")
			if schema.VisitJSON(m) == nil {
				t.Error("OutputEvent takes an event without seq")
			}
		}
	}
}
