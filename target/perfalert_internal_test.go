package target

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestPerfEvaluatorEdges: against the TDS fake, a condition raises one event when it becomes
// true, none while it stays true (delay 0), one again after it clears and comes back; with a
// delay it repeats once the delay has passed. The object's instance prefix does not matter,
// a missing counter never fires, and an event that could not be queued is raised at the
// next evaluation. The clock is the evaluator's own, moved by the test.
func TestPerfEvaluatorEdges(t *testing.T) {
	fake := mssqltest.Start(t)
	set := func(object, counter string, v int64) {
		t.Helper()
		if err := fake.SetPerfCounter(object, counter, "", v); err != nil {
			t.Fatal(err)
		}
	}
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 5000)
	set("MSSQL$INST:General Statistics", "User Connections", 10)
	var got []schemas.Event
	var failRaise bool
	raise := func(_ context.Context, evs []schemas.Event) error {
		if failRaise {
			return errors.New("disk full")
		}
		got = append(got, evs...)
		return nil
	}
	e := newPerfEvaluator(fake.Client(t), []model.Alert{
		{Name: "PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300"},
		{Name: "Conns", PerformanceCondition: "SQLServer:General Statistics|User Connections||>|100", DelayBetweenResponses: 60},
		{Name: "Ghost", PerformanceCondition: "SQLServer:Nothing|No such counter||>|0"},
		{Name: "Off", PerformanceCondition: "SQLServer:General Statistics|User Connections||>|0", Enabled: new(bool)},
	}, time.Second, raise, slog.New(slog.DiscardHandler))
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return clock }
	step := func(want ...string) {
		t.Helper()
		got = nil
		if err := e.evaluate(t.Context()); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ev := range got {
			names = append(names, ev.Alert)
			if ev.Source != model.SourcePerformance || !strings.Contains(ev.Message, "is true") || ev.ID == "" {
				t.Errorf("event %+v", ev)
			}
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("at %s: raised %v, want %v", clock.Format("15:04:05"), names, want)
		}
		clock = clock.Add(20 * time.Second)
	}
	step() // both false
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 120)
	step("PLE")
	step() // still true, delay 0: not again
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 4000)
	step() // cleared
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 100)
	step("PLE") // true again
	set("MSSQL$INST:General Statistics", "User Connections", 500)
	step("Conns")
	step()
	step()
	step("Conns") // 60 s after the first
	failRaise = true
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 4000)
	_ = e.evaluate(t.Context())
	set("MSSQL$INST:Buffer Manager", "Page life expectancy", 1)
	if err := e.evaluate(t.Context()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("a failed queue must be reported: %v", err)
	}
	failRaise = false
	step("PLE") // not lost: raised at the next evaluation
}

func TestPerfAlertsConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{SQLDSN: "x", PerfAlerts: []model.Alert{{Name: "a", PerformanceCondition: "a|b|<|1"}}}, "not 5"},
		{Config{SQLDSN: "x", PerfAlerts: []model.Alert{{PerformanceCondition: "a|b||<|1"}}}, "needs a name"},
		{Config{PerfAlerts: []model.Alert{{Name: "a", PerformanceCondition: "a|b||<|1"}}}, "--sql"},
	} {
		if err := checkPerfAlerts(&c.cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an ErrConfig saying %q", c.cfg.PerfAlerts, err, c.want)
		}
	}
	c := Config{}
	if err := checkPerfAlerts(&c); err != nil || c.PerfInterval != DefaultPerfInterval {
		t.Errorf("no alerts: %v, interval %v", err, c.PerfInterval)
	}
}

func TestLoadPerfAlerts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := LoadPerfAlerts(write("ok.json", `{"alerts":[{"name":"Errors","severity":16},{"name":"PLE","performance_condition":"SQLServer:Buffer Manager|Page life expectancy||<|300"}]}`))
	if err != nil || len(got) != 1 || got[0].Name != "PLE" {
		t.Fatalf("object form: %v %+v", err, got)
	}
	if got, err := LoadPerfAlerts(write("arr.json", `[{"name":"PLE","performance_condition":"a|b||>|1"}]`)); err != nil || len(got) != 1 {
		t.Fatalf("array form: %v %+v", err, got)
	}
	for name, c := range map[string]struct{ body, want string }{
		"bad.json":  {`[{"name":"PLE","performance_condition":"a|b|>|1"}]`, `alert "PLE": the performance condition`},
		"junk.json": {`not json`, "not a JSON array of alerts"},
	} {
		if _, err := LoadPerfAlerts(write(name, c.body)); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if _, err := LoadPerfAlerts(filepath.Join(dir, "missing.json")); !errors.Is(err, ErrConfig) {
		t.Errorf("missing file: %v", err)
	}
}
