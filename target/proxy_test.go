package target_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target"
)

// lockedBuffer is a bytes.Buffer that an agent's logger and a test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// restartWith replaces the harness's agent with one whose configuration change sets; its logs
// go to the returned buffer (debug level and up).
func (h *harness) restartWith(change func(*target.Config)) *lockedBuffer {
	h.t.Helper()
	// The agent newHarness started must be up before it stops (see startMSDBAgent).
	if st := h.status(h.post(schemas.OpSyncTime, "", "", nil)); st.Status != schemas.StatusApplied {
		h.t.Fatalf("SYNC-TIME: %+v", st.Error)
	}
	h.stopAgent()
	logs := &lockedBuffer{}
	cfg := target.Config{Name: serverName, NATSURL: "nats://" + h.listen, DataDir: h.dataDir, HeartbeatInterval: time.Second,
		Encrypt: bus.ModeNone, TimeZone: time.UTC, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	change(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- target.Run(ctx, cfg) }()
	var once sync.Once
	h.stopAgent = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					h.t.Errorf("agent: %v", err)
				}
			case <-time.After(45 * time.Second):
				h.t.Error("agent did not stop")
			}
		})
	}
	h.t.Cleanup(h.stopAgent)
	return logs
}

// TestProxyMatchingAtApply posts a job whose step names a proxy, then a job without one: the
// first applies or fails as the target's configuration says, with MSX's message, and the
// second applies either way.
func TestProxyMatchingAtApply(t *testing.T) {
	cases := []struct {
		name  string
		allow bool
		code  int
		msg   string
	}{
		{"matching disabled", false, target.CodeProxyMatching,
			"The job step requires a proxy account, however proxy matching is disabled on the target server."},
		{"proxy not found", true, target.CodeProxyNotFound, "Proxy not found. Step 1 (step one) names proxy 'missing'"},
		{"proxy found", true, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.restartWith(func(c *target.Config) {
				c.AllowProxyMatching = tc.allow
				c.Proxies = map[string]target.Proxy{"ETL": {Env: map[string]string{"A": "b"}}}
			})
			proxy := "etl"
			if tc.code == target.CodeProxyNotFound {
				proxy = "missing"
			}
			j := newJob("export", jobs.SubsystemCmdExec, "echo exported")
			j.Steps[0].ProxyName = proxy
			st := h.status(h.post(schemas.OpInsert, j.JobID, j.Name, j))
			if errCode(st) != tc.code || tc.code != 0 && !strings.HasPrefix(st.Error.Message, tc.msg) {
				t.Fatalf("INSERT with proxy: %+v %+v; want code %d, message %q", st.Status, st.Error, tc.code, tc.msg)
			}
			if tc.code != 0 {
				waitFor(t, 10*time.Second, "the failed instruction's event", func() bool {
					for _, ev := range h.events.all() {
						if ev.Source == "instruction" && ev.ErrorCode == tc.code && strings.Contains(ev.Message, tc.msg) {
							return true
						}
					}
					return false
				})
			}
			// Later instructions are not blocked.
			h.insert(newJob("plain", jobs.SubsystemCmdExec, "echo plain"))
			if tc.code == 0 {
				h.post(schemas.OpStart, j.JobID, j.Name, nil)
				r := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 20*time.Second)[0]
				if r.RunStatus != int(jobs.RunSucceeded) {
					t.Errorf("run of the job with its proxy: %+v", r)
				}
			}
		})
	}
}

// TestProxySecretsStayOnTheTarget runs a failing step that prints its proxy's secret and a
// connection string: history, events and the agent's log show neither the secret nor the
// password, and the instruction that carried the job never held them.
func TestProxySecretsStayOnTheTarget(t *testing.T) {
	const secret = "Sup3r-S3cret!pw"
	h := newHarness(t)
	logs := h.restartWith(func(c *target.Config) {
		c.AllowProxyMatching = true
		c.Proxies = map[string]target.Proxy{"etl": {Env: map[string]string{"DW_PASSWORD": secret}}}
	})
	j := newJob("load warehouse", jobs.SubsystemCmdExec,
		`echo "connecting with $DW_PASSWORD"; echo "sqlserver://etl:$DW_PASSWORD@dw01 failed" >&2; exit 1`)
	j.Steps[0].ProxyName = "etl"
	raw, _ := json.Marshal(j)
	if strings.Contains(string(raw), secret) {
		t.Fatal("the job carries the secret")
	}
	h.insert(j)
	h.post(schemas.OpStart, j.JobID, j.Name, nil)
	r := h.waitRuns(j.JobID, schemas.PhaseFinished, 1, 20*time.Second)[0]
	if r.RunStatus != int(jobs.RunFailed) {
		t.Fatalf("run status %d, want failed", r.RunStatus)
	}
	var shown strings.Builder
	for _, row := range rows(t, r) {
		shown.WriteString(row.Message + "\n" + row.Output + "\n")
	}
	if !strings.Contains(shown.String(), "connecting with xxxxx") || !strings.Contains(shown.String(), "sqlserver://etl:xxxxx@dw01") {
		t.Errorf("history does not show the masked output:\n%s", shown.String())
	}
	waitFor(t, 10*time.Second, "the run's events", func() bool {
		n := 0
		for _, ev := range h.events.all() {
			if ev.JobID == j.JobID {
				n++
			}
		}
		return n >= 2 // the step and the job
	})
	for _, ev := range h.events.all() {
		shown.WriteString(ev.Message + "\n")
	}
	for _, res := range h.results.all() {
		b, _ := json.Marshal(res)
		shown.Write(b)
	}
	h.stopAgent()
	shown.WriteString(logs.String())
	if strings.Contains(shown.String(), secret) {
		t.Errorf("the secret shows in history, events or logs:\n%s", shown.String())
	}
	if !strings.Contains(logs.String(), "load warehouse") {
		t.Errorf("the captured log does not show the run:\n%s", logs.String())
	}
}
