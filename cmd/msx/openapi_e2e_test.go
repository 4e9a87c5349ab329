package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLIAgainstOpenAPI runs `msx up` with MSX_API_VALIDATE=1, in which the master answers 500
// to any exchange its OpenAPI document does not describe, and runs each CLI command that talks
// to the API once: a command whose request or answer drifted from the document fails here,
// naming the mismatch.
func TestCLIAgainstOpenAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Setenv("MSX_API_VALIDATE", "1") // msx up and its targets inherit it
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return strings.Contains(up.out.String(), "NATS") })
	waitFor(t, 60*time.Second, "3 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].LastPollDate != nil && ts["SQL03"].LastPollDate != nil
	})
	job := filepath.Join(dir, "tour.yaml")
	if err := os.WriteFile(job, []byte(`name: Tour
category: openapi
steps:
  - step_name: say
    subsystem: CmdExec
    command: echo tour
schedules:
  - name: nightly
    freq_type: 4
    active_start_time: 20000
  - name: in Tokyo
    cron: "0 3 * * *"
    time_zone: Asia/Tokyo
variables:
  - name: GREETING
    default: hello
targets:
  servers: [SQL01]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "imported.sql")
	if err := os.WriteFile(script, []byte(`USE [msdb]
GO
EXEC msdb.dbo.sp_add_job @job_name=N'Imported', @enabled=1, @description=N'from a script'
GO
EXEC msdb.dbo.sp_add_jobstep @job_name=N'Imported', @step_name=N'one', @subsystem=N'TSQL', @command=N'SELECT 1', @database_name=N'master'
GO
EXEC msdb.dbo.sp_add_jobserver @job_name=N'Imported', @server_name=N'SQL01'
GO
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		ID string `json:"id"`
	}
	steps := [][]string{
		{"targetserver", "list"},
		{"targetserver", "show", "SQL01"},
		{"targetserver", "quarantined"},
		{"targetserver", "setpoll", "SQL02", "30"},
		{"targetserver", "synctime", "--all"},
		{"targetserver", "reenlist", "SQL02"},
		{"targetserver", "replace", "SQL03"},
		{"group", "add", "Tour"},
		{"group", "list"},
		{"group", "addmember", "Tour", "SQL02"},
		{"group", "show", "Tour"},
		{"job", "apply", "-f", job},
		{"job", "apply", "--dry-run", "-f", job},
		{"job", "list"},
		{"job", "summary"},
		{"job", "show", "Tour"},
		{"job", "target", "Tour", "--group", "Tour"},
		{"job", "start", "Tour", "--server", "SQL01", "--wait"},
		{"job", "start", "Tour", "--group", "Tour"},
		{"job", "disable", "Tour", "--server", "SQL02"},
		{"job", "enable", "Tour"},
		{"job", "history", "Tour", "--full"},
		{"job", "untarget", "Tour", "--group", "Tour"},
		{"job", "export", "Tour"},
		{"job", "import", script},
		{"var", "set", "GREETING", "hi", "--server", "SQL01"},
		{"var", "set", "TOKEN", "s3cret", "--group", "Tour", "--secret"},
		{"var", "list"},
		{"var", "list", "--server", "SQL01"},
		{"var", "unset", "TOKEN", "--group", "Tour"},
		{"downloadlist"},
		{"downloadlist", "--errors"},
		{"downloadlist", "--pending", "--server", "SQL01", "--limit", "5"},
		{"downloadlist", "clear", "--all"},
		{"events", "--limit", "20"},
		{"audit", "--limit", "20"},
		{"audit", "--unverified"},
		{"cluster"},
		{"token", "list"},
		{"operator", "add", "DBA", "--email", "dba@example.com", "--pager", "pager@example.com", "--pager-days", "62"},
		{"operator", "update", "DBA", "--webhook", "https://hooks.example.com/x", "--webhook-format", "json"},
		{"operator", "list"},
		{"operator", "show", "DBA"},
		{"alert", "add", "Sev 17", "--severity", "17", "--notify", "DBA=email", "--server", "SQL01"},
		{"alert", "update", "Sev 17", "--delay", "60"},
		{"alert", "list"},
		{"alert", "show", "Sev 17"},
		{"silence", "add", "--server", "SQL02", "--for", "1h", "--reason", "tour"},
		{"silence", "list"},
		{"notifications"},
		{"alert", "delete", "Sev 17"},
		{"operator", "delete", "DBA"},
		{"group", "removemember", "Tour", "SQL02", "--yes"},
		{"group", "delete", "Tour", "--yes"},
		{"job", "delete", "Tour", "--yes"},
		{"targetserver", "delete", "SQL03", "--no-post-defection", "--yes"},
	}
	for _, args := range steps {
		for _, o := range []string{"table", "json"} {
			if o == "json" && !readOnly(args) {
				continue
			}
			msx(t, dir, false, append(args, "-o", o)...)
		}
	}
	if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "--role", "viewer", "--ttl", "1h", "-o", "json")), &tok); err != nil || tok.ID == "" {
		t.Fatalf("token create: %v", err)
	}
	msx(t, dir, false, "token", "revoke", tok.ID)
	msx(t, dir, false, "token", "create", "--server", "SQL09", "--description", "tour")

	// Refusals come back in the documented error shape, with SQL Server's numbers.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "show", "NoSuchGroup"}, "14262"},
		{[]string{"job", "show", "NoSuchJob"}, "14262"},
		{[]string{"group", "add", "ALL"}, "14261"},
		{[]string{"silence", "add", "--server", "SQL01"}, "for"},
	} {
		out := msx(t, dir, true, tt.args...)
		if !strings.Contains(out, tt.want) || strings.Contains(out, "OpenAPI") {
			t.Errorf("msx %v: %s", tt.args, out)
		}
	}

	assertAPIMatched(t, filepath.Join(dir, "msx-data"))
}

// assertAPIMatched fails the test when the log of an `msx up` run with MSX_API_VALIDATE=1 in
// dataDir records an exchange that does not match the API's OpenAPI document, or when the
// master did not run in that mode. Tests that drive the API through a browser call it at the
// end (set MSX_API_VALIDATE=1 with t.Setenv before starting msx up).
func assertAPIMatched(t *testing.T, dataDir string) {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(dataDir, "msx.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bad := regexp.MustCompile(`.*does not match the OpenAPI document.*`).FindAll(log, 10); len(bad) > 0 {
		t.Errorf("the master found %d exchanges that do not match its OpenAPI document; the first:\n%s", len(bad), bad[0])
	}
	if !strings.Contains(string(log), "MSX_API_VALIDATE") {
		t.Errorf("the master did not run with MSX_API_VALIDATE=1: its log does not say so")
	}
}

// readOnly reports whether a CLI command only reads, so that it may run twice.
func readOnly(args []string) bool {
	switch args[len(args)-1] {
	case "list", "summary", "quarantined", "cluster", "downloadlist", "--errors", "notifications":
		return true
	}
	return len(args) > 1 && (args[1] == "show" || args[1] == "history")
}

// TestStrictModeValue: a value of MSX_API_VALIDATE that is not a boolean stops msx up before
// it starts anything, with a message that says what to set.
func TestStrictModeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Setenv("MSX_API_VALIDATE", "yes please")
	out := msx(t, t.TempDir(), true, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1")
	if !strings.Contains(out, `MSX_API_VALIDATE="yes please"`) || !strings.Contains(out, "set it to 1") {
		t.Errorf("msx up with MSX_API_VALIDATE=\"yes please\": %s", out)
	}
}
