package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// BenchmarkMetricsScrape gathers and encodes the master's series in the text format (a scrape
// without HTTP) on a fleet of 1,000 targets and 100 jobs, each applied to every target with an
// hourly schedule and one finished run per target: 100,000 job × target pairs.
//
//	go test -run '^$' -bench MetricsScrape -benchtime 5x ./master/
func BenchmarkMetricsScrape(b *testing.B) {
	const targets, jobCount = 1000, 100
	m := newScrapeFleet(b, targets, jobCount)
	for _, opt := range []master.MetricsOptions{{}, {NoServerLabel: true}} {
		reg := master.NewMetricsRegistry(m, opt)
		b.Run(fmt.Sprintf("targets=%d/jobs=%d/no_server_label=%v", targets, jobCount, opt.NoServerLabel), func(b *testing.B) {
			var size, samples int
			for b.Loop() {
				size, samples = scrapeText(b, reg)
			}
			b.ReportMetric(float64(size), "bytes/scrape")
			b.ReportMetric(float64(samples), "series/scrape")
		})
	}
}

// scrapeText gathers reg and encodes it as Prometheus's text format; it returns the size and
// the number of samples.
func scrapeText(b *testing.B, reg prometheus.Gatherer) (size, samples int) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	cw := &countWriter{}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
		for _, mt := range mf.GetMetric() {
			samples++
			if h := mt.GetHistogram(); h != nil {
				samples += len(h.GetBucket()) + 1 // +Inf with the buckets, sum and count
			}
		}
	}
	return cw.n, samples
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// startBenchMaster starts a JetStream server and a master on it, stopped when b ends.
func startBenchMaster(b *testing.B) (*master.Master, jetstream.JetStream) {
	b.Helper()
	srv := bustest.RunServer(b, "")
	nc, js := bustest.Connect(b, srv.ClientURL())
	m, err := master.Start(b.Context(), nc, master.Config{Name: masterName, Logger: bustest.Logger(b)})
	if err != nil {
		b.Fatalf("start master: %v", err)
	}
	b.Cleanup(func() { shutdownMaster(b, m) })
	return m, js
}

// newScrapeFleet is a master with n targets (written to the registry, no agents) in one group,
// jobCount jobs on that group with an hourly schedule, and one finished result of each job per
// target, published as targets publish them.
func newScrapeFleet(b *testing.B, n, jobCount int) *master.Master {
	b.Helper()
	ctx := b.Context()
	m, js, names := startBenchGroup(b, "SCRAPE", n)
	hourly := schedule.Schedule{Name: "hourly", FreqType: 4, FreqInterval: 1, FreqSubdayType: 8, FreqSubdayInterval: 1}
	now := time.Now().UTC()
	for k := range jobCount {
		j := jobs.Job{JobID: fmt.Sprintf("00000000-0000-0000-0002-%012d", k), Name: fmt.Sprintf("scrape job %03d", k), VersionNumber: 1,
			Targets: jobs.Targets{Groups: []string{"ALL"}}, Schedules: []schedule.Schedule{hourly}}
		if err := m.Catalog.Put(ctx, j); err != nil {
			b.Fatal(err)
		}
		for i, name := range names {
			status := jobs.RunSucceeded
			if i%10 == 0 {
				status = jobs.RunFailed
			}
			row, _ := json.Marshal(jobs.HistoryRow{JobID: j.JobID, JobName: j.Name, RunStatus: status})
			data, err := schemas.Encode(&schemas.RunResult{RunID: fmt.Sprintf("run-%d-%d", k, i), Phase: schemas.PhaseFinished, JobID: j.JobID,
				JobName: j.Name, VersionNumber: 1, Server: name, Started: now.Add(-time.Duration(i) * time.Second), Finished: now,
				RunStatus: int(status), Rows: []json.RawMessage{row}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := js.PublishAsync(bus.ResultSubject(jobs.ServerToken(name), j.JobID), data); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("results not acknowledged")
		}
	}
	last, _ := m.Catalog.ByName(fmt.Sprintf("scrape job %03d", jobCount-1))
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for wctx.Err() == nil {
		done := 0
		for _, s := range m.JobServers(last) {
			done += s.Runs
		}
		if done == n {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("results of %s not ingested", last.Name)
	return nil
}
