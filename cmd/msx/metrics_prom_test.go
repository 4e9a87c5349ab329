package main_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// promTools returns the paths of Debian's prometheus and promtool. Without them the test is
// skipped locally and fails in CI (environment variable CI set), where .ci/run installs them.
func promTools(t *testing.T) (prom, promtool string) {
	t.Helper()
	prom, err1 := exec.LookPath("prometheus")
	promtool, err2 := exec.LookPath("promtool")
	if err1 != nil || err2 != nil {
		msg := "prometheus and promtool are not on PATH: install Debian's prometheus package (apt-get install prometheus; .ci/run does) to run this test"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return prom, promtool
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// repoFile returns a file of the repository (the test runs in cmd/msx).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// httpGet returns the body of a GET, failing the test unless it answers 200.
func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", u, resp.Status, err, b)
	}
	return b
}

// promQuery asks Prometheus's HTTP API for an instant vector: labels and value of each sample.
func promQuery(t *testing.T, base, q string) []promSample {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(httpGet(t, base+"/api/v1/query?query="+url.QueryEscape(q)), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %+v", q, err, r)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			t.Fatalf("query %s: value %v", q, s.Value)
		}
		out = append(out, promSample{s.Metric, v})
	}
	return out
}

type promSample struct {
	labels map[string]string
	value  float64
}

// TestPrometheusScrapesMaster runs `msx up` with --metrics-listen, runs jobs on its targets,
// and has a real Prometheus server scrape the master twice (the token-free metrics address,
// and the API with a viewer token) with the shipped scrape config and rules; the test then
// asks Prometheus's HTTP API for the series, and promtool checks the rules, the config and a
// real /metrics body.
func TestPrometheusScrapesMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	prom, promtool := promTools(t)
	dir := t.TempDir()
	metricsAddr := freeAddr(t)
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--metrics-listen", metricsAddr)
	var apiURL string
	waitFor(t, 60*time.Second, "msx up banner", func() bool {
		m := regexp.MustCompile(`API\s+(http://\S+)`).FindStringSubmatch(up.out.String())
		if m != nil {
			apiURL = m[1]
		}
		return m != nil
	})
	waitFor(t, 30*time.Second, "3 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].Status == 1 && ts["SQL02"].Status == 1 && ts["SQL03"].Status == 1
	})
	const job = "Local database heartbeat"
	msx(t, dir, false, "job", "start", job)
	metricsURL := "http://" + metricsAddr + "/metrics"
	succeeded := regexp.MustCompile(`(?m)^msx_job_runs_total\{job_name="` + job + `",outcome="succeeded",server="SQL0[123]"\} [1-9]`)
	var body []byte
	waitFor(t, 60*time.Second, "a succeeded run on each target in /metrics", func() bool {
		body = httpGet(t, metricsURL)
		return len(succeeded.FindAll(body, -1)) == 3
	})

	// promtool: a real /metrics body, the shipped rules.
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if out, err := exec.Command(promtool, "check", "rules", repoFile(t, "deploy/prometheus/msx-rules.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}

	// The shipped scrape config, pointed at this master, a one-second interval, and a viewer
	// token for the API job.
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "--role", "viewer", "-o", "json")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %+v", err, tok)
	}
	pdir := t.TempDir()
	cfg, err := os.ReadFile(repoFile(t, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	apiHost := strings.TrimPrefix(apiURL, "http://")
	c := strings.NewReplacer("msx-master-1:9108", metricsAddr, "msx-master-1:8080", apiHost, "interval: 30s", "interval: 1s").Replace(string(cfg))
	if !strings.Contains(c, metricsAddr) || !strings.Contains(c, apiHost) || strings.Contains(c, "30s") {
		t.Fatalf("the shipped prometheus.yml changed shape: the test cannot point it at the master:\n%s", c)
	}
	rules, err := os.ReadFile(repoFile(t, "deploy/prometheus/msx-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"prometheus.yml": c, "msx-rules.yml": string(rules), "msx-viewer.token": tok.Token + "\n"} {
		if err := os.WriteFile(filepath.Join(pdir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(promtool, "check", "config", filepath.Join(pdir, "prometheus.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
	promAddr := freeAddr(t)
	p := exec.Command(prom, "--config.file="+filepath.Join(pdir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(pdir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	plog := &syncBuf{}
	p.Stdout, p.Stderr = plog, plog
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.Process.Kill()
			t.Errorf("prometheus did not stop within 30s of SIGTERM:\n%s", plog)
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", plog)
		}
	})
	base := "http://" + promAddr
	value := func(q string) (float64, int) {
		s := promQuery(t, base, q)
		if len(s) == 0 {
			return 0, 0
		}
		return s[0].value, len(s)
	}
	waitFor(t, 60*time.Second, "Prometheus scraping both of the master's endpoints", func() bool {
		// Prometheus answers 503 until its storage is open; a query before that fails.
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		v, n := value(`sum(up{job=~"msx|msx-api"})`)
		return n == 1 && v == 2
	})
	want := map[string]float64{
		`msx_master_leader{job="msx"}`:                                              1,
		`msx_master_leader{job="msx-api"}`:                                          1,
		`msx_targets{job="msx",state="all"}`:                                        3,
		`msx_targets{job="msx",state="connected"}`:                                  3,
		`count(msx_target_connected{job="msx"} == 1)`:                               3,
		`msx_instructions_failed{job="msx"}`:                                        0,
		`count(msx_job_runs_total{job="msx",outcome="succeeded"} >= 1)`:             3,
		`count(msx_job_last_success_timestamp_seconds{job="msx-api"} > 0)`:          3,
		`sum(msx_job_run_duration_seconds_count{job="msx",job_name="` + job + `"})`: 3,
		`msx_job_missed_schedules{job="msx",job_name="` + job + `"}`:                0,
		`count(msx_job_next_run_timestamp_seconds{job="msx"} > time())`:             9,
	}
	var got map[string]float64
	waitFor(t, 60*time.Second, "the series in Prometheus", func() bool {
		got = map[string]float64{}
		ok := true
		for q, v := range want {
			g, n := value(q)
			got[q] = g
			ok = ok && n == 1 && g >= v && g <= v // exact: the fleet's known state
		}
		return ok
	})
	for q, v := range want {
		if got[q] != v {
			t.Errorf("%s = %v, want %v", q, got[q], v)
		}
	}
	// Every shipped rule loads and evaluates without error.
	var rr struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	waitFor(t, 30*time.Second, "every rule evaluated", func() bool {
		if err := json.Unmarshal(httpGet(t, base+"/api/v1/rules"), &rr); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range rr.Data.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					return false
				}
				n++
			}
		}
		return n > 0
	})
	var names []string
	for _, g := range rr.Data.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Name)
		}
	}
	if len(names) < 5 {
		t.Errorf("rules loaded: %v, want the shipped ones", names)
	}
}
