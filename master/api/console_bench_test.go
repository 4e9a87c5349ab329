package api_test

// Measurements of the console at 1,000 targets × 100 jobs (one finished run of every job on
// every target): the payload and time of each page's data, and, in headless Chromium, the time
// to the first drawn page, to each page, and from a change to the fleet page showing it.
//
//	go test -run '^$' -bench 'Console' -benchtime 10x ./master/api/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

const (
	benchTargets = 1000
	benchJobs    = 100
)

// newBenchConsole seeds the fleet and publishes one finished run of each job on each target
// (every 7th failed), and waits until the master has ingested them all.
func newBenchConsole(b *testing.B) (*fixture, seeded) {
	b.Helper()
	f := newFixtureLog(b, slog.DiscardHandler)
	s := seedFleet(b, f, benchTargets, benchJobs)
	now := time.Now().UTC()
	for k, j := range s.jobs {
		for i, name := range s.names {
			st := jobs.RunSucceeded
			if (i+k)%7 == 0 {
				st = jobs.RunFailed
			}
			runID := fmt.Sprintf("b-%d-%d", k, i)
			row, _ := json.Marshal(jobs.HistoryRow{RunID: runID, JobID: j.JobID, JobName: j.Name, RunStatus: st, Message: "The job ended.", RunStarted: now, Server: name})
			res := schemas.RunResult{RunID: runID, Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name, VersionNumber: 1, Server: name,
				Started: now, Finished: now, RunStatus: int(st), Rows: []json.RawMessage{row}}
			data, err := schemas.Encode(&res)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.js.PublishAsync(bus.ResultSubject(jobs.ServerToken(name), j.JobID), data); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-f.js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("results not acknowledged")
		}
	}
	last := s.jobs[len(s.jobs)-1]
	waitFor(b, 5*time.Minute, func() bool {
		for _, js := range f.m.JobServers(last) {
			if js.Runs == 0 {
				return false
			}
		}
		return true
	}, "every result ingested")
	return f, s
}

// BenchmarkConsolePayloads times each console read through HTTP and reports its size.
func BenchmarkConsolePayloads(b *testing.B) {
	f, s := newBenchConsole(b)
	job := url.PathEscape(s.jobs[0].Name)
	for _, v := range []struct{ name, path string }{
		{"fleet", "/api/v1/console/fleet"},
		{"fleet/problems", "/api/v1/console/fleet?status=problem&sort=heartbeat"},
		{"target", "/api/v1/targetservers/" + s.names[0]},
		{"target/jobs", "/api/v1/console/targets/" + s.names[0] + "/jobs"},
		{"jobs-grid", "/api/v1/console/grid"},
		{"jobs-grid/failed", "/api/v1/console/grid?outcome=failed"},
		{"job", "/api/v1/console/jobs/" + job},
		{"job/runs", "/api/v1/console/jobs/" + job + "/runs"},
		{"job/versions", "/api/v1/console/jobs/" + job + "/versions"},
		{"run", "/api/v1/console/jobs/" + job + "/runs/last?server=" + s.names[0]},
		{"downloadlist", "/api/v1/console/downloadlist"},
		{"events", "/api/v1/events?limit=200"},
		{"audit", "/api/v1/audit?limit=200"},
		{"old job show (unbounded)", "/api/v1/jobs/" + job},
	} {
		b.Run(v.name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				size = benchGet(b, f, v.path)
			}
			b.ReportMetric(float64(size), "payload-bytes")
		})
	}
}

func benchGet(b *testing.B, f *fixture, path string) int64 {
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.viewer)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return n
}

// BenchmarkConsoleBrowser measures in headless Chromium: first-render-ms (from the navigation
// to the fleet page drawn, signed in), ms to draw each other page after a click's route
// change, and live-update-ms (from an API change to the fleet row showing it, through the
// stream). Each iteration reloads the console.
func BenchmarkConsoleBrowser(b *testing.B) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		b.Skip("no chromium on PATH")
	}
	f, s := newBenchConsole(b)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(b.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	if err := chromedp.Do(ctx); err != nil { // start the browser on this context, not a child with a timeout
		b.Fatal(err)
	}
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			b.Fatal(err)
		}
	}
	num := func(js string) float64 {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[float64](js))
		if err != nil {
			b.Fatalf("%s: %v", js, err)
		}
		return v
	}
	run(chromedp.Navigate(f.srv.URL+"/healthz"), chromedp.Evaluate[chromedp.Void](fmt.Sprintf("localStorage.setItem('msx-token', %q)", f.admin)))
	pages := map[string]float64{}
	var first, live float64
	poll := 10
	for b.Loop() {
		// A full load each time (a navigation that changes only the fragment would not reload).
		run(chromedp.Navigate(f.srv.URL+"/healthz"), chromedp.Navigate(f.srv.URL+"/#/fleet"), chromedp.WaitVisible(chromedp.CSS(`#main[data-route="#/fleet"] #fleet tbody tr`)),
			chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
		first += num("window.__msxFirst")
		for _, p := range []struct{ route, sel string }{
			{"#/jobs", "#grid tbody tr"},
			{"#/jobs/" + url.PathEscape(s.jobs[0].Name), "#job-servers tbody tr"},
			{"#/targets/" + s.names[0], "#target-jobs tbody tr"},
			{"#/downloadlist", "h1"},
			{"#/fleet", "#fleet tbody tr"},
		} {
			run(chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", p.route)),
				chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#main[data-route=%q] %s`, p.route, p.sel))))
			pages[p.route] += num("window.__msxRendered")
		}
		// A live update: a poll interval set on the first target, seen in its fleet row.
		poll = 10 + (poll-9)%100
		time.Sleep(1500 * time.Millisecond) // the watcher has primed its view
		t0 := time.Now()
		f.must(b, f.admin, "POST", "/api/v1/targetservers/actions/setpoll", fmt.Sprintf(`{"servers":[%q],"seconds":%d}`, s.names[0], poll), nil)
		run(chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector('#fleet tr[data-server=%q]')?.textContent.includes('%d s')`, s.names[0], poll),
			chromedp.WithPollingInterval(10*time.Millisecond)))
		live += float64(time.Since(t0).Milliseconds())
	}
	n := float64(b.N)
	b.ReportMetric(first/n, "first-render-ms")
	b.ReportMetric(live/n, "live-update-ms")
	for route, ms := range pages {
		name := map[string]string{"#/jobs": "jobs", "#/fleet": "fleet", "#/downloadlist": "downloadlist"}[route]
		if name == "" {
			name = map[bool]string{true: "target", false: "job"}[route[2] == 't']
		}
		b.ReportMetric(ms/n, name+"-page-ms")
	}
	if out := os.Getenv("MSX_ARTIFACTS"); out != "" {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if shot, err := chromedp.Run(c, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(out+"/fleet-1000x100.png", shot, 0o644)
		}
	}
}
