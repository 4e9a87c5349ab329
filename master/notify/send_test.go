package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/master/notify/notifytest"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestSMTPStartTLSAndAuth delivers over STARTTLS with AUTH PLAIN to a real server; a server
// that refuses (530, no auth) fails at once without retries, and a certificate the master does
// not trust is refused.
func TestSMTPStartTLSAndAuth(t *testing.T) {
	srv := notifytest.RunSMTP(t, notifytest.SMTPOptions{TLS: true, User: "msx", Password: "pw"})
	ok := SMTP{URL: srv.URL(), From: "MSX <msx@example.com>", Password: "pw", TLS: &tls.Config{RootCAs: srv.Roots}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	msg := mailMsg{To: []string{"dba@example.com"}, Subject: "Job 'x'\r\nBcc: evil@example.com", Body: "line\n.\nend", ID: "r1/op/email"}
	if err := ok.sendMail(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Mails()
	if len(got) != 1 || !got[0].TLS || got[0].User != "msx" || got[0].Header.Get("Bcc") != "" || !strings.Contains(got[0].Body, "line\n.\nend") ||
		got[0].From != "msx@example.com" || got[0].Header.Get("X-MSX-Notification-ID") != "r1/op/email" {
		t.Errorf("received %+v", got)
	}
	noAuth := ok
	noAuth.URL = "smtp://" + srv.Addr
	n, err := retry(t.Context(), 5, time.Millisecond, func() error { return noAuth.sendMail(t.Context(), msg) })
	if err == nil || n != 1 || !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("unauthenticated: %d attempts, %v; want one attempt refused (5xx)", n, err)
	}
	untrusted := ok
	untrusted.TLS = nil
	if err := untrusted.sendMail(t.Context(), msg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	for _, c := range []struct {
		s    SMTP
		want string
	}{
		{SMTP{URL: "smtp://u:pw@h", From: "a@b.c"}, "holds a password"},
		{SMTP{URL: "http://h", From: "a@b.c"}, "smtp://"},
		{SMTP{URL: "smtp://h"}, "--smtp-from"},
		{SMTP{URL: "smtp://h", From: "not-an-address"}, "not an e-mail address"},
		{SMTP{URL: "smtp://u@h", From: "a@b.c"}, "MSX_SMTP_PASSWORD"},
		{SMTP{From: "a@b.c"}, "without --smtp"},
	} {
		if err := c.s.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.s, err, c.want)
		}
	}
	if s := (SMTP{URL: "smtp://u@h", Password: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("String shows the password: %s", s)
	}
}

// TestResentAfterLeaderDied: an outbox entry marked as being sent (its master stopped between
// marking it and recording the result) is sent by the next leader, flagged as a possible
// repeat, and then never again.
func TestResentAfterLeaderDied(t *testing.T) {
	a := startAlone(t, Config{}, Deps{})
	s, mail := a.s, a.mail
	it := item{ID: "RUN1/DBA/email", Kind: KindFailure, Job: "J", Operator: "DBA", Channel: model.ChannelEmail, Group: "g",
		Created: time.Now(), Run: &Run{Server: "SQL01", RunID: "RUN1", Outcome: "Failed"}}
	if err := s.enqueue(t.Context(), it); err != nil {
		t.Fatal(err)
	}
	it.Sending, it.SendingAt = true, time.Now().Add(-time.Hour) // what the stopped leader had written before its send
	b, _ := json.Marshal(it)
	if _, err := s.st.Put(t.Context(), "o."+it.key(), b); err != nil {
		t.Fatal(err)
	}
	a.leading.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for len(mail.Mails()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ms := mail.Mails()
	if len(ms) != 1 || !strings.Contains(ms[0].Body, "may be a repeat") {
		t.Fatalf("mails %+v", ms)
	}
	ds, err := s.Deliveries(t.Context(), 10)
	if err != nil || len(ds) != 1 || !ds[0].Resent || ds[0].Result != model.ResultSent {
		t.Errorf("deliveries %+v, %v", ds, err)
	}
	// The same notification queued again (a redelivered result) is not sent twice.
	it.Sending = false
	if err := s.enqueue(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Queued(t.Context()); err != nil || n != 0 {
		t.Errorf("after a repeat enqueue: %d queued, %v", n, err)
	}
}
