package main_test

// The ops console in headless Chromium against `msx up` (a real master, real targets): sign-in,
// every page, actions through the console, a viewer's view, accessibility (axe-core), and a
// screenshot of each page saved as a test artifact ($MSX_ARTIFACTS, or a temporary directory
// whose path is logged).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas"
)

// axeVersion is the axe-core release the accessibility check installs from npm.
const axeVersion = "4.10.3"

// axeSource returns axe.min.js, installed with npm into a cache directory ($MSX_AXE_DIR, or
// the user's cache) on first use. Without npm the check is skipped, except in CI where it fails.
func axeSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MSX_AXE_DIR")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			c = os.TempDir()
		}
		dir = filepath.Join(c, "msx-test", "axe-core-"+axeVersion)
	}
	file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no npm on PATH: the console's accessibility check installs axe-core with npm (.ci/run installs Debian's npm)")
		}
		t.Log("no npm on PATH: the accessibility check is skipped")
		return ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "axe-core@"+axeVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install axe-core@%s: %v\n%s", axeVersion, err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("axe-core installed but %s is missing: %v", file, err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// consoleSession drives one browser against one `msx up`.
type consoleSession struct {
	t         *testing.T
	ctx       context.Context
	base      string // http://host:port/
	admin     string
	artifacts string
	axe       string
}

func (s *consoleSession) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		c, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if shot, err := chromedp.Run(c, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(s.artifacts, "failure.png"), shot, 0o644)
		}
		s.t.Fatalf("browser (screenshot in %s): %v", filepath.Join(s.artifacts, "failure.png"), err)
	}
}

func (s *consoleSession) text(sel string) string {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return v
}

func eval[T any](s *consoleSession, js string) T {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("browser: evaluate %.60s: %v", js, err)
	}
	return v
}

// open goes to a console route (as a pasted link or a click would) and waits until that page
// is drawn and shows sel.
func (s *consoleSession) open(route, sel string) {
	s.t.Helper()
	eval[bool](s, fmt.Sprintf("location.hash = %q; true", route))
	s.do(60*time.Second, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#main[data-route=%q] %s`, route, sel))))
}

// check saves a screenshot of the page as name.png and runs axe-core on it: a serious or
// critical violation fails the test.
func (s *consoleSession) check(name string) {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot of %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.artifacts, name+".png"), shot, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if s.axe == "" {
		return
	}
	if !eval[bool](s, "typeof axe !== 'undefined'") {
		eval[bool](s, s.axe+";true")
	}
	raw := eval[string](s, `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		s.t.Fatalf("axe result of %s: %v", name, err)
	}
	for _, v := range vs {
		msg := fmt.Sprintf("axe on %s: %s (%s): %s", name, v.ID, v.Impact, v.Help)
		for i, n := range v.Nodes {
			if i == 3 {
				msg += fmt.Sprintf("\n    and %d more", len(v.Nodes)-3)
				break
			}
			msg += fmt.Sprintf("\n    %v %s", n.Target, n.HTML)
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			s.t.Error(msg)
		} else {
			s.t.Log(msg)
		}
	}
}

// api calls the master's API with token and decodes the answer into out (when not nil).
func (s *consoleSession) api(token, method, path, body string, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, strings.TrimSuffix(s.base, "/")+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// signIn signs in through the form with token.
func (s *consoleSession) signIn(token string) {
	s.t.Helper()
	s.do(30*time.Second, chromedp.WaitVisible(chromedp.CSS("#login-form")), chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login-form button")))
}

func (s *consoleSession) count(sel string) int {
	s.t.Helper()
	return eval[int](s, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

const (
	failingJob = "Console failing check"
	slowJob    = "Console slow step"
)

// runsOf returns the job's history rows on server.
func (s *consoleSession) runsOf(job, server string) []map[string]any {
	var rows []map[string]any
	s.api(s.admin, "GET", "/api/v1/jobs/"+url.PathEscape(job)+"/history?limit=50&server="+server, "", &rows)
	return rows
}

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	dir := t.TempDir()
	// Strict mode: an answer that does not match the OpenAPI document is a 500 and logged;
	// assertAPIMatched at the end reads the log.
	t.Setenv("MSX_API_VALIDATE", "1")
	up := start(t, dir, "up", "--targets", "2", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--print-token")
	var base, admin string
	waitFor(t, 60*time.Second, "msx up banner with the console's URL and the admin token", func() bool {
		out := up.out.String()
		c := regexp.MustCompile(`console\s+(http://\S+)`).FindStringSubmatch(out)
		a := regexp.MustCompile(`admin token\s+(\S+) \(in `).FindStringSubmatch(out)
		if c != nil && a != nil {
			base, admin = c[1], a[1]
		}
		return base != ""
	})
	if strings.Contains(up.out.String(), "#token=") || strings.Contains(base, admin) {
		t.Fatalf("the banner puts the admin token in a link:\n%s", up.out)
	}
	artifacts := os.Getenv("MSX_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", artifacts)
	s := &consoleSession{t: t, ctx: ctx, base: base, admin: admin, artifacts: artifacts, axe: axeSource(t)}
	// A script error in the console fails the test; its console messages are logged.
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Errorf("script error in the console: %s (%s:%d)", desc, d.URL, d.LineNumber)
		case *cdpruntime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			t.Logf("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	}); err != nil {
		t.Fatal(err)
	}

	// Two jobs of our own: one whose step fails with a message, one whose step runs 30 s.
	s.api(admin, "POST", "/api/v1/jobs", `{"name":"`+failingJob+`","category":"console test","steps":[{"step_name":"Check volume D","subsystem":"CmdExec",
		"command":"echo checking volume D; echo 'volume D: is 97% full' >&2; exit 3"}],"targets":{"servers":["SQL01","SQL02"]}}`, nil)
	s.api(admin, "POST", "/api/v1/jobs", `{"name":"`+slowJob+`","steps":[{"step_name":"Count slowly","subsystem":"CmdExec",
		"command":"for i in $(seq 1 30); do echo tick $i; sleep 1; done"}],"targets":{"servers":["SQL01"]}}`, nil)

	// A wrong token shows the sign-in form with the master's reason; the token is never in the URL.
	s.do(30*time.Second, chromedp.Navigate(base+"#/fleet"))
	s.signIn("wrong")
	s.do(20*time.Second, chromedp.Poll[chromedp.Void](`document.querySelector("#login-error").textContent.length > 0`))
	if got := s.text("#login-error"); !strings.Contains(got, "token") {
		t.Errorf("sign-in error %q does not mention the token", got)
	}
	s.check("signin")
	s.signIn(admin)
	s.do(60*time.Second, chromedp.WaitVisible(chromedp.CSS(`#fleet tr[data-server="SQL01"]`)), chromedp.WaitVisible(chromedp.CSS(`#fleet tr[data-server="SQL02"]`)))
	if u := eval[string](s, "location.href"); strings.Contains(u, admin) {
		t.Fatalf("the token is in the URL: %s", u)
	}
	s.do(30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	if got := s.text(`#fleet tr[data-server="SQL01"]`); !strings.Contains(got, "normal") {
		t.Errorf("fleet row of SQL01 %q does not say its status in words", got)
	}
	s.check("fleet")

	// Keyboard: a column header's sort button answers Enter; the new order has its own URL and
	// the header says how it sorts; focus lands on the page's heading.
	s.do(20*time.Second, chromedp.Focus(chromedp.CSS(`button.sort[data-sort="name"]`)), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`#main[data-route*="sort=name"] th[aria-sort="descending"] button[data-sort="name"]`)))
	if first := s.text(`#fleet tbody tr:first-child th`); first != "SQL02" {
		t.Errorf("sorted by name descending, the first row is %q", first)
	}
	if f := eval[string](s, "document.activeElement.tagName"); f != "H1" {
		t.Errorf("after a route change focus is on %s, not the page's heading", f)
	}

	// A start from the console produces a run: job page, Start…, the dialog says what and where.
	before := len(s.runsOf(failingJob, "SQL01"))
	s.open("#/jobs/"+url.PathEscape(failingJob), `button[data-act="start"]`)
	s.do(20*time.Second, chromedp.Click(chromedp.CSS(`button[data-act="start"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")))
	if what := s.text("#confirm-what"); !strings.Contains(what, "START") {
		t.Errorf("the start confirmation %q does not say what happens", what)
	}
	if where := s.text("#confirm-where"); !strings.Contains(where, "target") {
		t.Errorf("the start confirmation %q does not say where", where)
	}
	s.do(20*time.Second, chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotPresent(chromedp.CSS("#confirm[open]")))
	waitFor(t, 60*time.Second, "the console's start to produce a failed run on SQL01", func() bool {
		return len(s.runsOf(failingJob, "SQL01")) > before
	})
	// It was sent with an Idempotency-Key: the instruction's id is the one the key derives.
	var dl []ledger.Row
	if err := json.Unmarshal([]byte(msx(t, dir, false, "downloadlist", "-o", "json")), &dl); err != nil {
		t.Fatal(err)
	}
	var starts []string // instruction ids of the job's STARTs
	for _, r := range dl {
		if r.Operation == schemas.OpStart && r.ObjectName == failingJob {
			starts = append(starts, r.InstructionID)
		}
	}
	if len(starts) == 0 || !strings.HasPrefix(starts[len(starts)-1], "idem-") {
		t.Errorf("the console's START of %s was posted without an idempotency key: START instruction ids %v", failingJob, starts)
	}
	s.do(30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#runs tbody tr`)))
	s.check("job")

	// A failed run is found from the fleet page in three clicks, and its step output read.
	s.open("#/fleet", `#fleet tr[data-server="SQL01"]`)
	s.do(30*time.Second, chromedp.Click(chromedp.CSS(`#fleet a[href="#/targets/SQL01"]`)), // 1
		chromedp.WaitVisible(chromedp.CSS(`#target-jobs tr[data-job="`+failingJob+`"] .o0`)))
	s.check("target")
	s.do(30*time.Second, chromedp.Click(chromedp.CSS(`#target-jobs tr[data-job="`+failingJob+`"] a.run-link`)), // 2
		chromedp.WaitVisible(chromedp.CSS(`#steps tbody tr[data-step="1"]`)))
	s.do(20*time.Second, chromedp.Click(chromedp.CSS(`#steps tbody tr[data-step="1"] button`)), // 3: the step's output
		chromedp.WaitVisible(chromedp.CSS(`pre.step-output[data-step="1"]`)))
	if out := s.text(`pre.step-output[data-step="1"]`); !strings.Contains(out, "volume D") {
		t.Errorf("the failed step's output %q does not hold what it printed", out)
	}
	if st := s.text("#run-status"); !strings.Contains(st, "failed") {
		t.Errorf("the run's status %q does not say failed", st)
	}
	s.check("run")

	// The other pages.
	s.open("#/jobs", `#grid tr[data-job="`+failingJob+`"] a.cell.o0[data-server="SQL01"]`)
	s.check("jobs")
	s.open("#/jobs?outcome=failed", `#grid tr[data-job="`+failingJob+`"]`)
	if n := s.count(`#grid tr[data-job="Local database heartbeat"]`); n != 0 {
		t.Errorf("the outcome filter 'failed' shows a job that did not fail")
	}
	s.open("#/downloadlist?server=SQL01&operation=START", `table.downloadlist tbody tr`)
	if got := s.text("table.downloadlist tbody"); !strings.Contains(got, failingJob) || strings.Contains(got, "INSERT") {
		t.Errorf("the download list filtered by START on SQL01 shows %q", got)
	}
	s.check("downloadlist")
	s.open("#/events?server=SQL01&min_severity=16", `#events tbody tr`)
	if got := s.text("#events tbody"); !strings.Contains(got, "Check volume D") || strings.Contains(got, "SQL02") {
		t.Errorf("events of SQL01 from severity 16 show:\n%s", got)
	}
	s.check("events")
	// Events arrive live: a new failure shows on the open page without a reload.
	s.open("#/events", `#events tbody tr`)
	rows := s.count("#events tbody tr")
	eval[bool](s, "window.__sameEvents = true")
	s.api(admin, "POST", "/api/v1/jobs/"+url.PathEscape(failingJob)+"/start?server=SQL02", "", nil)
	s.do(60*time.Second, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#events tbody tr").length > %d`, rows), chromedp.WithPollingInterval(50*time.Millisecond)))
	if !eval[bool](s, "window.__sameEvents === true") || !strings.Contains(s.text("#events tbody tr:first-child"), "SQL02") {
		t.Errorf("the new event did not arrive live on the events page: %q", s.text("#events tbody tr:first-child"))
	}

	// An audit record names who started the job: the admin token's id.
	var me struct{ ID, Role string }
	s.api(admin, "GET", "/api/v1/whoami", "", &me)
	s.open("#/audit", `#audit tbody tr`)
	if got := s.text("#audit tbody"); !strings.Contains(got, "/start") || !strings.Contains(got, "token "+me.ID+" (admin)") {
		t.Errorf("the audit page does not name token %s as who started %s:\n%s", me.ID, failingJob, got)
	}
	s.check("audit")

	// Set poll from the fleet on a chosen target: the dialog asks for the interval, the master
	// records it, and the row shows it through the live stream (no reload).
	s.open("#/fleet", `#fleet tr[data-server="SQL02"]`)
	eval[bool](s, "window.__sameFleet = true")
	s.do(20*time.Second, chromedp.Click(chromedp.CSS(`input[data-select="SQL02"]`)), chromedp.Click(chromedp.CSS(`.actions button[data-act="setpoll"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm input[name="seconds"]`)))
	if where := s.text("#confirm-where"); where != "SQL02" {
		t.Errorf("set poll confirmation names %q, want SQL02 only", where)
	}
	s.do(20*time.Second, chromedp.SetValue(chromedp.CSS(`#confirm input[name="seconds"]`), "45"), chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#fleet tr[data-server="SQL02"]')?.textContent.includes("45 s")`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if !eval[bool](s, "window.__sameFleet === true") {
		t.Error("the fleet page reloaded instead of updating the row")
	}
	var sql02 struct {
		PollInterval int `json:"poll_interval"`
	}
	s.api(admin, "GET", "/api/v1/targetservers/SQL02", "", &sql02)
	if sql02.PollInterval != 45 {
		t.Errorf("SQL02 polls every %d s after the console set 45", sql02.PollInterval)
	}
	// An enlistment token, shown once in a dialog.
	s.do(20*time.Second, chromedp.Click(chromedp.CSS("#new-token")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.SetValue(chromedp.CSS(`#confirm input[name="server"]`), "SQL09"), chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS("#confirm #enlist-token")))
	if v := eval[string](s, `document.querySelector("#confirm #enlist-token").value`); len(v) < 20 {
		t.Errorf("the new enlistment token reads %q", v)
	}
	s.do(10*time.Second, chromedp.Click(chromedp.CSS("#confirm button")))

	// A hostile job name is shown as text, never run as markup.
	hostile := `x"><img src=x onerror="window.__pwned=1">`
	body, _ := json.Marshal(map[string]any{"name": hostile, "steps": []map[string]string{{"step_name": "a", "subsystem": "CmdExec", "command": "echo hi"}},
		"targets": map[string]any{"servers": []string{"SQL01"}}})
	s.api(admin, "POST", "/api/v1/jobs", string(body), nil)
	s.open("#/jobs", `#grid tbody tr`)
	name, _ := json.Marshal(hostile)
	link := fmt.Sprintf(`[...document.querySelectorAll("#grid tbody th a")].find(a => a.textContent === %s)`, name)
	s.do(20*time.Second, chromedp.Poll[chromedp.Void](link+" !== undefined"))
	eval[bool](s, link+".click(); true")
	s.do(20*time.Second, chromedp.WaitVisible(chromedp.CSS(`#main[data-route^="#/jobs/x"] #job-servers`)))
	if eval[bool](s, `window.__pwned === 1 || document.querySelector('img[src="x"]') !== null`) {
		t.Error("a job name was run as markup")
	}
	if h := s.text("#main h1"); !strings.Contains(h, `<img src=x`) {
		t.Errorf("the job's heading %q does not show its name as text", h)
	}

	// Dark mode by the toggle (and kept for the next visit).
	s.do(10*time.Second, chromedp.Click(chromedp.CSS("#theme")))
	if eval[string](s, "document.documentElement.dataset.theme") != "dark" {
		t.Error("the dark mode toggle did not switch the theme")
	}
	s.open("#/fleet", `#fleet tr[data-server="SQL01"]`)
	s.check("fleet-dark")
	s.do(10*time.Second, chromedp.Click(chromedp.CSS("#theme")))

	// Live output of a running step appears while it runs.
	t.Run("live output", func(t *testing.T) {
		c, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(c, "GET", strings.TrimSuffix(base, "/")+"/api/v1/jobs/"+url.PathEscape(slowJob)+"/output?server=SQL01", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("output endpoint: %v", err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
			t.Fatalf("the live output endpoint answered %d %s, want 200 text/event-stream", resp.StatusCode, ct)
		}
		s.api(admin, "POST", "/api/v1/jobs/"+url.PathEscape(slowJob)+"/start?server=SQL01", "", nil)
		waitFor(t, 30*time.Second, "the slow job to be in progress on SQL01", func() bool {
			var v struct {
				Servers []struct {
					LastRunOutcome int `json:"last_run_outcome"`
				} `json:"servers"`
			}
			s.api(admin, "GET", "/api/v1/console/jobs/"+url.PathEscape(slowJob), "", &v)
			return len(v.Servers) == 1 && v.Servers[0].LastRunOutcome == 4
		})
		s.open("#/jobs/"+url.PathEscape(slowJob)+"/runs/last?server=SQL01", `#live-output`)
		s.do(25*time.Second, chromedp.WaitVisible(chromedp.CSS(`pre.live-output`)))
		s.do(25*time.Second, chromedp.Poll[chromedp.Void](`(document.querySelector("pre.live-output")?.textContent || "").match(/tick \d+/)`, chromedp.WithPollingInterval(100*time.Millisecond)))
		if st := s.text("#run-status"); !strings.Contains(st, "in progress") {
			t.Errorf("live output appeared but the run is no longer in progress (%q): not shown while it runs", st)
		}
		s.check("run-live")
	})

	// A viewer sees no action button on any page.
	var viewer struct{ Token string }
	s.api(admin, "POST", "/api/v1/tokens", `{"role":"viewer","description":"console test"}`, &viewer)
	s.do(10*time.Second, chromedp.Click(chromedp.CSS("#sign-out")))
	s.signIn(viewer.Token)
	for _, p := range []struct{ route, sel string }{
		{"#/fleet", `#fleet tr[data-server="SQL01"]`},
		{"#/targets/SQL01", `#target-jobs`},
		{"#/jobs", `#grid`},
		{"#/jobs/" + url.PathEscape(failingJob), `#job-servers`},
		{"#/downloadlist", `h1`},
	} {
		s.open(p.route, p.sel)
		if n := s.count(`button[data-act], button[data-clear], #new-token, input[data-select]`); n != 0 {
			t.Errorf("a viewer sees %d action controls on %s", n, p.route)
		}
	}
	if who := s.text("#who"); !strings.Contains(who, "viewer") {
		t.Errorf("the header %q does not say the viewer role", who)
	}
	s.check("fleet-viewer")
	assertAPIMatched(t, filepath.Join(dir, "msx-data"))
}
