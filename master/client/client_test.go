package client_test

// The CLI's client against a real master whose API checks each exchange against its OpenAPI
// document (api.ValidateHandler): every documented operation is called once with the Go types
// the CLI sends and decodes, so neither the client, the handlers nor the document can drift
// without this test failing. A real target agent enlists and runs the job, so that history,
// outcomes and start reports hold real values.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target"
)

const patience = 30 * time.Second

// notByClient are documented operations the CLI's client does not call, with why.
var notByClient = map[string]string{}

// rig is a master, its API behind the validating handler, one target agent, and clients with
// an admin, a viewer and no token.
type rig struct {
	m                     *master.Master
	admin, viewer, anyone *client.Client

	mu     sync.Mutex
	called map[string]bool // documented operations ("GET /api/v1/jobs/{name}") called
}

func newRig(t *testing.T) *rig {
	t.Helper()
	s := bustest.RunSecureServer(t)
	nc, _ := s.ConnectMaster(t)
	log := bustest.Logger(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: "MSXMASTER", Logger: log, Auth: s.Auth})
	if err != nil {
		t.Fatalf("start master: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("master shutdown: %v", err)
		}
	})
	rg := &rig{m: m, called: map[string]bool{}}
	v, err := api.ValidateHandler(api.New(m, log), func(mm *api.Mismatch) { t.Errorf("%v", mm) })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.ServeHTTP(w, r)
		rg.mu.Lock()
		rg.called[r.Pattern] = true // set by the API's mux when it routed the request
		rg.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	tok := func(role string) string {
		plain, _, err := m.Tokens.Create(t.Context(), role, 0, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	mk := func(token string) *client.Client {
		c, err := client.Resolve(srv.URL, token, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rg.admin, rg.viewer, rg.anyone = mk(tok(auth.RoleAdmin)), mk(tok(auth.RoleViewer)), mk("")

	// One real target, SQL01.
	enlist, _, err := m.Tokens.Create(t.Context(), auth.RoleEnlist, time.Hour, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	tctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := target.Run(tctx, target.Config{Name: "SQL01", NATSURL: s.ClientURL(), Token: enlist, DataDir: t.TempDir(),
			HeartbeatInterval: 200 * time.Millisecond, Logger: log, CAFile: s.CAFile})
		if err != nil && tctx.Err() == nil {
			t.Errorf("target SQL01 stopped: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	waitFor(t, "SQL01 online", func() bool {
		ts, ok := m.TargetServer("SQL01")
		return ok && ts.Connected && ts.LastPollDate != nil
	})
	return rg
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", patience, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// do calls the API as the CLI does and fails the test on an error.
func do[T any](t *testing.T, c *client.Client, method, path string, body any) T {
	t.Helper()
	var out T
	if err := c.Do(t.Context(), method, path, body, &out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

// refused calls the API expecting an error with status and code.
func refused(t *testing.T, c *client.Client, method, path string, body any, status, code int) *client.Error {
	t.Helper()
	err := c.Do(t.Context(), method, path, body, nil)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != status || (code != 0 && ce.Code != code) {
		t.Fatalf("%s %s: got %v, want status %d code %d", method, path, err, status, code)
	}
	if ce.Message == "" || strings.Contains(ce.Message, "OpenAPI") {
		t.Errorf("%s %s: message %q", method, path, ce.Message)
	}
	return ce
}

func TestClientAgainstOpenAPI(t *testing.T) {
	rg := newRig(t)
	a, v := rg.admin, rg.viewer
	p := client.Path

	// Open to anyone.
	doc := do[map[string]any](t, rg.anyone, "GET", "/api/v1/openapi.json", nil)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi.json: openapi = %v", doc["openapi"])
	}
	if err := rg.anyone.Do(t.Context(), "GET", "/healthz", nil, nil); err != nil {
		t.Errorf("healthz: %v", err)
	}
	if err := v.Do(t.Context(), "GET", "/metrics", nil, nil); err != nil {
		t.Errorf("metrics: %v", err)
	}
	refused(t, rg.anyone, "GET", "/api/v1/targetservers", nil, 401, master.CodeBadToken)
	refused(t, rg.anyone, "GET", "/metrics", nil, 401, master.CodeBadToken)

	// Target servers and groups.
	if ts := do[[]master.TargetServer](t, v, "GET", "/api/v1/targetservers", nil); len(ts) != 1 || ts[0].ServerName != "SQL01" {
		t.Errorf("targetservers: %+v", ts)
	}
	do[master.TargetServer](t, v, "GET", "/api/v1/targetservers/"+p("sql01"), nil)
	refused(t, v, "GET", "/api/v1/targetservers/"+p(`NOPE\X`), nil, 404, 14262)
	do[[]registry.Quarantined](t, a, "GET", "/api/v1/quarantine", nil)
	refused(t, v, "GET", "/api/v1/quarantine", nil, 403, master.CodeBadToken)
	do[[]master.Posted](t, a, "POST", "/api/v1/targetservers/actions/setpoll", api.ActionRequest{Servers: []string{"SQL01"}, Seconds: 30})
	do[[]master.Posted](t, a, "POST", "/api/v1/targetservers/actions/synctime", api.ActionRequest{All: true})
	refused(t, a, "POST", "/api/v1/targetservers/actions/explode", api.ActionRequest{All: true}, 400, 0)
	do[registry.Group](t, a, "POST", "/api/v1/groups", map[string]string{"name": "Web"})
	refused(t, a, "POST", "/api/v1/groups", map[string]string{"name": "Web"}, 409, 14261)
	refused(t, v, "POST", "/api/v1/groups", map[string]string{"name": "Db"}, 403, master.CodeBadToken)
	do[map[string]any](t, a, "POST", "/api/v1/groups/Web/members", map[string]string{"server": "sql01"})
	do[[]registry.Group](t, v, "GET", "/api/v1/groups", nil)
	if g := do[registry.Group](t, v, "GET", "/api/v1/groups/web", nil); len(g.Members) != 1 {
		t.Errorf("group: %+v", g)
	}
	do[registry.Group](t, a, "POST", "/api/v1/groups", map[string]string{"name": "Empty"})
	if g := do[registry.Group](t, v, "GET", "/api/v1/groups/Empty", nil); g.Members == nil {
		t.Errorf("an empty group's members decode as null")
	}

	// A job, as `msx job apply` sends it: the document parsed into jobs.Job.
	j, err := jobs.Parse([]byte("name: Nightly\nsteps:\n  - step_name: say\n    subsystem: CmdExec\n    command: echo nightly\n" +
		"schedules:\n  - name: at two\n    freq_type: 4\n    active_start_time: 20000\n  - name: Tokyo\n    cron: \"0 3 * * *\"\n    time_zone: Asia/Tokyo\n" +
		"targets:\n  groups: [Web]\n"))
	if err != nil {
		t.Fatal(err)
	}
	do[master.ApplyResult](t, a, "POST", "/api/v1/jobs?dry_run=true", j)
	res := do[master.ApplyResult](t, a, "POST", "/api/v1/jobs", j)
	if !res.Created || len(res.Posted) != 1 {
		t.Errorf("apply: %+v", res)
	}
	if res := do[master.ApplyResult](t, a, "POST", "/api/v1/jobs?dry_run=true", j); res.Posted == nil || res.Changes == nil {
		t.Errorf("an unchanged dry run decodes null lists: %+v", res)
	}
	bad := jobs.Job{Name: "Bad", Steps: []jobs.Step{{StepName: "a", Command: "x", OnFailAction: 4, OnFailStepID: 9}}, Targets: jobs.Targets{Servers: []string{"NOSUCH"}}}
	if ce := refused(t, a, "POST", "/api/v1/jobs", bad, 400, 0); len(ce.Problems) == 0 {
		t.Errorf("an invalid job lists no problems: %+v", ce)
	}
	// As `msx up --masters N` posts its example jobs: YAML, as application/yaml.
	for _, tt := range []struct {
		doc    string
		status int
	}{
		{"name: FromYAML\nsteps:\n  - step_name: s\n    command: SELECT 1\n", 200},
		{"name: BadYAML\nsteps:\n  - step_name: s\n    command: SELECT 1\n    colour: red\n", 400},
		{"name: [unclosed\n", 400},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "POST", a.Base+"/api/v1/jobs", strings.NewReader(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := a.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("YAML %q: status %d, want %d", tt.doc, resp.StatusCode, tt.status)
		}
	}
	do[[]api.JobSummary](t, v, "GET", "/api/v1/jobs", nil)
	do[[]api.JobSummary](t, v, "GET", "/api/v1/jobs/summary", nil)
	waitFor(t, "SQL01 downloaded the job", func() bool {
		rows := do[[]ledger.Row](t, v, "GET", "/api/v1/downloadlist?pending=true", nil)
		return len(rows) == 0
	})
	reports := do[[]master.StartReport](t, a, "POST", "/api/v1/jobs/Nightly/start?server=SQL01&wait=20s", nil)
	if len(reports) != 1 || reports[0].Outcome != master.StartStarted {
		t.Errorf("start: %+v", reports)
	}
	var hist []jobs.HistoryRow
	waitFor(t, "a job outcome in the history", func() bool {
		hist = do[[]jobs.HistoryRow](t, v, "GET", "/api/v1/jobs/Nightly/history?server=SQL01&limit=10", nil)
		for _, h := range hist {
			if h.StepID == 0 {
				return true
			}
		}
		return false
	})
	view := do[api.JobView](t, v, "GET", "/api/v1/jobs/"+p("nightly"), nil)
	if len(view.Schedules) != 2 || len(view.Servers) != 1 {
		t.Errorf("job show: %+v", view)
	}
	do[[]master.Posted](t, a, "POST", "/api/v1/jobs/Nightly/start?group=Web", nil)
	do[[]master.Posted](t, a, "POST", "/api/v1/jobs/Nightly/stop", nil)
	do[master.ApplyResult](t, a, "POST", "/api/v1/jobs/Nightly/disable", api.EnableRequest{Servers: []string{"SQL01"}})
	do[master.ApplyResult](t, a, "POST", "/api/v1/jobs/Nightly/enable", nil)
	do[master.ApplyResult](t, a, "POST", "/api/v1/jobs/Nightly/targets", api.TargetRequest{Servers: []string{"SQL01"}})
	do[master.ApplyResult](t, a, "POST", "/api/v1/jobs/Nightly/targets", api.TargetRequest{Servers: []string{"SQL01"}, Remove: true})
	refused(t, a, "POST", "/api/v1/jobs/Nightly/start?wait=forever", nil, 400, 0)

	// An operator token starts and stops jobs, and changes nothing else.
	opTok := do[api.TokenReply](t, a, "POST", "/api/v1/tokens", api.TokenRequest{Role: auth.RoleOperator, Description: "on call"})
	op := &client.Client{Base: a.Base, Token: opTok.Token, HTTP: a.HTTP}
	if me := do[api.WhoAmI](t, op, "GET", "/api/v1/whoami", nil); me.Role != auth.RoleOperator || !me.Read || !me.StartStop || me.Change || me.Master != "MSXMASTER" {
		t.Errorf("whoami as operator: %+v", me)
	}
	if me := do[api.WhoAmI](t, v, "GET", "/api/v1/whoami", nil); me.Role != auth.RoleViewer || me.StartStop || me.Change {
		t.Errorf("whoami as viewer: %+v", me)
	}
	do[[]master.Posted](t, op, "POST", "/api/v1/jobs/Nightly/stop?server=SQL01", nil)
	refused(t, v, "POST", "/api/v1/jobs/Nightly/stop", nil, 403, master.CodeBadToken)
	refused(t, op, "POST", "/api/v1/jobs/Nightly/disable", nil, 403, master.CodeBadToken)
	refused(t, rg.anyone, "GET", "/api/v1/whoami", nil, 401, master.CodeBadToken)

	// The console's reads, as master/web/static/app.js makes them.
	if f := do[api.Fleet](t, v, "GET", "/api/v1/console/fleet?"+url.Values{"q": {"sql"}, "status": {"normal"}, "sort": {"heartbeat"}, "desc": {"true"}, "limit": {"10"}}.Encode(), nil); f.Total != 1 || len(f.Strip) != 1 || f.Rows == nil || f.Groups == nil {
		t.Errorf("console fleet: %+v", f)
	}
	refused(t, v, "GET", "/api/v1/console/fleet?limit=501", nil, 400, master.CodeBadRequest)
	refused(t, v, "GET", "/api/v1/console/fleet?sort=colour", nil, 400, master.CodeBadRequest)
	refused(t, v, "GET", "/api/v1/console/fleet?desc=maybe", nil, 400, master.CodeBadRequest) // once taken as false
	if g := do[api.Grid](t, v, "GET", "/api/v1/console/grid?"+url.Values{"job": {"night"}, "group": {"Web"}, "slimit": {"5"}}.Encode(), nil); len(g.Jobs) != 1 || g.Jobs[0].Name != "Nightly" || len(g.Jobs[0].Cells) != len(g.Servers) {
		t.Errorf("console grid: %+v", g)
	}
	refused(t, v, "GET", "/api/v1/console/grid?group=Nope", nil, 404, 14262)
	refused(t, v, "GET", "/api/v1/console/grid?slimit=0", nil, 400, master.CodeBadRequest)
	if tj := do[api.TargetJobs](t, v, "GET", "/api/v1/console/targets/"+p("sql01")+"/jobs", nil); tj.Server != "SQL01" || len(tj.Jobs) != 1 {
		t.Errorf("console target jobs: %+v", tj)
	}
	if cj := do[api.ConsoleJob](t, v, "GET", "/api/v1/console/jobs/Nightly?outcome=1&limit=5", nil); cj.Job.Name != "Nightly" || len(cj.Schedules) != 2 {
		t.Errorf("console job: %+v", cj)
	}
	refused(t, v, "GET", "/api/v1/console/jobs/Nightly?outcome=9", nil, 400, master.CodeBadRequest)
	if vs := do[map[string]any](t, v, "GET", "/api/v1/console/jobs/Nightly/versions", nil); vs["versions"] == nil {
		t.Errorf("console versions: %+v", vs)
	}
	runs := do[[]api.RunSummary](t, v, "GET", "/api/v1/console/jobs/Nightly/runs?server=SQL01&limit=10", nil)
	if len(runs) == 0 {
		t.Fatal("console runs: none")
	}
	if run := do[api.Run](t, v, "GET", "/api/v1/console/jobs/Nightly/runs/"+p(runs[0].RunID)+"?server=SQL01", nil); len(run.Rows) == 0 || run.Server != "SQL01" {
		t.Errorf("console run: %+v", run)
	}
	do[api.Run](t, v, "GET", "/api/v1/console/jobs/Nightly/runs/last?server=SQL01", nil)
	refused(t, v, "GET", "/api/v1/console/jobs/Nightly/runs/last", nil, 400, master.CodeBadRequest)
	refused(t, v, "GET", "/api/v1/console/jobs/Nightly/runs/nope?server=SQL01", nil, 404, 14262)
	do[api.DownloadList](t, v, "GET", "/api/v1/console/downloadlist?"+url.Values{"server": {"SQL01"}, "status": {"downloaded"}, "operation": {"insert"}, "since": {"2026-01-01"}}.Encode(), nil)
	refused(t, v, "GET", "/api/v1/console/downloadlist?since=yesterday", nil, 400, master.CodeBadRequest)

	// The streams, read as `msx job tail --follow` and the console read them: the first event,
	// then stop.
	var first client.Event
	if err := v.Stream(t.Context(), "/api/v1/stream", func(e client.Event) error { first = e; return client.ErrStop }); err != nil || first.Name != "hello" {
		t.Errorf("stream: %v, first event %+v", err, first)
	}
	if err := v.Stream(t.Context(), "/api/v1/jobs/Nightly/output?server=SQL01", func(e client.Event) error { first = e; return client.ErrStop }); err != nil || !first.Comment {
		t.Errorf("output stream: %v, first event %+v", err, first)
	}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/api/v1/jobs/Nightly/output", 400},
		{"/api/v1/jobs/Nightly/output?server=NOPE", 404},
		{"/api/v1/jobs/Nope/output?server=SQL01", 404},
	} {
		err := v.Stream(t.Context(), tt.path, func(client.Event) error { return client.ErrStop })
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != tt.status {
			t.Errorf("%s: %v, want status %d", tt.path, err, tt.status)
		}
	}

	// The download list, plans, logs.
	rows := do[[]ledger.Row](t, v, "GET", "/api/v1/downloadlist?"+url.Values{"server": {"SQL01"}, "limit": {"50"}}.Encode(), nil)
	do[[]ledger.Row](t, v, "GET", "/api/v1/downloadlist?pending=true&errors=false", nil)
	if len(rows) == 0 {
		t.Fatal("no download list rows")
	}
	refused(t, a, "POST", "/api/v1/downloadlist/"+p("x")+"/clear", nil, 400, 0)
	if err := a.Do(t.Context(), "POST", "/api/v1/downloadlist/"+strconv.FormatUint(rows[0].InstanceID, 10)+"/clear", nil, &ledger.Row{}); err != nil {
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status >= 500 {
			t.Errorf("clear one: %v", err)
		}
	}
	do[api.ClearReply](t, a, "POST", "/api/v1/downloadlist/clear", master.ClearFilter{All: true})
	for _, q := range []string{"group=Web", "group=Web&member=SQL01", "server=SQL01&no_post_defection=true", "job=Nightly"} {
		do[master.UndeployPlan](t, v, "GET", "/api/v1/plans/undeploy?"+q, nil)
	}
	refused(t, v, "GET", "/api/v1/plans/undeploy", nil, 400, 0)
	do[[]master.EventRecord](t, v, "GET", "/api/v1/events?since=0&min_severity=0&limit=10&server=SQL01", nil)
	do[[]master.AuditRecord](t, v, "GET", "/api/v1/audit?limit=20&unverified=true", nil)
	do[api.Dashboard](t, v, "GET", "/api/v1/dashboard?job=Nightly", nil)
	do[master.ClusterStatus](t, v, "GET", "/api/v1/cluster", nil)

	// Variables.
	do[master.VarChange](t, a, "PUT", "/api/v1/vars/GREETING", api.VarSet{Value: "hi", Server: "SQL01"})
	do[master.VarChange](t, a, "PUT", "/api/v1/vars/PASS", api.VarSet{Value: "s3cret", Group: "Web", Secret: true})
	do[[]master.VarRow](t, v, "GET", "/api/v1/vars", nil)
	do[[]master.VarRow](t, v, "GET", "/api/v1/vars?server=SQL01", nil)
	do[master.VarChange](t, a, "DELETE", "/api/v1/vars/PASS?group=Web", nil)

	// Tokens.
	tr := do[api.TokenReply](t, a, "POST", "/api/v1/tokens", api.TokenRequest{Role: auth.RoleViewer, TTL: "1h", Description: "ci"})
	do[api.TokenReply](t, a, "POST", "/api/v1/tokens", api.TokenRequest{Server: `sql02\prod`})
	refused(t, a, "POST", "/api/v1/tokens", api.TokenRequest{TTL: "a while"}, 400, 0)
	do[[]auth.Record](t, a, "GET", "/api/v1/tokens", nil)
	if rec := do[auth.Record](t, a, "DELETE", "/api/v1/tokens/"+p(tr.ID), nil); !rec.Revoked {
		t.Errorf("revoke: %+v", rec)
	}

	// Notifications, as `msx operator|alert|silence` send them.
	on := true
	do[model.Operator](t, a, "POST", "/api/v1/operators", model.Operator{Name: "DBA", Enabled: &on, EmailAddress: "dba@example.com", PagerDays: 62})
	do[model.Operator](t, a, "PATCH", "/api/v1/operators/DBA", map[string]any{"webhook_url": "https://hooks.example.com/x", "webhook_format": "json"})
	do[[]model.Operator](t, v, "GET", "/api/v1/operators", nil)
	do[model.Operator](t, v, "GET", "/api/v1/operators/DBA", nil)
	refused(t, a, "PATCH", "/api/v1/operators/DBA", map[string]any{"name": "Other"}, 400, 0)
	if err := a.Do(t.Context(), "POST", "/api/v1/operators/DBA/test", nil, &[]model.Delivery{}); err != nil {
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status >= 500 {
			t.Errorf("operator test: %v", err)
		}
	}
	do[model.Alert](t, a, "POST", "/api/v1/alerts", model.Alert{Name: "Sev 17", Severity: 17,
		Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: 1}}})
	do[model.Alert](t, a, "PATCH", "/api/v1/alerts/"+p("Sev 17"), map[string]any{"delay_between_responses": 60})
	do[[]model.Alert](t, v, "GET", "/api/v1/alerts", nil)
	do[model.Alert](t, v, "GET", "/api/v1/alerts/"+p("Sev 17"), nil)
	sil := do[model.Silence](t, a, "POST", "/api/v1/silences", api.SilenceRequest{Server: "SQL01", For: "1h", Reason: "test"})
	do[[]model.Silence](t, v, "GET", "/api/v1/silences", nil)
	do[[]model.Delivery](t, v, "GET", "/api/v1/notifications?last=10", nil)
	refused(t, v, "GET", "/api/v1/notifications?last=0", nil, 400, 0)
	for _, path := range []string{"/api/v1/silences/" + p(sil.ID), "/api/v1/alerts/" + p("Sev 17"), "/api/v1/operators/DBA"} {
		if err := a.Do(t.Context(), "DELETE", path, nil, nil); err != nil {
			t.Errorf("DELETE %s: %v", path, err)
		}
	}
	refused(t, a, "DELETE", "/api/v1/operators/DBA", nil, 404, 14262)

	// Destructive ones last.
	do[api.ReplaceReply](t, a, "POST", "/api/v1/targetservers/SQL01/enlistment/replace", struct{}{})
	do[[]master.Posted](t, a, "DELETE", "/api/v1/groups/Web/members/SQL01", nil)
	do[[]master.Posted](t, a, "DELETE", "/api/v1/groups/Empty", nil)
	do[[]master.Posted](t, a, "DELETE", "/api/v1/jobs/Nightly", nil)
	do[map[string]any](t, a, "DELETE", "/api/v1/targetservers/SQL01?no_post_defection=true", nil)

	// Every documented operation was called: a new route needs a call here (or a reason in
	// notByClient).
	ops := documentedOps(t)
	rg.mu.Lock()
	defer rg.mu.Unlock()
	for op := range ops {
		if !rg.called[op] && notByClient[op] == "" {
			t.Errorf("%s is documented but this test does not call it: add a call as the CLI or the console makes it", op)
		}
	}
}

func documentedOps(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops[method+" "+path] = true
		}
	}
	return ops
}
