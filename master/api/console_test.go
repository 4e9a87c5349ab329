package api_test

// Tests of the console's reads and live stream (console.go, stream.go): roles, bounds,
// hostile input, and what each answers on a fleet seeded straight into the registry and the
// catalog, with results published on the bus as targets publish them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// seeded is a fleet written into the master: n targets CON00001.. in groups of 10 (G000..),
// every target in ALL, and jobCount jobs on ALL ("console job 000"..), category "even" or
// "odd" by number.
type seeded struct {
	names []string
	jobs  []jobs.Job
}

func seedFleet(tb testing.TB, f *fixture, n, jobCount int) seeded {
	tb.Helper()
	ctx := tb.Context()
	var s seeded
	if _, err := f.m.Reg.AddGroup(ctx, "ALL"); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("CON%05d", i+1)
		g := fmt.Sprintf("G%03d", i/10)
		if i%10 == 0 {
			if _, err := f.m.Reg.AddGroup(ctx, g); err != nil {
				tb.Fatal(err)
			}
		}
		t := registry.Target{ServerID: i + 1, ServerName: name, Token: jobs.ServerToken(name), EnlistDate: time.Now().UTC(), PollInterval: 60,
			TimeZoneAdjustment: (i % 3) * 60}
		if err := f.m.Reg.PutTarget(ctx, t); err != nil {
			tb.Fatal(err)
		}
		for _, grp := range []string{"ALL", g} {
			if _, err := f.m.Reg.AddMember(ctx, grp, name); err != nil {
				tb.Fatal(err)
			}
		}
		s.names = append(s.names, name)
	}
	for k := range jobCount {
		cat := "even"
		if k%2 == 1 {
			cat = "odd"
		}
		j := jobs.Job{JobID: fmt.Sprintf("00000000-0000-0000-00c0-%012d", k), Name: fmt.Sprintf("console job %03d", k), VersionNumber: 1,
			Category: cat, Targets: jobs.Targets{Groups: []string{"ALL"}}, Steps: []jobs.Step{{StepID: 1, StepName: "one", Command: "SELECT 1"}}}
		if err := f.m.Catalog.Put(ctx, j); err != nil {
			tb.Fatal(err)
		}
		s.jobs = append(s.jobs, j)
	}
	return s
}

// publishResult publishes one finished run of j on server, as its target would.
func publishResult(tb testing.TB, js jetstream.JetStream, j jobs.Job, server, runID string, status jobs.RunStatus, output string) {
	tb.Helper()
	now := time.Now().UTC()
	msg := "The job succeeded."
	if status == jobs.RunFailed {
		msg = "The job failed."
	}
	outcome, _ := json.Marshal(jobs.HistoryRow{RunID: runID, JobID: j.JobID, JobName: j.Name, RunStatus: status, Message: msg, RunStarted: now, Server: server})
	step, _ := json.Marshal(jobs.HistoryRow{RunID: runID, JobID: j.JobID, JobName: j.Name, StepID: 1, StepName: "one", RunStatus: status,
		Message: "step " + msg, RunStarted: now, Server: server, Output: output})
	res := schemas.RunResult{RunID: runID, Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name, VersionNumber: j.VersionNumber, Server: server,
		Started: now, Finished: now, RunStatus: int(status), Rows: []json.RawMessage{outcome, step}}
	data, err := schemas.Encode(&res)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := js.Publish(tb.Context(), bus.ResultSubject(jobs.ServerToken(server), j.JobID), data); err != nil {
		tb.Fatal(err)
	}
}

func TestConsoleWhoAmI(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		tok string
		rec auth.Record
	}{{f.admin, f.adminRec}, {f.viewer, f.viewerRec}} {
		var me api.WhoAmI
		r := f.do(t, c.tok, "GET", "/api/v1/whoami", "")
		if r.status != http.StatusOK {
			t.Fatalf("whoami: %s", r)
		}
		if err := json.Unmarshal(r.body, &me); err != nil {
			t.Fatal(err)
		}
		if me.ID != c.rec.ID || me.Role != c.rec.Role || me.Master != "MSXMASTER" {
			t.Errorf("whoami = %+v, want id %s role %s", me, c.rec.ID, c.rec.Role)
		}
		if strings.Contains(string(r.body), c.tok) {
			t.Errorf("whoami answers the token's secret: %s", r.body)
		}
	}
	wantErr(t, f.do(t, "", "GET", "/api/v1/whoami", ""), http.StatusUnauthorized, 0, "token")
	wantErr(t, f.do(t, "not-a-token", "GET", "/api/v1/whoami", ""), http.StatusUnauthorized, 0)
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	wantErr(t, f.do(t, enlist, "GET", "/api/v1/whoami", ""), http.StatusUnauthorized, 0, "enlistment token")
}

// TestConsoleReadsNeedAToken: every console read answers a viewer and refuses no token and an
// enlistment token.
func TestConsoleReadsNeedAToken(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 3, 1)
	publishResult(t, f.js, s.jobs[0], s.names[0], "r1", jobs.RunSucceeded, "hello")
	job := url.PathEscape(s.jobs[0].Name)
	waitFor(t, patience, func() bool {
		return f.do(t, f.viewer, "GET", "/api/v1/console/jobs/"+job+"/runs/r1?server="+s.names[0], "").status == http.StatusOK
	}, "the run to be ingested")
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	for _, p := range []string{
		"/api/v1/console/fleet", "/api/v1/console/grid", "/api/v1/console/targets/" + s.names[0] + "/jobs",
		"/api/v1/console/jobs/" + job, "/api/v1/console/jobs/" + job + "/versions", "/api/v1/console/jobs/" + job + "/runs",
		"/api/v1/console/jobs/" + job + "/runs/r1?server=" + s.names[0], "/api/v1/console/downloadlist",
	} {
		if r := f.do(t, f.viewer, "GET", p, ""); r.status != http.StatusOK {
			t.Errorf("viewer GET %s: %s", p, r)
		}
		wantErr(t, f.do(t, "", "GET", p, ""), http.StatusUnauthorized, 0)
		wantErr(t, f.do(t, enlist, "GET", p, ""), http.StatusUnauthorized, 0)
	}
}

// TestConsoleBounds: every list refuses a page it would not bound, saying what it accepts.
func TestConsoleBounds(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 2, 1)
	job := url.PathEscape(s.jobs[0].Name)
	for _, c := range []struct {
		path  string
		words []string
	}{
		{"/api/v1/console/fleet?limit=501", []string{"limit", "1 to 500"}},
		{"/api/v1/console/fleet?limit=0", []string{"limit"}},
		{"/api/v1/console/fleet?limit=-5", []string{"limit"}},
		{"/api/v1/console/fleet?offset=-1", []string{"offset"}},
		{"/api/v1/console/fleet?offset=1e9x", []string{"offset"}},
		{"/api/v1/console/fleet?sort=password", []string{"sort", "heartbeat"}},
		{"/api/v1/console/fleet?status=evil", []string{"status", "blocked"}},
		{"/api/v1/console/grid?limit=101", []string{"limit", "1 to 100"}},
		{"/api/v1/console/grid?slimit=201", []string{"servers", "1 to 200"}},
		{"/api/v1/console/grid?outcome=exploded", []string{"outcome", "failed"}},
		{"/api/v1/console/jobs/" + job + "?outcome=9", []string{"outcome", "0 (failed) to 5"}},
		{"/api/v1/console/jobs/" + job + "/runs?limit=101", []string{"limit", "1 to 100"}},
		{"/api/v1/console/jobs/" + job + "/runs/x", []string{"?server="}},
		{"/api/v1/console/jobs/" + job + "/runs/" + strings.Repeat("r", 200) + "?server=" + s.names[0], []string{"run id", "128"}},
		{"/api/v1/console/downloadlist?status=gone", []string{"pending, downloaded or error"}},
		{"/api/v1/console/downloadlist?since=yesterday", []string{"since", "2026-01-31"}},
		{"/api/v1/console/downloadlist?limit=100000", []string{"limit"}},
	} {
		wantErr(t, f.do(t, f.viewer, "GET", c.path, ""), http.StatusBadRequest, 0, c.words...)
	}
	// Unknown objects are 404 with the SQL Server message number, whatever their name holds.
	for _, p := range []string{
		"/api/v1/console/jobs/" + url.PathEscape("../../etc/passwd"), "/api/v1/console/jobs/" + url.PathEscape("<script>") + "/versions",
		"/api/v1/console/targets/NOSUCH/jobs", "/api/v1/console/jobs/" + job + "/runs/nosuch?server=" + s.names[0],
		"/api/v1/console/jobs/" + job + "/runs/last?server=" + s.names[0], "/api/v1/console/grid?group=NOSUCH",
		"/api/v1/console/downloadlist?server=NOSUCH",
	} {
		wantErr(t, f.do(t, f.viewer, "GET", p, ""), http.StatusNotFound, 14262)
	}
}

func TestConsoleFleet(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 25, 0)
	var fl api.Fleet
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?limit=10", "", &fl)
	if fl.Total != 25 || fl.Matched != 25 || len(fl.Rows) != 10 || len(fl.Strip) != 25 || fl.Rows[0].ServerName != s.names[0] {
		t.Fatalf("fleet page: total %d matched %d rows %d strip %q first %s", fl.Total, fl.Matched, len(fl.Rows), fl.Strip, fl.Rows[0].ServerName)
	}
	if fl.Rows[0].StatusText == "" || fl.Rows[1].Zone != "UTC+01:00" {
		t.Errorf("rows carry no status in words or zone: %+v", fl.Rows[:2])
	}
	groups := map[string]int{}
	for _, g := range fl.Groups {
		groups[g.Name] = g.Members
	}
	if groups["ALL"] != 25 || groups["G000"] != 10 || groups["G002"] != 5 {
		t.Errorf("groups counted %v", groups)
	}
	// The last page, sorted by name descending, filtered by a group and by text.
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?limit=10&offset=20", "", &fl)
	if len(fl.Rows) != 5 || fl.Rows[4].ServerName != "CON00025" {
		t.Errorf("last page holds %d rows", len(fl.Rows))
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?offset=1000", "", &fl)
	if len(fl.Rows) != 0 || fl.Matched != 25 {
		t.Errorf("a page past the end holds %d rows", len(fl.Rows))
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?sort=name&desc=true&limit=1", "", &fl)
	if fl.Rows[0].ServerName != "CON00025" {
		t.Errorf("sorted descending, first is %s", fl.Rows[0].ServerName)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?group=g001", "", &fl)
	if fl.Matched != 10 || fl.Rows[0].ServerName != "CON00011" {
		t.Errorf("group G001 matched %d, first %s", fl.Matched, fl.Rows[0].ServerName)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?q=0002", "", &fl)
	if fl.Matched != 7 { // CON00002, CON00020..CON00025
		t.Errorf("text 0002 matched %d", fl.Matched)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/fleet?status=blocked", "", &fl)
	if fl.Matched != 0 {
		t.Errorf("status blocked matched %d of a fleet without a blocked target", fl.Matched)
	}
}

func TestConsoleGridAndRuns(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 4, 3)
	publishResult(t, f.js, s.jobs[0], s.names[0], "run-a", jobs.RunFailed, "disk D: 97% full")
	publishResult(t, f.js, s.jobs[1], s.names[1], "run-b", jobs.RunSucceeded, "ok")
	var g api.Grid
	waitFor(t, patience, func() bool {
		f.must(t, f.viewer, "GET", "/api/v1/console/grid", "", &g)
		return len(g.Jobs) == 3 && g.Jobs[0].Outcomes.Failed == 1 && g.Jobs[1].Outcomes.Succeeded == 1
	}, "both results in the grid")
	if len(g.Servers) != 4 || g.Jobs[0].Cells != "0555" || g.Jobs[1].Cells != "5155" {
		t.Errorf("grid servers %v cells %q %q", g.Servers, g.Jobs[0].Cells, g.Jobs[1].Cells)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/grid?outcome=failed", "", &g)
	if len(g.Jobs) != 1 || g.Jobs[0].Name != s.jobs[0].Name {
		t.Errorf("outcome failed selects %d jobs", len(g.Jobs))
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/grid?category=odd", "", &g)
	if g.MatchedJobs != 1 || g.Jobs[0].Name != s.jobs[1].Name || len(g.Categories) != 2 {
		t.Errorf("category odd: %d jobs, categories %v", g.MatchedJobs, g.Categories)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/grid?server=00002&slimit=1", "", &g)
	if g.MatchedServer != 1 || len(g.Servers) != 1 || g.Servers[0] != s.names[1] || g.Jobs[1].Cells != "1" {
		t.Errorf("server filter: %v cells %q", g.Servers, g.Jobs[1].Cells)
	}

	// The failed run, its steps and output; "last" names it too.
	job := url.PathEscape(s.jobs[0].Name)
	var runs []api.RunSummary
	f.must(t, f.viewer, "GET", "/api/v1/console/jobs/"+job+"/runs", "", &runs)
	if len(runs) != 1 || runs[0].RunID != "run-a" || runs[0].RunStatus != jobs.RunFailed || runs[0].Steps != 1 {
		t.Fatalf("runs: %+v", runs)
	}
	for _, id := range []string{"run-a", "last"} {
		var run api.Run
		f.must(t, f.viewer, "GET", "/api/v1/console/jobs/"+job+"/runs/"+id+"?server="+strings.ToLower(s.names[0]), "", &run)
		if run.RunID != "run-a" || len(run.Rows) != 2 || run.Rows[1].Output != "disk D: 97% full" || run.Running {
			t.Errorf("run %s: %+v", id, run)
		}
	}
	// A target's jobs, with their last outcome there.
	var tj api.TargetJobs
	f.must(t, f.viewer, "GET", "/api/v1/console/targets/"+s.names[0]+"/jobs?limit=2", "", &tj)
	if tj.Matched != 3 || len(tj.Jobs) != 2 || tj.Jobs[0].LastRunOutcome != jobs.OutcomeFailed || tj.Jobs[0].LastRunID != "run-a" {
		t.Errorf("target jobs: %+v", tj)
	}
	// A job's page: its targets filtered by outcome, paged.
	var cj api.ConsoleJob
	f.must(t, f.viewer, "GET", "/api/v1/console/jobs/"+job+"?outcome=0", "", &cj)
	if cj.Targets != 4 || cj.Matched != 1 || cj.Servers[0].ServerName != s.names[0] || cj.Outcomes.Failed != 1 {
		t.Errorf("job page: targets %d matched %d", cj.Targets, cj.Matched)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/jobs/"+job+"?limit=3", "", &cj)
	if cj.Matched != 4 || len(cj.Servers) != 3 {
		t.Errorf("job page limit 3: matched %d rows %d", cj.Matched, len(cj.Servers))
	}
}

// TestConsoleVersions: a job's changes, newest first, each with who made it and its diff.
func TestConsoleVersions(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 1, 0)
	f.must(t, f.admin, "POST", "/api/v1/groups", `{"name":"Web"}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/groups/Web/members", `{"server":"`+s.names[0]+`"}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", validJob, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs", strings.Replace(validJob, "SELECT 1", "SELECT 2", 1), nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs/Nightly/start", "", nil)
	var v struct {
		Job           string           `json:"job"`
		VersionNumber int              `json:"version_number"`
		Versions      []api.JobVersion `json:"versions"`
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/jobs/nightly/versions", "", &v)
	if v.Job != "Nightly" || len(v.Versions) != 2 {
		t.Fatalf("versions: %+v", v)
	}
	if !strings.Contains(strings.Join(v.Versions[0].Changes, "\n"), "steps[0].command") || v.Versions[1].Changes[0] != "created" {
		t.Errorf("diffs, newest first: %q then %q", v.Versions[0].Changes, v.Versions[1].Changes)
	}
	if !strings.Contains(v.Versions[0].Who, f.adminRec.ID) {
		t.Errorf("who %q does not name the admin token %s", v.Versions[0].Who, f.adminRec.ID)
	}
}

// TestConsoleDownloadListFilters: by job, operation, status and date.
func TestConsoleDownloadListFilters(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 2, 0)
	f.must(t, f.admin, "POST", "/api/v1/jobs", `{"name":"Ledger job","steps":[{"step_name":"a","command":"SELECT 1"}],"targets":{"servers":["`+s.names[0]+`","`+s.names[1]+`"]}}`, nil)
	f.must(t, f.admin, "POST", "/api/v1/jobs/Ledger%20job/start?server="+s.names[1], "", nil)
	var dl api.DownloadList
	f.must(t, f.viewer, "GET", "/api/v1/console/downloadlist?job=ledger%20job", "", &dl)
	if dl.Matched != 3 {
		t.Errorf("job filter matched %d rows, want 2 INSERTs and 1 START", dl.Matched)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/downloadlist?operation=start&server="+s.names[1], "", &dl)
	if dl.Matched != 1 || dl.Rows[0].OperationName != "START" {
		t.Errorf("operation filter: %+v", dl.Rows)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/downloadlist?status=pending&limit=1", "", &dl)
	if dl.Matched != 3 || len(dl.Rows) != 1 || dl.Rows[0].OperationName != "START" {
		t.Errorf("pending, newest first, limit 1: matched %d rows %+v", dl.Matched, dl.Rows)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	f.must(t, f.viewer, "GET", "/api/v1/console/downloadlist?since="+tomorrow, "", &dl)
	if dl.Matched != 0 {
		t.Errorf("since tomorrow matched %d", dl.Matched)
	}
	f.must(t, f.viewer, "GET", "/api/v1/console/downloadlist?until="+tomorrow+"&since=2020-01-01", "", &dl)
	if dl.Matched != 3 {
		t.Errorf("2020 to tomorrow matched %d", dl.Matched)
	}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	name string
	data string
}

// openStream opens GET /api/v1/stream and sends its events on the returned channel.
func openStream(t *testing.T, f *fixture, token string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan sseEvent, 1024)
	if resp.StatusCode != http.StatusOK {
		close(ch)
		return ch, resp
	}
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return ch, resp
}

// next waits for an event named name whose data holds each of words.
func nextEvent(t *testing.T, ch <-chan sseEvent, name string, words ...string) sseEvent {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended before a %q event", name)
			}
			if ev.name != name {
				continue
			}
			ok = true
			for _, w := range words {
				ok = ok && strings.Contains(ev.data, w)
			}
			if ok {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event holding %q within %s", name, words, patience)
		}
	}
}

func TestStreamPushesChanges(t *testing.T) {
	f := newFixture(t)
	s := seedFleet(t, f, 3, 1)
	ch, resp := openStream(t, f, f.viewer)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	nextEvent(t, ch, "hello", `"master":"MSXMASTER"`)
	time.Sleep(1500 * time.Millisecond) // the watcher primes its view first: changes after it are pushed

	// A poll interval set: the target and its download-list counts.
	f.must(t, f.admin, "POST", "/api/v1/targetservers/actions/setpoll", `{"servers":["`+s.names[1]+`"],"seconds":30}`, nil)
	nextEvent(t, ch, "target", `"server_name":"`+s.names[1]+`"`, `"poll_interval":30`, `"status_text":"normal"`)
	nextEvent(t, ch, "downloadlist", `"server":"`+s.names[1]+`"`, `"unread":1`)
	// A run reported: the run and the job's counts.
	publishResult(t, f.js, s.jobs[0], s.names[2], "live-1", jobs.RunFailed, "")
	// (in the order the watcher sends them: a job's counts, then its runs)
	nextEvent(t, ch, "job", `"name":"console job 000"`, `"failed":1`)
	nextEvent(t, ch, "run", `"run_id":"live-1"`, `"server":"`+s.names[2]+`"`, `"outcome":0`)
	// A job deleted.
	f.must(t, f.admin, "DELETE", "/api/v1/jobs/"+url.PathEscape(s.jobs[0].Name), "", nil)
	nextEvent(t, ch, "job", `"deleted":true`)
}

func TestStreamRefusals(t *testing.T) {
	f := newFixture(t)
	// No token, a token in the URL (never read), an enlistment token.
	_, resp := openStream(t, f, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	r := f.do(t, "", "GET", "/api/v1/stream?token="+url.QueryEscape(f.admin), "")
	wantErr(t, r, http.StatusUnauthorized, 0, "Authorization")
	enlist, _ := f.token(t, auth.RoleEnlist, time.Hour)
	if _, resp := openStream(t, f, enlist); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("enlistment token: %d", resp.StatusCode)
	}
	// At most 64 streams at once; the next is refused with the reason, and one closed frees a place.
	var resps []*http.Response
	for range 64 {
		ch, resp := openStream(t, f, f.viewer)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d refused: %d", len(resps)+1, resp.StatusCode)
		}
		nextEvent(t, ch, "hello")
		resps = append(resps, resp)
	}
	r = f.do(t, f.viewer, "GET", "/api/v1/stream", "")
	wantErr(t, r, http.StatusServiceUnavailable, 0, "64 live streams")
	resps[0].Body.Close()
	waitFor(t, patience, func() bool {
		ch, resp := openStream(t, f, f.viewer)
		if resp.StatusCode != http.StatusOK {
			return false
		}
		nextEvent(t, ch, "hello")
		return true
	}, "a place after a stream closed")
}

// TestStreamEndsOnShutdown: an open stream does not hold the API server's Shutdown; the client
// is told why it ends.
func TestStreamEndsOnShutdown(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+ln.Addr().String()+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+f.viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "event: hello") {
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a stream open: %v", err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if got := strings.Join(rest, "\n"); !strings.Contains(got, "event: dropped") || !strings.Contains(got, "shutting down") {
		t.Errorf("the stream ended without saying why:\n%s", got)
	}
}
