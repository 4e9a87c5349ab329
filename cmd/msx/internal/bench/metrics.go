package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
)

// scrapeCalls is how many times each Prometheus scrape is timed (after one warm-up call).
const scrapeCalls = 5

// scrapeRun times a Prometheus scrape of the master's /metrics on the views' fleet (every job
// on every target, one outcome each): through the API with a viewer token, with the server
// label, and as `--metrics-no-server-label` serves it. The figures join the views (bytes: the
// size of the body); a note gives the series count of each.
func (b *bench) scrapeRun(ctx context.Context) error {
	e := b.e
	progress(b.cfg, "metrics: timing /metrics scrapes on %d targets and %d jobs", b.cfg.Targets, len(e.m.Catalog.All()))
	tok, _, err := e.m.Tokens.Create(ctx, auth.RoleViewer, time.Hour, "msx bench", "metrics scrape")
	if err != nil {
		return err
	}
	apiSrv := httptest.NewServer(api.New(e.m, e.log))
	defer apiSrv.Close()
	aggSrv := httptest.NewServer(promhttp.HandlerFor(master.NewMetricsRegistry(e.m, master.MetricsOptions{NoServerLabel: true}), promhttp.HandlerOpts{}))
	defer aggSrv.Close()
	for _, s := range []struct{ name, url string }{
		{"metrics scrape, per target", apiSrv.URL + "/metrics"},
		{"metrics scrape, no server label", aggSrv.URL + "/metrics"},
	} {
		v := View{Name: s.name, Path: "/metrics"}
		var ds []time.Duration
		series := 0
		for i := range scrapeCalls + 1 {
			t0 := time.Now()
			size, n, err := scrape(ctx, s.url, tok)
			if err != nil {
				return fmt.Errorf("metrics: %s: %w", s.name, err)
			}
			if i > 0 {
				ds = append(ds, time.Since(t0))
			}
			v.Bytes, series = size, n
		}
		v.Dist = distOf(ds)
		b.rep.Views = append(b.rep.Views, v)
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("%s: %d series, %d bytes, p50 %.0f ms (each scrape timed %d times through HTTP, text format, after one warm-up)",
			s.name, series, v.Bytes, v.P50MS, scrapeCalls))
	}
	return nil
}

// scrape reads one /metrics body in the text format and returns its size and its samples.
func scrape(ctx context.Context, u, tok string) (size, samples int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		size += len(line) + 1
		if line != "" && !strings.HasPrefix(line, "#") {
			samples++
		}
	}
	return size, samples, sc.Err()
}
