package notify_test

// Integration tests of notifications: a real JetStream server, real masters, real target
// agents running failing jobs (CmdExec), a real SMTP server and a real webhook receiver on
// loopback. Only the notifier's clock is fake, where a test needs time to pass (storm window,
// pager hours).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/schemas/schedule"
	"github.com/msx-project/msx/target"
)

// patience bounds every wait; a passing run never waits that long.
const patience = 30 * time.Second

func waitFor(tb testing.TB, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for "+format, append([]any{patience}, args...)...)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// clock is the notifier's clock: real time plus an offset a test moves forward.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time                         { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration)                { c.off.Add(int64(d)) }
func (c *clock) setTo(t time.Time)                      { c.off.Store(int64(time.Until(t))) }
func (c *clock) config(cfg notify.Config) notify.Config { cfg.Now = c.now; return cfg }

type fixture struct {
	srv   *bustest.Secure
	m     *master.Master
	mail  *notifytest.SMTPServer
	hook  *notifytest.Hook
	clock *clock
	cfg   notify.Config
}

// newFixture starts a bus, an SMTP server, a webhook receiver and a master whose notifier
// sends at once unless cfg says otherwise.
func newFixture(tb testing.TB, cfg notify.Config) *fixture {
	tb.Helper()
	f := &fixture{srv: bustest.RunSecureServer(tb), mail: notifytest.RunSMTP(tb, notifytest.SMTPOptions{}), hook: notifytest.RunHook(tb), clock: &clock{}}
	cfg.SMTP = notify.SMTP{URL: f.mail.URL(), From: "msx@example.com"}
	if cfg.StormWindow == 0 {
		cfg.StormWindow = -1
	}
	cfg.Tick, cfg.RetryInitial = 50*time.Millisecond, 10*time.Millisecond
	if cfg.WebhookAllow == nil {
		cfg.WebhookAllow = []string{"127.0.0.1"} // the receivers are on loopback
	}
	f.cfg = f.clock.config(cfg)
	f.m = f.startMaster(tb, "MASTER1")
	return f
}

func (f *fixture) startMaster(tb testing.TB, name string) *master.Master {
	tb.Helper()
	nc, _ := f.srv.ConnectMaster(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: name, Logger: bustest.Logger(tb), Auth: f.srv.Auth, Notify: f.cfg,
		API: "http://dashboard.example"})
	if err != nil {
		tb.Fatalf("start master: %v", err)
	}
	tb.Cleanup(func() { stopMaster(tb, m) })
	return m
}

func stopMaster(tb testing.TB, m *master.Master) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		tb.Errorf("master shutdown: %v", err)
	}
}

// startTarget enlists and runs a target agent until the test ends.
func (f *fixture) startTarget(tb testing.TB, name string) {
	tb.Helper()
	tok, _, err := f.m.Tokens.Create(tb.Context(), auth.RoleEnlist, time.Hour, "tester", "notify test")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = target.Run(ctx, target.Config{Name: name, NATSURL: f.srv.ClientURL(), Token: tok, DataDir: tb.TempDir(),
			HeartbeatInterval: 200 * time.Millisecond, Logger: bustest.Logger(tb), CAFile: f.srv.CAFile})
	}()
	tb.Cleanup(func() { cancel(); <-done })
	canon := strings.ToUpper(name)
	waitFor(tb, func() bool {
		ts, ok := f.m.TargetServer(canon)
		return ok && ts.Connected && ts.LastPollDate != nil
	}, "target %s online", canon)
}

func (f *fixture) addOperator(tb testing.TB, o model.Operator) {
	tb.Helper()
	if _, err := f.m.Notify.PutOperator(tb.Context(), o, true); err != nil {
		tb.Fatalf("add operator: %v", err)
	}
}

// apply applies a one-step CmdExec job on servers, with the notification fields set by edit.
func (f *fixture) apply(tb testing.TB, name, command string, edit func(*jobs.Job), servers ...string) {
	tb.Helper()
	j := jobs.Job{Name: name, Steps: []jobs.Step{{StepName: "work", Subsystem: jobs.SubsystemCmdExec, Command: command}},
		Targets: jobs.Targets{Servers: servers}}
	edit(&j)
	res, err := f.m.ApplyJob(tb.Context(), j)
	if err != nil {
		tb.Fatalf("apply %s: %v", name, err)
	}
	for _, s := range servers {
		waitFor(tb, func() bool {
			for _, js := range f.m.JobServers(res.Job) {
				if strings.EqualFold(js.ServerName, s) && js.LastRunOutcome == jobs.OutcomeUnknown {
					return f.delivered(s, res.Job)
				}
			}
			return false
		}, "job %s delivered to %s", name, s)
	}
}

// delivered reports whether the target holds the job (its download list has nothing pending).
func (f *fixture) delivered(server string, _ jobs.Job) bool {
	ts, ok := f.m.TargetServer(strings.ToUpper(server))
	return ok && ts.UnreadInstructions == 0
}

// run starts the job on server and waits until its runs there reach n.
func (f *fixture) run(tb testing.TB, job, server string, n int) {
	tb.Helper()
	if _, err := f.m.StartJob(tb.Context(), job, server, false); err != nil {
		tb.Fatalf("start %s on %s: %v", job, server, err)
	}
	f.waitRuns(tb, job, server, n)
}

func (f *fixture) waitRuns(tb testing.TB, job, server string, n int) {
	tb.Helper()
	j, _ := f.m.Catalog.ByName(job)
	var last master.JobServer
	waitFor(tb, func() bool {
		for _, js := range f.m.JobServers(j) {
			if strings.EqualFold(js.ServerName, server) {
				last = js
				return js.Runs >= n
			}
		}
		return false
	}, "%d runs of %s on %s (last %+v)", n, job, server, &last)
}

// waitLog waits until the delivery log holds n records and returns them.
func (f *fixture) waitLog(tb testing.TB, m *master.Master, n int) []model.Delivery {
	tb.Helper()
	var ds []model.Delivery
	waitFor(tb, func() bool {
		var err error
		ds, err = m.Notify.Deliveries(tb.Context(), 1000)
		return err == nil && len(ds) >= n
	}, "%d deliveries (have %d)", n, &ds)
	return ds
}

func (f *fixture) waitMails(tb testing.TB, n int) []notifytest.Mail {
	tb.Helper()
	var ds []model.Delivery
	waitFor(tb, func() bool {
		ds, _ = f.m.Notify.Deliveries(tb.Context(), 1000)
		return len(f.mail.Mails()) >= n
	}, "%d mails (deliveries %+v)", n, &ds)
	return f.mail.Mails()
}

// notified counts the notification ids the mails carried (one mail may carry several runs).
func (f *fixture) notified() map[string]int {
	ids := map[string]int{}
	for _, m := range f.mail.Mails() {
		for id := range strings.FieldsSeq(m.Header.Get("X-MSX-Notification-ID")) {
			ids[id]++
		}
	}
	return ids
}

// waitNotified waits until the mails carried n notification ids.
func (f *fixture) waitNotified(tb testing.TB, n int) map[string]int {
	tb.Helper()
	var ids map[string]int
	waitFor(tb, func() bool { ids = f.notified(); return len(ids) >= n }, "%d notifications by mail (have %v)", n, &ids)
	return ids
}

func failing(tb testing.TB) (command, flag string) {
	flag = filepath.Join(tb.TempDir(), "fail")
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	return "echo 'disk is on fire' >&2; test ! -f " + flag, flag
}

// TestFailureNotifiesByEmailAndWebhook runs a failing job: MSXOperator (no operator named)
// receives one e-mail and one webhook naming the job, the server, the failing step and its
// message, and the delivery log records both.
func TestFailureNotifiesByEmailAndWebhook(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.startTarget(t, "sqln1")
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com", WebhookURL: f.hook.URL + "/secret-path"})
	cmd, _ := failing(t)
	f.apply(t, "Backup", cmd, func(j *jobs.Job) { j.NotifyLevelEmail, j.NotifyLevelWebhook = 2, 2 }, "SQLN1")
	f.run(t, "Backup", "SQLN1", 1)

	mails := f.waitMails(t, 1)
	m := mails[0]
	if !slices.Equal(m.To, []string{"dba@example.com"}) || m.From != "msx@example.com" {
		t.Errorf("mail from %s to %v", m.From, m.To)
	}
	if m.Subject != "[msx] Job 'Backup' failed on SQLN1" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"SQLN1: Failed", "step 1 (work)", "http://dashboard.example/#/jobs/Backup"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}
	if id := m.Header.Get("X-MSX-Notification-ID"); !strings.HasSuffix(id, "/MSXOperator/email") {
		t.Errorf("notification id %q", id)
	}
	waitFor(t, func() bool { return len(f.hook.Bodies()) >= 1 }, "the webhook")
	bodies := notifytest.Decode[notify.Message](t, f.hook)
	if len(bodies) != 1 || bodies[0].Version != 1 || bodies[0].Kind != "failure" || bodies[0].Job != "Backup" ||
		len(bodies[0].Runs) != 1 || bodies[0].Runs[0].Server != "SQLN1" || bodies[0].Runs[0].StepID != 1 || bodies[0].Runs[0].Outcome != "Failed" {
		t.Errorf("webhook bodies %+v", bodies)
	}
	ds := f.waitLog(t, f.m, 2)
	for _, d := range ds {
		if d.Result != model.ResultSent || d.Kind != "failure" || d.Operator != model.DefaultOperator || !slices.Equal(d.Servers, []string{"SQLN1"}) {
			t.Errorf("delivery %+v", d)
		}
		if d.Channel == model.ChannelWebhook && strings.Contains(d.To, "secret-path") {
			t.Errorf("delivery log shows the webhook's secret path: %s", d.To)
		}
	}
	c := f.m.Notify.Counts()
	if c["email/sent"] != 1 || c["webhook/sent"] != 1 {
		t.Errorf("counts %v", c)
	}
	if got := len(f.mail.Mails()); got != 1 {
		t.Errorf("%d mails, want 1", got)
	}
}

// TestFailuresInARowAndRecovery: with notify_after_failures 2 the first failure is quiet, the
// second and fourth notify; the first success after them is one recovery message.
func TestFailuresInARowAndRecovery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.startTarget(t, "sqln2")
	f.addOperator(t, model.Operator{Name: "Oncall", EmailAddress: "oncall@example.com"})
	cmd, flag := failing(t)
	f.apply(t, "Etl", cmd, func(j *jobs.Job) {
		j.NotifyLevelEmail, j.NotifyEmailOperator, j.NotifyAfterFailures, j.NotifyOnRecovery = 2, "Oncall", 2, true
	}, "SQLN2")
	for i := 1; i <= 5; i++ {
		if i == 5 {
			if err := os.Remove(flag); err != nil {
				t.Fatal(err)
			}
		}
		f.run(t, "Etl", "SQLN2", i)
	}
	f.waitNotified(t, 3)
	kinds := map[string]int{}
	waitFor(t, func() bool {
		kinds = map[string]int{}
		ds, err := f.m.Notify.Deliveries(t.Context(), 1000)
		n := 0
		for _, d := range ds {
			kinds[d.Kind] += len(d.IDs)
			n += len(d.IDs)
		}
		return err == nil && n >= 3
	}, "3 notifications logged (have %v)", &kinds)
	if kinds["failure"] != 2 || kinds["recovery"] != 1 || len(kinds) != 2 {
		t.Errorf("notifications by kind %v, want 2 failures (the 2nd and 4th) and 1 recovery", kinds)
	}
	last := f.mail.Mails()[len(f.mail.Mails())-1]
	if last.Subject != "[msx] Job 'Etl' recovered on SQLN2" {
		t.Errorf("last mail %q, want the recovery", last.Subject)
	}
}

// TestStormIsOneMessage: three targets failing the same job within the window make one
// message listing them; a silenced server is left out and logged as silenced.
func TestStormIsOneMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{StormWindow: time.Hour})
	servers := []string{"SQLS1", "SQLS2", "SQLS3", "SQLS4"}
	for _, s := range servers {
		f.startTarget(t, s)
	}
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com"})
	if _, err := f.m.Notify.AddSilence(t.Context(), "sqls4", "", 2*time.Hour, "maintenance", "test"); err != nil {
		t.Fatal(err)
	}
	f.apply(t, "Check", "exit 1", func(j *jobs.Job) { j.NotifyLevelEmail = 2 }, servers...)
	for _, s := range servers {
		f.run(t, "Check", s, 1)
	}
	waitFor(t, func() bool { n, err := f.m.Notify.Queued(t.Context()); return err == nil && n == 4 }, "4 queued notifications")
	if n := len(f.mail.Mails()); n != 0 {
		t.Fatalf("%d mails before the storm window ended", n)
	}
	f.clock.advance(time.Hour)
	mails := f.waitMails(t, 1)
	ds := f.waitLog(t, f.m, 2)
	if len(mails) != 1 || mails[0].Subject != "[msx] Job 'Check' failed on 3 servers" {
		t.Fatalf("mails %+v", mails)
	}
	for _, s := range servers[:3] {
		if !strings.Contains(mails[0].Body, s+": Failed") {
			t.Errorf("the storm message does not list %s:\n%s", s, mails[0].Body)
		}
	}
	if strings.Contains(mails[0].Body, "SQLS4") {
		t.Errorf("the silenced server is in the message:\n%s", mails[0].Body)
	}
	results := map[string][]string{}
	for _, d := range ds {
		results[d.Result] = d.Servers
	}
	if !slices.Equal(results[model.ResultSilenced], []string{"SQLS4"}) || len(results[model.ResultSent]) != 3 {
		t.Errorf("deliveries %+v", ds)
	}
}

// TestPagerHours: a page outside the operator's on-duty days is not sent (logged off_duty);
// within them it is, to the pager address.
func TestPagerHours(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.startTarget(t, "sqlp1")
	f.addOperator(t, model.Operator{Name: "Pager", PagerAddress: "pager@example.com", PagerDays: model.Monday})
	f.apply(t, "Night", "exit 1", func(j *jobs.Job) { j.NotifyLevelPage, j.NotifyPageOperator = 2, "Pager" }, "SQLP1")
	f.clock.setTo(time.Date(2030, 6, 2, 12, 0, 0, 0, time.UTC)) // a Sunday
	f.run(t, "Night", "SQLP1", 1)
	ds := f.waitLog(t, f.m, 1)
	if ds[0].Result != model.ResultOffDuty || ds[0].Channel != model.ChannelPager {
		t.Errorf("Sunday page: %+v", ds[0])
	}
	f.clock.setTo(time.Date(2030, 6, 3, 12, 0, 0, 0, time.UTC)) // Monday noon, on duty 09:00-18:00
	f.run(t, "Night", "SQLP1", 2)
	mails := f.waitMails(t, 1)
	if len(mails) != 1 || !slices.Equal(mails[0].To, []string{"pager@example.com"}) {
		t.Errorf("Monday page: %+v", mails)
	}
}

// TestFailoverNoLossNoRepeat: two masters; the leader stops while runs keep failing; the
// other takes over. Every run is notified exactly once.
func TestFailoverNoLossNoRepeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	second := f.startMaster(t, "MASTER2")
	f.startTarget(t, "sqlf1")
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com"})
	f.apply(t, "Flaky", "exit 1", func(j *jobs.Job) { j.NotifyLevelEmail = 2 }, "SQLF1")
	const before, after = 3, 3
	for i := 1; i <= before; i++ {
		f.run(t, "Flaky", "SQLF1", i)
	}
	f.waitNotified(t, before)
	stopMaster(t, f.m)
	waitFor(t, second.Leading, "the second master to lead")
	f.m = second
	for i := before + 1; i <= before+after; i++ {
		f.run(t, "Flaky", "SQLF1", i)
	}
	ids := f.waitNotified(t, before+after)
	for id, n := range ids {
		if n != 1 {
			t.Errorf("notification %s sent %d times", id, n)
		}
	}
	if len(ids) != before+after {
		t.Errorf("%d runs notified, want %d: %v", len(ids), before+after, ids)
	}
	// The log is written just after each send: wait for all of it, then look for repeats.
	var logged map[string]int
	waitFor(t, func() bool {
		logged = map[string]int{}
		ds, err := second.Notify.Deliveries(t.Context(), 1000)
		for _, d := range ds {
			for _, id := range d.IDs {
				logged[id]++
			}
		}
		return err == nil && len(logged) >= before+after
	}, "%d notifications in the delivery log (have %v)", before+after, &logged)
	for id, n := range logged {
		if n != 1 || ids[id] != 1 {
			t.Errorf("notification %s logged %d times, mailed %d times", id, n, ids[id])
		}
	}
}

// TestWebhookRetriedAndTested: msx operator test sends at once; a webhook answering 503
// twice is tried a third time and succeeds; Slack and Teams shapes are what they accept.
func TestWebhookRetriedAndTested(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.addOperator(t, model.Operator{Name: "Hook", WebhookURL: f.hook.URL, WebhookFormat: model.FormatSlack})
	f.hook.FailNext(2)
	ds, err := f.m.Notify.TestOperator(t.Context(), "Hook")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Result != model.ResultSent || ds[0].Attempts != 3 || f.hook.Tries() != 3 {
		t.Errorf("deliveries %+v, %d tries", ds, f.hook.Tries())
	}
	slack := notifytest.Decode[map[string]any](t, f.hook)
	if len(slack) != 1 || !strings.Contains(fmt.Sprint(slack[0]["text"]), "Test notification") {
		t.Errorf("slack body %v", slack)
	}
	if _, err := f.m.Notify.TestOperator(t.Context(), "nobody"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("test of an unknown operator: %v", err)
	}
}

// TestAlertOnEvents: an alert on severity 16 scoped to a group answers the first failed-job
// event from a member by e-mail and by starting a job there; the next events within
// delay_between_responses are throttled (counted, not answered); a server outside the group
// raises nothing.
func TestAlertOnEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.startTarget(t, "sqla1")
	f.startTarget(t, "sqla2")
	if _, err := f.m.Reg.AddGroup(t.Context(), "Prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Reg.AddMember(t.Context(), "Prod", "SQLA1"); err != nil {
		t.Fatal(err)
	}
	f.addOperator(t, model.Operator{Name: "DBA", EmailAddress: "dba@example.com"})
	f.apply(t, "Broken", "exit 1", func(*jobs.Job) {}, "SQLA1", "SQLA2")
	f.apply(t, "Repair", "exit 0", func(*jobs.Job) {}, "SQLA1")
	if _, err := f.m.Notify.PutAlert(t.Context(), model.Alert{Name: "Errors", Severity: 16, Groups: []string{"prod"}, DelayBetweenResponses: 3600,
		NotificationMessage: "Call the DBA", JobName: "Repair", Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodEmail}}}, true); err != nil {
		t.Fatal(err)
	}
	f.run(t, "Broken", "SQLA2", 1) // outside the group
	f.run(t, "Broken", "SQLA1", 1)
	mails := f.waitMails(t, 1)
	f.waitRuns(t, "Repair", "SQLA1", 1)
	if !strings.HasPrefix(mails[0].Subject, "[msx] Alert 'Errors' on SQLA1") || !strings.Contains(mails[0].Body, "Call the DBA") ||
		!strings.Contains(mails[0].Body, "severity 16") {
		t.Errorf("alert mail %q:\n%s", mails[0].Subject, mails[0].Body)
	}
	f.run(t, "Broken", "SQLA1", 2)
	f.run(t, "Broken", "SQLA1", 3)
	// Wait until the notifier has acknowledged the events of all three runs: then anything
	// they raised is queued or sent.
	_, js := f.srv.ConnectMaster(t)
	cons, err := js.Consumer(t.Context(), bus.StreamEvents, notify.ConsumerEvents)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	waitFor(t, func() bool {
		evs, err := f.m.Events(t.Context(), master.EventFilter{Server: "SQLA1"})
		runs := map[string]bool{}
		for _, e := range evs {
			if e.Severity == 16 && e.JobName == "Broken" {
				runs[e.RunID] = true
				last = max(last, e.Seq)
			}
		}
		return err == nil && len(runs) == 3
	}, "the events of 3 failed runs")
	waitFor(t, func() bool {
		ci, err := cons.Info(t.Context())
		return err == nil && ci.AckFloor.Stream >= last
	}, "the notifier to handle event %d", last)
	waitFor(t, func() bool { n, err := f.m.Notify.Queued(t.Context()); return err == nil && n == 0 }, "an empty outbox")
	if n := len(f.mail.Mails()); n != 1 {
		t.Errorf("%d alert mails, want 1 (delay_between_responses)", n)
	}
	for _, d := range f.waitLog(t, f.m, 1) {
		if !slices.Equal(d.Servers, []string{"SQLA1"}) {
			t.Errorf("delivery for %v, want SQLA1 only", d.Servers)
		}
	}
}

// TestMissedRun: a daily job whose target has not started it within the grace raises one
// "missed" notification naming the server and the due time, and no more while the streak
// lasts. The notifier's clock moves forward three days; the target's does not, so it misses.
func TestMissedRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{MissedEvery: 20 * time.Millisecond})
	f.startTarget(t, "sqlm1")
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com"})
	j, err := jobs.Parse([]byte(`
name: Nightly
notify_level_email: 2
notify_missed_run_grace: 10m
steps: [{step_name: s, subsystem: CmdExec, command: "exit 0"}]
schedules: [{name: daily, freq_type: 4, freq_interval: 1, active_start_time: 30000}]
targets: {servers: [SQLM1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ApplyJob(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	f.apply(t, "Unwatched", "exit 0", func(j *jobs.Job) {
		j.NotifyLevelEmail = 2
		j.Schedules = []schedule.Schedule{{Name: "daily", FreqType: 4, FreqInterval: 1, ActiveStartTime: 30000}}
	}, "SQLM1")
	passes := func(n int64) {
		t.Helper()
		from := f.m.Notify.MissedPasses()
		waitFor(t, func() bool { return f.m.Notify.MissedPasses() >= from+n }, "%d missed-run passes", n)
	}
	passes(2)
	f.clock.advance(72 * time.Hour)
	mails := f.waitMails(t, 1)
	if mails[0].Subject != "[msx] Job 'Nightly' missed its scheduled run on SQLM1" || !strings.Contains(mails[0].Body, "within 10m0s of its scheduled time") {
		t.Errorf("missed-run mail %q:\n%s", mails[0].Subject, mails[0].Body)
	}
	f.clock.advance(24 * time.Hour)
	passes(3)
	waitFor(t, func() bool { n, err := f.m.Notify.Queued(t.Context()); return err == nil && n == 0 }, "an empty outbox")
	if n := len(f.mail.Mails()); n != 1 {
		t.Errorf("%d mails, want 1: one per streak of missed runs, none for a job without a grace", n)
	}
}
