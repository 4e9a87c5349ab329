package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas"
)

// What the validating handler does not catch by itself: a stream's events (it passes a
// text/event-stream answer on as it is written), checked here against the document's
// OutputEvent schema, the one the console's run page and `msx job tail` read; and answers that
// only some data makes wrong (null lists of a job whose schedules have no next run).

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

// TestOpenAPINoNullLists: a job whose schedules have no next run (one disabled, one that ended)
// and one in a named time zone, with no target yet: its views list no runs and no servers as
// [], never null, which the document (and the console's code) would not take. Both the job
// view and the console's job page are checked, through the validating handler and by hand.
func TestOpenAPINoNullLists(t *testing.T) {
	f := newFixture(t)
	f.must(t, f.admin, "POST", "/api/v1/jobs", `{"name":"Quiet","steps":[{"step_name":"a","command":"SELECT 1"}],"schedules":[
		{"name":"off","enabled":false,"freq_type":4,"active_start_time":20000},
		{"name":"over","freq_type":1,"active_start_date":20200101,"active_start_time":10000},
		{"name":"Tokyo","cron":"0 3 * * *","time_zone":"Asia/Tokyo"}]}`, nil)
	for _, path := range []string{"/api/v1/jobs/Quiet", "/api/v1/console/jobs/Quiet"} {
		r := f.do(t, f.viewer, "GET", path, "")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %s", path, r)
		}
		var v struct {
			Schedules []struct {
				Name     string            `json:"name"`
				NextRuns []json.RawMessage `json:"next_runs"`
				ByZone   []struct {
					Servers  json.RawMessage `json:"servers"`
					NextRuns json.RawMessage `json:"next_runs"`
				} `json:"by_zone"`
			} `json:"schedules"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Schedules) != 3 {
			t.Fatalf("%s: %d schedules, want 3: %s", path, len(v.Schedules), r.body)
		}
		for _, sc := range v.Schedules {
			if sc.NextRuns == nil {
				t.Errorf("%s: schedule %s answers next_runs null", path, sc.Name)
			}
			for _, z := range sc.ByZone {
				if string(z.Servers) == "null" || string(z.NextRuns) == "null" {
					t.Errorf("%s: schedule %s answers a zone with null lists: servers %s, next_runs %s", path, sc.Name, z.Servers, z.NextRuns)
				}
			}
		}
	}
}
