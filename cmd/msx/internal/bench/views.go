package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// viewCalls is how many times each API view is timed.
const viewCalls = 20

// View is the time of one API call, through HTTP with JSON encoding, on the bench's fleet.
type View struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Dist         // over viewCalls calls
	Bytes int    `json:"bytes"`
}

// readyResults encodes one finished result of job j per target, as the target would send it.
func readyResults(f *fleet, j jobs.Job, tag string) ([][]byte, error) {
	out := make([][]byte, len(f.names))
	now := time.Now().UTC()
	for i, n := range f.names {
		row, _ := json.Marshal(jobs.HistoryRow{RunID: tag + "-" + strconv.Itoa(i), JobID: j.JobID, JobName: j.Name, StepName: "(Job outcome)",
			RunStatus: jobs.RunSucceeded, RunDate: jobs.DateInt(now), RunTime: jobs.TimeInt(now), Server: n,
			Message: "The job succeeded. The Job was invoked by msx bench. The last step to run was step 1 (noop)."})
		b, err := schemas.Encode(&schemas.RunResult{Rows: []json.RawMessage{row}, RunID: tag + "-" + strconv.Itoa(i), Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
			VersionNumber: j.VersionNumber, Server: n, InvokedBy: "msx bench", Started: now, Finished: now, RunStatus: int(jobs.RunSucceeded),
			Message: "The job succeeded."})
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// publishResults async-publishes each target's ready result on its result subject.
func (b *bench) publishResults(js jetstream.JetStream, f *fleet, j jobs.Job, payloads [][]byte, tag string) error {
	for i, tok := range f.toks {
		if _, err := js.PublishAsync(bus.ResultSubject(tok, j.JobID), payloads[i], jetstream.WithMsgID(tag+"-"+strconv.Itoa(i))); err != nil {
			return fmt.Errorf("publish result: %w", err)
		}
	}
	return nil
}

// ingestRun measures results ingestion alone: every target's finished result, ready-made, is
// published at once (no job runs), and each is timed until the master shows it. Its raw
// counterpart is the raw results figure: as many messages of the same size, consumed and
// decoded by one ordered consumer.
func (b *bench) ingestRun(ctx context.Context, f *fleet) error {
	e, n := b.e, b.cfg.Targets
	progress(b.cfg, "results ingestion: %d ready-made results published at once", n)
	cur, base, err := e.fleetRuns()
	if err != nil {
		return err
	}
	payloads, err := readyResults(f, cur, "ingest")
	if err != nil {
		return err
	}
	pubNC, err := e.connect(ctx, "msx-bench-ingest")
	if err != nil {
		return err
	}
	defer pubNC.Close()
	pjs, _ := jetstream.New(pubNC, jetstream.WithPublishAsyncMaxPending(max(4000, n)))
	t0 := time.Now()
	if err := b.publishResults(pjs, f, cur, payloads, "ingest"); err != nil {
		return err
	}
	ingested := map[string]time.Duration{}
	deadline := t0.Add(b.cfg.PhaseTimeout)
	for len(ingested) < n {
		now := time.Now()
		for _, js := range e.m.JobServers(cur) {
			if _, ok := ingested[js.ServerName]; !ok && js.Runs > base[js.ServerName] {
				ingested[js.ServerName] = now.Sub(t0)
			}
		}
		if now.After(deadline) {
			return fmt.Errorf("ingest: %d of %d results not shown by the master after %s: %w", n-len(ingested), n, b.cfg.PhaseTimeout, errTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	lat := make([]time.Duration, 0, n)
	for _, d := range ingested {
		lat = append(lat, d)
	}
	last := maxOf(lat)
	b.ingest = Figures{Dist: distOf(lat), TotalMS: ms(last), PerSecond: round3(float64(n) / last.Seconds())}
	return nil
}

// viewsRun grows the catalogue to cfg.ViewJobs jobs on the whole fleet (applied, so the download
// list holds their rows), gives every job one outcome per target, and times each API view
// through HTTP.
func (b *bench) viewsRun(ctx context.Context, f *fleet) error {
	e, n, viewJobs := b.e, b.cfg.Targets, b.cfg.ViewJobs
	if viewJobs < 0 {
		return nil
	}
	progress(b.cfg, "views: %d jobs on %d targets", viewJobs, n)
	all := []jobs.Job{}
	for i := 1; i < viewJobs; i++ {
		res, err := e.m.ApplyJob(ctx, benchJob(fmt.Sprintf("msx bench view %03d", i), "API views", jobs.Targets{Groups: []string{fleetGroup}}))
		if err != nil {
			return fmt.Errorf("views: apply job %d: %w", i, err)
		}
		all = append(all, res.Job)
	}
	if err := b.waitPending(ctx, "views (instructions applied)", n, f, func() int {
		return len(e.m.Ledger.List(ledger.Filter{Pending: true}))
	}); err != nil {
		return err
	}
	cur, err := e.m.Catalog.Get(fleetJob)
	if err != nil {
		return err
	}
	all = append([]jobs.Job{cur}, all...)
	pubNC, err := e.connect(ctx, "msx-bench-views")
	if err != nil {
		return err
	}
	defer pubNC.Close()
	pjs, _ := jetstream.New(pubNC, jetstream.WithPublishAsyncMaxPending(max(4000, n)))
	for _, j := range all {
		payloads, err := readyResults(f, j, "view")
		if err != nil {
			return err
		}
		if err := b.publishResults(pjs, f, j, payloads, "view-"+j.JobID); err != nil {
			return err
		}
		select {
		case <-pjs.PublishAsyncComplete():
		case <-time.After(b.cfg.PhaseTimeout):
			return fmt.Errorf("views: results of %s not acknowledged: %w", j.Name, errTimeout)
		}
	}
	last := all[len(all)-1] // results are ingested in order: once these are in, all are
	if err := b.waitPending(ctx, "views (outcomes ingested)", n, f, func() int {
		left := 0
		for _, js := range e.m.JobServers(last) {
			if js.Runs == 0 {
				left++
			}
		}
		return left
	}); err != nil {
		return err
	}
	tok, _, err := e.m.Tokens.Create(ctx, auth.RoleViewer, time.Hour, "msx bench", "API views")
	if err != nil {
		return err
	}
	srv := httptest.NewServer(api.New(e.m, e.log))
	defer srv.Close()
	job := url.PathEscape(fleetJob)
	for _, v := range []View{
		{Name: "targets list", Path: "/api/v1/targetservers"},
		{Name: "jobs list", Path: "/api/v1/jobs"},
		{Name: "job servers grid (job show)", Path: "/api/v1/jobs/" + job},
		{Name: "history, limit 20", Path: "/api/v1/jobs/" + job + "/history?limit=20"},
		{Name: "history of one target", Path: "/api/v1/jobs/" + job + "/history?server=" + f.names[0]},
		{Name: "download list, errors", Path: "/api/v1/downloadlist?errors=true"},
		{Name: "download list, one target", Path: "/api/v1/downloadlist?server=" + f.names[0]},
		{Name: "download list, newest 100", Path: "/api/v1/downloadlist?limit=100"},
		{Name: "events, newest 100", Path: "/api/v1/events?limit=100"},
		{Name: "dashboard", Path: "/api/v1/dashboard"},
		{Name: "dashboard, one job's grid", Path: "/api/v1/dashboard?job=" + job},
		{Name: "console: fleet page", Path: "/api/v1/console/fleet"},
		{Name: "console: jobs grid", Path: "/api/v1/console/grid"},
		{Name: "console: job page", Path: "/api/v1/console/jobs/" + job},
		{Name: "console: a target's jobs", Path: "/api/v1/console/targets/" + f.names[0] + "/jobs"},
	} {
		var ds []time.Duration
		for i := range viewCalls + 1 {
			t0 := time.Now()
			size, err := get(ctx, srv.URL+v.Path, tok)
			if err != nil {
				return fmt.Errorf("views: %s: %w", v.Name, err)
			}
			if i > 0 { // the first call warms up
				ds = append(ds, time.Since(t0))
			}
			v.Bytes = size
		}
		v.Dist = distOf(ds)
		b.rep.Views = append(b.rep.Views, v)
	}
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("views: %d jobs on all %d targets, one outcome of each job on each target, %d download-list rows; each view called %d times through HTTP (JSON encoded), after one warm-up call",
		viewJobs, n, len(e.m.Ledger.List(ledger.Filter{})), viewCalls))
	return nil
}

// get reads one API answer and returns its size.
func get(ctx context.Context, u, tok string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return int(n), nil
}
