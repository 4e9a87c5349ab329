package notify

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestUnackedResultGoesToNextLeader: a leader that fetched a run result from the durable
// consumer and died before acknowledging it (here: a connection that fetches it and closes)
// leaves it to the next leader after AckWait, not after the two minutes it used to be. The
// wait is logged, not asserted; the deadline (30 s) is shorter than the old AckWait, so the
// test fails if the result waits for it.
func TestUnackedResultGoesToNextLeader(t *testing.T) {
	job := jobs.Job{JobID: "job1", Name: "Nightly", NotifyLevelEmail: jobs.LevelOnFailure, NotifyEmailOperator: "DBA"}
	const ackWait = 2 * time.Second
	a := startAlone(t, Config{AckWait: ackWait}, Deps{
		Job:    func(id string) (jobs.Job, bool) { return job, id == job.JobID || id == job.Name },
		Server: func(tok string) (string, bool) { return "SQL01", tok == "SQL01" }})
	js, mail := a.js, a.mail
	b, err := schemas.Encode(&schemas.RunResult{RunID: "RUN1", Phase: schemas.PhaseFinished, JobID: job.JobID, JobName: job.Name, Server: "SQL01",
		Started: time.Now().Add(-time.Second), Finished: time.Now(), RunStatus: int(jobs.RunFailed), Message: "The job failed."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), bus.ResultSubject("SQL01", job.JobID), b); err != nil {
		t.Fatal(err)
	}
	// The dying leader: fetches the result on a connection of its own and is cut off.
	dying, djs := bustest.Connect(t, a.url)
	cons, err := djs.Consumer(t.Context(), bus.StreamResults, ConsumerResults)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(patience))
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if len(got) != 1 {
		t.Fatalf("the dying leader fetched %d results, want 1 (%v)", len(got), batch.Error())
	}
	dying.Close()
	died := time.Now()
	a.leading.Store(true) // the next leader
	deadline := time.Now().Add(patience)
	for len(mail.Mails()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ms := mail.Mails()
	if len(ms) != 1 || ms[0].Header.Get("X-MSX-Notification-ID") != "RUN1/DBA/email" || !strings.Contains(ms[0].Subject, "Nightly") {
		t.Fatalf("after %s: mails %+v; want the unacknowledged run's one notification from the next leader", patience, ms)
	}
	t.Logf("the next leader notified the run the dead leader had fetched %s after it died (AckWait %s; it was 2m)",
		time.Since(died).Round(time.Millisecond), ackWait)
}

const patience = 30 * time.Second

// alone is one Service on a bus of its own, with an SMTP server and an operator DBA
// (dba@example.com); it leads when the test sets leading.
type alone struct {
	url     string
	js      jetstream.JetStream
	mail    *notifytest.SMTPServer
	s       *Service
	leading *atomic.Bool
}

// startAlone starts it with cfg, whose SMTP, storm window (none), tick and logger it sets.
func startAlone(t *testing.T, cfg Config, deps Deps) alone {
	t.Helper()
	srv := bustest.RunServer(t, "")
	_, js := bustest.Connect(t, srv.ClientURL())
	if err := (bus.Layout{}).Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	a := alone{url: srv.ClientURL(), js: js, mail: notifytest.RunSMTP(t, notifytest.SMTPOptions{}), leading: new(atomic.Bool)}
	cfg.SMTP = SMTP{URL: a.mail.URL(), From: "msx@example.com"}
	cfg.StormWindow, cfg.Tick, cfg.Logger = -1, 20*time.Millisecond, bustest.Logger(t)
	deps.Leading = a.leading.Load
	s, err := Start(t.Context(), js, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if _, err := s.PutOperator(t.Context(), model.Operator{Name: "DBA", EmailAddress: "dba@example.com"}, true); err != nil {
		t.Fatal(err)
	}
	a.s = s
	return a
}
