package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/master/notify/notifytest"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// cutter is a TCP proxy on loopback in front of a receiver: the path one master's sends take.
// cut breaks it as that master's crash would: open connections are dropped mid-conversation
// and new ones refused.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	done   bool
}

func newCutter(tb testing.TB, target string) *cutter {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	go c.serve()
	tb.Cleanup(c.cut)
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		c.mu.Lock()
		done := c.done
		if !done {
			c.conns = append(c.conns, in, out)
		}
		c.mu.Unlock()
		if done {
			_ = in.Close()
			_ = out.Close()
			return
		}
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

func (c *cutter) cut() {
	c.mu.Lock()
	c.done = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	_ = c.ln.Close()
	for _, x := range conns {
		_ = x.Close()
	}
}

// startOn starts a master on a connection of its own with its own notifier configuration.
func startOn(tb testing.TB, srv *bustest.Secure, name string, cfg notify.Config) (*master.Master, *nats.Conn) {
	tb.Helper()
	nc, _ := srv.ConnectMaster(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: name, Logger: bustest.Logger(tb), Auth: srv.Auth, Notify: cfg,
		Layout: bus.Layout{LeaseTTL: 1500 * time.Millisecond}, API: "http://dashboard.example"})
	if err != nil {
		tb.Fatalf("start master %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx) // the killed master's fails: its connection is gone
	})
	return m, nc
}

// copyOf is one notification as a receiver got it.
type copyOf struct {
	resent bool // marked as a possible repeat
	via    string
}

// TestHardKillMidSend: two masters on one JetStream server, each on its own connection; two
// targets run a failing job round after round; MSXOperator is notified by e-mail and webhook.
// When one receiver (the SMTP server, then in a second run the webhook receiver) has accepted
// K messages, the Kth is held (received and recorded, not yet answered) while the leading master is killed: its NATS connection and its connections to the
// receivers are cut, nothing is shut down. The other master takes over. Every failed run is
// notified on both channels and logged as sent; the ids that arrived twice are those of the
// held message and at most the message of the other channel that was being sent at the same
// moment (sends are parallel), whose second copies and log records say they may be a repeat
// (the documented case: accepted, not yet recorded); every other id arrives and is logged
// once, unflagged unless it was under way at the kill.
func TestHardKillMidSend(t *testing.T) {
	t.Parallel()
	for _, ch := range []string{model.ChannelEmail, model.ChannelWebhook} {
		t.Run(ch, func(t *testing.T) { t.Parallel(); hardKillMidSend(t, ch) })
	}
}

func hardKillMidSend(t *testing.T, channel string) {
	srv := bustest.RunSecureServer(t)
	mail, hook := notifytest.RunSMTP(t, notifytest.SMTPOptions{}), notifytest.RunHook(t)
	mailCut, hookCut := newCutter(t, mail.Addr), newCutter(t, hook.Listener.Addr().String())
	const sendLease, ackWait = 3 * time.Second, 2 * time.Second
	base := notify.Config{StormWindow: -1, Tick: 50 * time.Millisecond, RetryInitial: 10 * time.Millisecond, SendLease: sendLease, AckWait: ackWait,
		WebhookAllow: []string{"127.0.0.1"}}
	doomed, live := base, base
	doomed.SMTP = notify.SMTP{URL: "smtp://" + mailCut.addr(), From: "msx@example.com"}
	doomed.HTTP = &http.Client{Timeout: patience, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", hookCut.addr())
	}}}
	live.SMTP = notify.SMTP{URL: mail.URL(), From: "msx@example.com"}
	m1, nc1 := startOn(t, srv, "MASTER1", doomed)
	m2, _ := startOn(t, srv, "MASTER2", live)
	if !m1.Leading() || m2.Leading() {
		t.Fatalf("leading: MASTER1 %v, MASTER2 %v; want MASTER1", m1.Leading(), m2.Leading())
	}

	// The kill: at the Kth message accepted, hold the receiver, cut MASTER1 off, let go.
	const k, rounds = 3, 6
	var arrived atomic.Int64
	var killed atomic.Bool
	var heldIDs []string
	reached, released := make(chan struct{}), make(chan struct{})
	hold := func(ch string, ids []string) {
		if ch == channel && arrived.Add(1) == k {
			heldIDs = ids
			close(reached)
			<-released
		}
	}
	mail.OnAccept(func(m notifytest.Mail) {
		hold(model.ChannelEmail, strings.Fields(m.Header.Get("X-MSX-Notification-ID")))
	})
	hook.OnAccept(func(b []byte) {
		var msg notify.Message
		_ = json.Unmarshal(b, &msg)
		hold(model.ChannelWebhook, msg.IDs)
	})
	killedAt, tookOver := make(chan time.Time, 1), make(chan time.Duration, 1)
	go func() {
		select {
		case <-reached:
		case <-t.Context().Done():
			return
		}
		killed.Store(true)
		mailCut.cut()
		hookCut.cut()
		nc1.Close()
		now := time.Now()
		killedAt <- now
		close(released)
		for deadline := now.Add(patience); !m2.Leading() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		tookOver <- time.Since(now)
	}()

	f := &fixture{srv: srv, m: m1, mail: mail, hook: hook, clock: &clock{}}
	servers := []string{"SQLK1", "SQLK2"}
	for _, s := range servers {
		f.startTarget(t, s)
	}
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com", WebhookURL: hook.URL})
	f.apply(t, "Flaky", "echo 'disk is on fire' >&2; exit 1", func(j *jobs.Job) { j.NotifyLevelEmail, j.NotifyLevelWebhook = 2, 2 }, servers...)
	for i := 1; i <= rounds; i++ {
		for _, s := range servers {
			waitFor(t, func() bool {
				m := m1
				if killed.Load() {
					m = m2
				}
				_, err := m.StartJob(t.Context(), "Flaky", s, false)
				return err == nil
			}, "a master to start Flaky on %s", s)
			f.m = m2 // alive throughout: its view of the runs
			f.waitRuns(t, "Flaky", s, i)
		}
	}
	var at time.Time
	select {
	case at = <-killedAt:
	case <-time.After(patience):
		t.Fatalf("MASTER1 was never killed: %d messages arrived by %s, want %d", arrived.Load(), channel, k)
	}
	waitFor(t, m2.Leading, "MASTER2 to lead")
	led := <-tookOver

	// What should have been notified: both channels of every failed run, from the history. It
	// is read again until every wanted notification is logged: a START that the killed master
	// posted before its call failed, and that the test then repeated on MASTER2, makes a run
	// more than the rounds, which may finish after a first read.
	want := map[string]bool{}
	readWant := func() {
		rows, err := m2.History(t.Context(), "Flaky", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]bool{}
		for _, r := range rows {
			if r.StepID == 0 && r.RunStatus == jobs.RunFailed {
				want[r.RunID+"/"+model.DefaultOperator+"/"+model.ChannelEmail] = true
				want[r.RunID+"/"+model.DefaultOperator+"/"+model.ChannelWebhook] = true
			}
		}
	}
	readWant()
	if len(want) < 2*rounds*len(servers) {
		t.Fatalf("%d notifications expected from the history, want at least %d", len(want), 2*rounds*len(servers))
	}
	logged := map[string][]model.Delivery{}
	waitFor(t, func() bool {
		readWant()
		ds, err := m2.Notify.Deliveries(t.Context(), 1000)
		logged = map[string][]model.Delivery{}
		for _, d := range ds {
			for _, id := range d.IDs {
				logged[id] = append(logged[id], d)
			}
		}
		if err != nil {
			return false
		}
		for id := range want {
			if len(logged[id]) == 0 {
				return false
			}
		}
		for id := range logged { // a notification of a run not yet in the history read
			if !want[id] {
				return false
			}
		}
		return true
	}, "every failed run's notifications in the delivery log (wanted %v, logged %v)", &want, &logged)
	done := time.Since(at)

	got := map[string][]copyOf{}
	for _, m := range mail.Mails() {
		for _, id := range strings.Fields(m.Header.Get("X-MSX-Notification-ID")) {
			got[id] = append(got[id], copyOf{resent: strings.Contains(m.Body, "may be a repeat"), via: "mail"})
		}
	}
	for _, b := range notifytest.Decode[notify.Message](t, hook) {
		for _, id := range b.IDs {
			got[id] = append(got[id], copyOf{resent: b.Resent, via: "webhook"})
		}
	}
	held := map[string]bool{}
	for _, id := range heldIDs {
		held[id] = true
	}
	if len(held) == 0 {
		t.Fatal("the held message carried no notification id")
	}
	// Messages are sent in parallel (one group per channel here), so besides the held message
	// the other channel's message may be under way at the kill: marked, not yet received (it
	// arrives once, from the next leader, flagged as a possible repeat since that leader cannot
	// know), or accepted, not yet recorded (it arrives twice, the second copy and log record
	// flagged). Every other id arrives and is logged once, unflagged.
	inFlight := map[string]bool{}
	for id := range want {
		ds, cs := logged[id], got[id]
		sent := 0
		for _, d := range ds {
			if d.Result == model.ResultSent {
				sent++
			}
		}
		switch {
		case len(cs) == 0:
			t.Errorf("%s: lost (logged %+v)", id, ds)
		case sent == 0:
			t.Errorf("%s: logged %+v, want sent", id, ds)
		case len(cs) == 1 && !held[id] && (cs[0].resent || ds[0].Resent):
			// Marked as being sent at the kill, not yet received: sent once by the next
			// leader, flagged since it could not know.
			if len(ds) != 1 || !cs[0].resent || !ds[0].Resent {
				t.Errorf("%s: sent again after the kill but copy %+v, log %+v; want both flagged", id, cs[0], ds)
			}
			inFlight[strings.SplitN(id, "/", 3)[2]] = true
		case len(cs) == 1 && !held[id]:
			if len(ds) != 1 {
				t.Errorf("%s: sent once but logged %+v; want one record", id, ds)
			}
		case len(cs) == 2:
			if cs[0].resent || !cs[1].resent || !ds[len(ds)-1].Resent || len(ds) > 2 || (len(ds) == 2 && ds[0].Resent) {
				t.Errorf("%s: the repeat after the kill is not marked as one: copies %+v, log %+v", id, cs, ds)
			}
			if !held[id] {
				inFlight[strings.SplitN(id, "/", 3)[2]] = true
			}
		default:
			t.Errorf("%s: %d copies %+v (held at the kill: %v)", id, len(cs), cs, held[id])
		}
		if held[id] && len(cs) != 2 {
			t.Errorf("%s: held at the kill, %d copies; want 2, the second flagged", id, len(cs))
		}
	}
	if inFlight[channel] {
		t.Errorf("a %s message besides the held one was repeated: the held send blocks its channel's only group", channel)
	}
	for id, cs := range got {
		if !want[id] {
			t.Errorf("%s: %d copies of a notification no failed run asked for", id, len(cs))
		}
	}
	for id := range logged {
		if !want[id] {
			t.Errorf("%s: logged %+v, no failed run asked for it", id, logged[id])
		}
	}
	t.Logf("MASTER1 killed while sending %s message %d (ids %v); MASTER2 led %s later; all %d notifications logged %s after the kill "+
		"(lease TTL 1.5s, send lease %s, AckWait %s)", channel, k, heldIDs, led.Round(time.Millisecond), len(want), done.Round(time.Millisecond), sendLease, ackWait)
}
