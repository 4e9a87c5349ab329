package master_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
	notifymodel "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/schemas/schedule"
)

// series gathers a registry into "name{label=value,...}" -> value, labels sorted by name;
// histograms as name_count and name_sum.
func series(tb testing.TB, reg prometheus.Gatherer) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, l := range mt.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(ls)
			key := func(name string) string { return name + "{" + strings.Join(ls, ",") + "}" }
			switch {
			case mt.Gauge != nil:
				out[key(mf.GetName())] = mt.Gauge.GetValue()
			case mt.Counter != nil:
				out[key(mf.GetName())] = mt.Counter.GetValue()
			case mt.Histogram != nil:
				out[key(mf.GetName()+"_count")] = float64(mt.Histogram.GetSampleCount())
				out[key(mf.GetName()+"_sum")] = mt.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// checkSeries compares the wanted series with got: each must be present with its value.
func checkSeries(tb testing.TB, got map[string]float64, want map[string]float64) {
	tb.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			tb.Errorf("series %s missing", k)
		case g != v:
			tb.Errorf("series %s = %v, want %v", k, g, v)
		}
	}
}

// scheduledJob is cmdJob with an enabled daily schedule at 03:00.
func scheduledJob(tb testing.TB, name, command string, servers ...string) jobs.Job {
	tb.Helper()
	j := cmdJob(tb, name, command, servers...)
	j.Schedules = []schedule.Schedule{{Name: "nightly", FreqType: 4, FreqInterval: 1, ActiveStartTime: 30000}}
	return j
}

// TestMetricsSeries runs jobs with known outcomes on two targets and checks every msx series
// of the leader, then of a second master started with the per-target label dropped: it
// rebuilds the same gauges from the streams, and counts only the runs that finish after it
// started (a replayed run is never counted twice by Prometheus's increase()).
func TestMetricsSeries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.startTarget(t, "sqlmet1"), f.startTarget(t, "sqlmet2")
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	good := f.apply(t, scheduledJob(t, "Good job", "echo fine", "sqlmet1", "sqlmet2"))
	bad := f.apply(t, cmdJob(t, "Bad job", "echo broken; exit 3", "sqlmet1"))
	f.waitAllApplied(t, append(good.Posted, bad.Posted...))
	run := func(job, server string, runs int) master.JobServer {
		t.Helper()
		p, err := f.m.StartJob(t.Context(), job, server, false)
		if err != nil {
			t.Fatal(err)
		}
		f.waitAllApplied(t, p)
		return f.waitOutcome(t, job, server, runs)
	}
	g1 := run("Good job", "sqlmet1", 1)
	g2 := run("Good job", "sqlmet2", 1)
	run("Bad job", "sqlmet1", 1)
	b2 := run("Bad job", "sqlmet1", 2)
	if b2.LastRunOutcome != jobs.OutcomeFailed || g1.LastRunOutcome != jobs.OutcomeSucceeded {
		t.Fatalf("outcomes %v and %v, want failed and succeeded", b2.LastRunOutcome, g1.LastRunOutcome)
	}
	ts, _ := f.m.TargetServer(a.name())
	loc := time.FixedZone("", ts.TimeZoneAdjustment*60)
	next, ok := good.Job.Schedules[0].Next(time.Now(), loc)
	if !ok {
		t.Fatal("the nightly schedule has no next run")
	}
	s1, s2 := a.name(), b.name()
	got := series(t, f.m.Metrics())
	checkSeries(t, got, map[string]float64{
		"msx_master_leader{}":                                                         1,
		"msx_master_rejected_messages_total{}":                                        0,
		"msx_master_misattributed_messages_total{}":                                   0,
		"msx_targets{state=all}":                                                      2,
		"msx_targets{state=connected}":                                                2,
		"msx_targets{state=offline}":                                                  0,
		"msx_targets{state=disk_full}":                                                0,
		"msx_instructions_unread{}":                                                   0,
		"msx_instructions_failed{}":                                                   0,
		"msx_target_connected{server=" + s1 + "}":                                     1,
		"msx_target_status_flags{server=" + s2 + "}":                                  1,
		"msx_target_unread_instructions{server=" + s1 + "}":                           0,
		"msx_target_failed_instructions{server=" + s1 + "}":                           0,
		"msx_target_disk_state{server=" + s1 + ",state=ok}":                           1,
		"msx_target_disk_state{server=" + s1 + ",state=full}":                         0,
		"msx_job_runs_total{job_name=Good job,outcome=succeeded,server=" + s1 + "}":   1,
		"msx_job_runs_total{job_name=Good job,outcome=succeeded,server=" + s2 + "}":   1,
		"msx_job_runs_total{job_name=Bad job,outcome=failed,server=" + s1 + "}":       2,
		"msx_job_last_run_outcome{job_name=Bad job,server=" + s1 + "}":                0,
		"msx_job_last_run_outcome{job_name=Good job,server=" + s2 + "}":               1,
		"msx_job_last_success_timestamp_seconds{job_name=Good job,server=" + s1 + "}": float64(g1.Finished.UnixNano()) / 1e9,
		"msx_job_last_success_timestamp_seconds{job_name=Good job,server=" + s2 + "}": float64(g2.Finished.UnixNano()) / 1e9,
		"msx_job_next_run_timestamp_seconds{job_name=Good job,server=" + s1 + "}":     float64(next.UnixNano()) / 1e9,
		"msx_job_schedule_missed{job_name=Good job,server=" + s1 + "}":                0,
		"msx_job_missed_schedules{job_name=Good job}":                                 0,
		"msx_job_targets{job_name=Bad job,outcome=failed}":                            1,
		"msx_job_targets{job_name=Good job,outcome=succeeded}":                        2,
		"msx_job_run_duration_seconds_count{job_name=Good job}":                       2,
		"msx_job_run_duration_seconds_count{job_name=Bad job}":                        2,
		"go_goroutines{}": got["go_goroutines{}"],
	})
	for k := range got {
		if strings.HasPrefix(k, "msx_job_runs_total{job_name=Bad job,outcome=succeeded") ||
			strings.HasPrefix(k, "msx_job_last_success_timestamp_seconds{job_name=Bad job") ||
			strings.HasPrefix(k, "msx_job_next_run_timestamp_seconds{job_name=Bad job") {
			t.Errorf("series %s of a job that never succeeded and has no schedule", k)
		}
	}
	if _, ok := got["process_open_fds{}"]; !ok {
		t.Error("the process collector's series are missing")
	}
	if _, ok := got["go_goroutines{}"]; !ok {
		t.Error("the Go collector's series are missing")
	}

	checkShippedNames(t, got)

	// Two days on, the nightly run was due on both targets and neither started it.
	later := time.Now().Add(49 * time.Hour)
	master.SetMetricsClock(f.m, func() time.Time { return later })
	checkSeries(t, series(t, f.m.Metrics()), map[string]float64{
		"msx_job_schedule_missed{job_name=Good job,server=" + s1 + "}": 1,
		"msx_job_schedule_missed{job_name=Good job,server=" + s2 + "}": 1,
		"msx_job_missed_schedules{job_name=Good job}":                  2,
		"msx_job_missed_schedules{job_name=Bad job}":                   0,
		"msx_targets{state=offline}":                                   2,
	})
	master.SetMetricsClock(f.m, time.Now)

	// A second master with the server label dropped: job series aggregated, no per-target series.
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	m2, err := master.Start(ctx, f.nc, master.Config{Name: "MSXMET2", Logger: bustest.Logger(t),
		Metrics: master.MetricsOptions{NoServerLabel: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownMaster(t, m2) })
	var agg map[string]float64
	waitFor(t, patience, func() bool {
		agg = series(t, m2.Metrics())
		return agg["msx_targets{state=connected}"] == 2
	}, "the second master sees both targets connected (%v)", &agg)
	// The runs it replayed from the stream are not counted again (its counters start at zero,
	// as a counter of a new process does); its gauges show them.
	for k := range agg {
		if strings.HasPrefix(k, "msx_job_runs_total") || strings.HasPrefix(k, "msx_job_run_duration_seconds") {
			t.Errorf("the second master counts a run it replayed: %s = %v", k, agg[k])
		}
	}
	checkSeries(t, agg, map[string]float64{
		"msx_master_leader{}": 0,
		"msx_job_last_success_timestamp_seconds{job_name=Good job}": float64(min(g1.Finished.UnixNano(), g2.Finished.UnixNano())) / 1e9,
		"msx_job_next_run_timestamp_seconds{job_name=Good job}":     float64(next.UnixNano()) / 1e9,
		"msx_job_targets{job_name=Good job,outcome=succeeded}":      2,
		"msx_job_targets{job_name=Bad job,outcome=failed}":          1,
		"msx_targets{state=all}":                                    2,
	})
	// A run now is counted once by each master.
	g1 = run("Good job", "sqlmet1", 2)
	waitFor(t, patience, func() bool {
		agg = series(t, m2.Metrics())
		return agg["msx_job_runs_total{job_name=Good job,outcome=succeeded}"] >= 1
	}, "the second master counts the new run (%v)", &agg)
	checkSeries(t, agg, map[string]float64{
		"msx_job_runs_total{job_name=Good job,outcome=succeeded}":   1,
		"msx_job_run_duration_seconds_count{job_name=Good job}":     1,
		"msx_job_last_success_timestamp_seconds{job_name=Good job}": float64(min(g1.Finished.UnixNano(), g2.Finished.UnixNano())) / 1e9,
	})
	// A target leaving the job does not lower the job's counter (a drop would read as a reset,
	// and increase() would count every run again).
	f.apply(t, scheduledJob(t, "Good job", "echo fine", "sqlmet2"))
	waitFor(t, patience, func() bool {
		agg = series(t, m2.Metrics())
		return agg["msx_job_targets{job_name=Good job,outcome=succeeded}"] == 1
	}, "the second master sees the job on one target (%v)", &agg)
	checkSeries(t, agg, map[string]float64{"msx_job_runs_total{job_name=Good job,outcome=succeeded}": 1})
	f.apply(t, scheduledJob(t, "Good job", "echo fine", "sqlmet1", "sqlmet2"))

	checkSeries(t, series(t, f.m.Metrics()), map[string]float64{
		"msx_job_runs_total{job_name=Good job,outcome=succeeded,server=" + s1 + "}":   2,
		"msx_job_runs_total{job_name=Good job,outcome=succeeded,server=" + s2 + "}":   1,
		"msx_job_run_duration_seconds_count{job_name=Good job}":                       3,
		"msx_job_last_success_timestamp_seconds{job_name=Good job,server=" + s1 + "}": float64(g1.Finished.UnixNano()) / 1e9,
	})
	for k := range agg {
		if strings.Contains(k, "server=") {
			t.Errorf("series %s has the server label the master was told to drop", k)
		}
	}
}

// checkShippedNames fails for every msx series the shipped rules and dashboard use that the
// master does not expose (got: the series of a fleet with runs of every outcome kind).
func checkShippedNames(t *testing.T, got map[string]float64) {
	t.Helper()
	names := map[string]bool{}
	for k := range got {
		name, _, _ := strings.Cut(k, "{")
		names[name] = true
		if base, ok := strings.CutSuffix(name, "_count"); ok {
			names[base+"_bucket"] = true
		}
	}
	word := regexp.MustCompile(`msx_[a-z_]+`)
	for _, f := range []string{"msx-rules.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Errorf("%s is not valid JSON", f)
		}
		used := word.FindAllString(string(b), -1)
		if len(used) < 5 {
			t.Errorf("%s names %d msx series: %v", f, len(used), used)
		}
		for _, n := range used {
			if !names[n] {
				t.Errorf("%s uses %s, which the master does not expose", f, n)
			}
		}
	}
}

// TestMetricsNotifications checks that the notifications a master sends are counted by channel
// and result: a test message to a real webhook receiver that accepts it, and one to a receiver
// that refuses it (no retry helps a 4xx).
func TestMetricsNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var got atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer ok.Close()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer refuse.Close()
	for name, url := range map[string]string{"Hooked": ok.URL, "Refused": refuse.URL} {
		if _, err := f.m.Notify.PutOperator(t.Context(), notifymodel.Operator{Name: name, WebhookURL: url}, true); err != nil {
			t.Fatal(err)
		}
		_, _ = f.m.Notify.TestOperator(t.Context(), name) // the refused one reports its failure
	}
	if got.Load() != 1 {
		t.Fatalf("the webhook receiver got %d messages, want 1", got.Load())
	}
	checkSeries(t, series(t, f.m.Metrics()), map[string]float64{
		"msx_notifications_total{channel=webhook,result=sent}":   1,
		"msx_notifications_total{channel=webhook,result=failed}": 1,
	})
}
