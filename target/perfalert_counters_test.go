package target

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestPerfCounterTypes: against the TDS fake serving cntr_type and base rows, a per-second
// counter (PERF_COUNTER_BULK_COUNT) is judged on the difference of two samples over the seconds
// between them (never on its cumulative value, never at the first sample, not across a reset),
// a ratio (PERF_LARGE_RAW_FRACTION) on 100 * value / its "base" row, an average
// (PERF_AVERAGE_BULK) on the differences of value and base, and a ratio without its base row
// never fires.
func TestPerfCounterTypes(t *testing.T) {
	fake := mssqltest.Start(t)
	const sqlStats, buf, locks = "SQLServer:SQL Statistics", "SQLServer:Buffer Manager", "SQLServer:Locks"
	set := func(object, counter, instance string, v int64, typ int) {
		t.Helper()
		if err := fake.SetPerfCounterType(object, counter, instance, v, typ); err != nil {
			t.Fatal(err)
		}
	}
	set(sqlStats, "Batch Requests/sec", "", 1_000_000, mssqltest.PerfBulkCount) // huge cumulative value
	set(buf, "Buffer cache hit ratio", "", 99, mssqltest.PerfLargeRawFraction)
	set(buf, "Buffer cache hit ratio base", "", 100, mssqltest.PerfLargeRawBase)
	set(locks, "Average Wait Time (ms)", "_Total", 0, mssqltest.PerfAverageBulk)
	set(locks, "Average Wait Time (ms) base", "_Total", 0, mssqltest.PerfLargeRawBase)
	set(locks, "Lock Timeouts Ratio", "", 5, mssqltest.PerfLargeRawFraction) // no base row
	var got []string
	raise := func(_ context.Context, evs []schemas.Event) error {
		for _, ev := range evs {
			got = append(got, ev.Alert)
		}
		return nil
	}
	e := newPerfEvaluator(fake.Client(t), []model.Alert{
		{Name: "Batches", PerformanceCondition: sqlStats + "|Batch Requests/sec||>|500"},
		{Name: "Hits", PerformanceCondition: buf + "|Buffer cache hit ratio||<|90"},
		{Name: "LockWait", PerformanceCondition: locks + "|Average Wait Time (ms)|_Total|>|100"},
		{Name: "NoBase", PerformanceCondition: locks + "|Lock Timeouts Ratio||>|-1"},
	}, time.Second, raise, slog.New(slog.DiscardHandler))
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return clock }
	step := func(name string, want ...string) {
		t.Helper()
		got = nil
		if err := e.evaluate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
			t.Fatalf("%s: raised %v, want %v", name, got, want)
		}
		clock = clock.Add(10 * time.Second)
	}
	step("first sample: per-second and average not judged, ratio 99% fine")
	set(sqlStats, "Batch Requests/sec", "", 1_000_000+4_000, mssqltest.PerfBulkCount) // 400/s
	set(locks, "Average Wait Time (ms)", "_Total", 500, mssqltest.PerfAverageBulk)
	set(locks, "Average Wait Time (ms) base", "_Total", 10, mssqltest.PerfLargeRawBase) // 50 ms a wait
	step("400/s, 50 ms: all false")
	set(sqlStats, "Batch Requests/sec", "", 1_004_000+6_000, mssqltest.PerfBulkCount) // 600/s
	step("600/s", "Batches")
	set(sqlStats, "Batch Requests/sec", "", 10, mssqltest.PerfBulkCount) // reset (restart): not a rate
	step("reset")
	set(buf, "Buffer cache hit ratio", "", 850, mssqltest.PerfLargeRawFraction)
	set(buf, "Buffer cache hit ratio base", "", 1000, mssqltest.PerfLargeRawBase) // 85%
	step("85%", "Hits")
	set(locks, "Average Wait Time (ms)", "_Total", 500+3_000, mssqltest.PerfAverageBulk)
	set(locks, "Average Wait Time (ms) base", "_Total", 10+10, mssqltest.PerfLargeRawBase) // 300 ms a wait
	step("300 ms a wait", "LockWait")
	step("nothing changed: no new events")
	for _, a := range e.alerts {
		if a.name == "NoBase" && !a.missing {
			t.Error("a ratio without its base row is not reported missing")
		}
	}
}

// TestCounterValueEdges: the computation itself, on values a SQL Server may report.
func TestCounterValueEdges(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	base := perfRow{object: "SQLServer:Buffer Manager", counter: "Buffer cache hit ratio base", typ: cntrRawBase}
	for _, tc := range []struct {
		name  string
		r     perfRow
		rows  []perfRow
		prev  perfSample
		now   time.Time
		want  float64
		ready bool
	}{
		{"raw", perfRow{value: 42, typ: cntrRawCount}, nil, perfSample{}, t0, 42, true},
		{"unknown type read raw", perfRow{value: 7, typ: 12345}, nil, perfSample{}, t0, 7, true},
		{"rate", perfRow{value: 300, typ: cntrBulkCount}, nil, perfSample{ok: true, value: 100, at: t0}, t0.Add(20 * time.Second), 10, true},
		{"rate, same instant", perfRow{value: 300, typ: cntrBulkCount}, nil, perfSample{ok: true, value: 100, at: t0}, t0, 0, false},
		{"ratio base 0", perfRow{object: base.object, counter: "Buffer cache hit ratio", value: 5, typ: cntrRawFraction}, []perfRow{base}, perfSample{}, t0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ready, _, _ := counterValue(tc.r, tc.rows, tc.prev, tc.now)
			if v != tc.want || ready != tc.ready {
				t.Errorf("got %v ready %v, want %v ready %v", v, ready, tc.want, tc.ready)
			}
		})
	}
}
