package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/master/notify/notifytest"
)

// TestEndToEndNotifications runs `msx up` with an authenticated SMTP server on loopback: an
// operator added with the CLI receives one e-mail for a failing job, `msx notifications`
// shows it, and the SMTP password appears in no output and no log. A bad --webhook-allow stops
// msx up, and a webhook to the metadata service is refused by the default allow-list.
func TestEndToEndNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	const password = "s3cret-Pa55word"
	mail := notifytest.RunSMTP(t, notifytest.SMTPOptions{User: "msx", Password: password})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := msx(t, dir, true, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--smtp", "smtp://msx:"+password+"@"+mail.Addr, "--smtp-from", "msx@example.com"); !strings.Contains(out, "holds a password") || strings.Contains(out, password) {
		t.Errorf("a password in the URL: %s", out)
	}
	if out := msx(t, dir, true, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--webhook-allow", "http://hooks.corp/x"); !strings.Contains(out, "--webhook-allow") || !strings.Contains(out, "CIDR") {
		t.Errorf("a bad --webhook-allow: %s", out)
	}
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--targets", "1", "--no-examples",
		"--smtp", mail.URL(), "--smtp-from", "msx@example.com", "--smtp-password-file", pwFile, "--notify-window", "-1s")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return regexp.MustCompile(`NATS\s+\S+`).MatchString(up.out.String()) })
	waitFor(t, 30*time.Second, "SQL01 online", func() bool { return targets(t, dir)["SQL01"].LastPollDate != nil })

	msx(t, dir, false, "operator", "add", "MSXOperator", "--email", "dba@example.com", "--pager-days", "62")
	if out := msx(t, dir, true, "operator", "add", "Bad", "--email", "nope"); !strings.Contains(out, "not an e-mail address") {
		t.Errorf("bad address: %s", out)
	}
	// The default allow-list refuses a webhook to the metadata service, naming the flag.
	if out := msx(t, dir, true, "operator", "add", "Meta", "--webhook", "http://169.254.169.254/latest/meta-data/"); !strings.Contains(out, "--webhook-allow") {
		t.Errorf("webhook to 169.254.169.254: %s", out)
	}
	if out := msx(t, dir, false, "operator", "list"); !strings.Contains(out, "dba@example.com") {
		t.Errorf("operator list:\n%s", out)
	}
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte("name: Fails\nnotify_level_email: 2\nsteps:\n  - step_name: boom\n    subsystem: CmdExec\n    command: exit 1\ntargets:\n  servers: [SQL01]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", job)
	waitFor(t, 30*time.Second, "the job on SQL01", func() bool { return targets(t, dir)["SQL01"].UnreadInstructions == 0 })
	msx(t, dir, false, "job", "start", "Fails", "--server", "SQL01")
	waitFor(t, 60*time.Second, "the failure e-mail", func() bool { return len(mail.Mails()) >= 1 })
	m := mail.Mails()[0]
	if m.Subject != "[msx] Job 'Fails' failed on SQL01" || m.User != "msx" {
		t.Errorf("mail %q authenticated as %q", m.Subject, m.User)
	}
	var log []struct {
		Result, Channel, Kind string
		Servers               []string
	}
	waitFor(t, 30*time.Second, "the delivery log", func() bool {
		return json.Unmarshal([]byte(msx(t, dir, false, "notifications", "-o", "json")), &log) == nil && len(log) == 1
	})
	if log[0].Result != "sent" || log[0].Channel != "email" || log[0].Kind != "failure" {
		t.Errorf("delivery log %+v", log)
	}
	msx(t, dir, false, "silence", "add", "--server", "SQL01", "--for", "1h", "--reason", "patching")
	if out := msx(t, dir, false, "silence", "list"); !strings.Contains(out, "patching") {
		t.Errorf("silence list:\n%s", out)
	}
	// A SQL Agent script's operators and alerts become msx's.
	script := filepath.Join(dir, "alerts.sql")
	if err := os.WriteFile(script, []byte("EXEC msdb.dbo.sp_add_operator @name=N'Night DBA', @email_address=N'night@example.com'\n"+
		"EXEC msdb.dbo.sp_add_alert @name=N'Sev 17', @severity=17\n"+
		"EXEC msdb.dbo.sp_add_notification @alert_name=N'Sev 17', @operator_name=N'Night DBA', @notification_method=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "import", script)
	if out := msx(t, dir, false, "alert", "show", "Sev 17"); !strings.Contains(out, `"operator_name": "Night DBA"`) {
		t.Errorf("imported alert:\n%s", out)
	}
	up.stop(t)
	logs, _ := os.ReadFile(filepath.Join(dir, "msx-data", "msx.log"))
	if strings.Contains(up.out.String(), password) || strings.Contains(string(logs), password) {
		t.Errorf("the SMTP password leaked into the output or the log")
	}
	if !strings.Contains(string(logs), "smtp://msx@") {
		t.Errorf("the log does not say which SMTP server is used")
	}
}
