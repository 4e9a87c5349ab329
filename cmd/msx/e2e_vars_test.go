package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndVars drives `msx var` through the CLI, the API, the master and msx up's targets:
// a secret read from standard input is set for a group and a plain value for one server; the
// job runs with them, and the secret appears in no CLI output (var set, var list, job history,
// events, audit).
func TestEndToEndVars(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	const secret = "Tr0ub4dor-e2e"
	dir := t.TempDir()
	up := start(t, dir, "up", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--no-examples")
	waitFor(t, 60*time.Second, "msx up banner", func() bool { return strings.Contains(up.out.String(), "msx is up") })
	waitFor(t, 60*time.Second, "3 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 3 && ts["SQL01"].LastPollDate != nil && ts["SQL02"].LastPollDate != nil
	})
	msx(t, dir, false, "group", "add", "Pair")
	msx(t, dir, false, "group", "addmember", "Pair", "SQL01")
	msx(t, dir, false, "group", "addmember", "Pair", "SQL02")

	bin, _ := msxBin()
	set := exec.Command(bin, "var", "set", "TOKEN", "-", "--group", "Pair", "--secret")
	set.Dir, set.Stdin = dir, strings.NewReader(secret+"\n")
	out, err := set.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "set TOKEN for group Pair to *** (secret)") {
		t.Fatalf("var set from stdin: %v\n%s", err, out)
	}
	if out := msx(t, dir, false, "var", "set", "who", "sql one", "--server", "sql01"); !strings.Contains(out, `set WHO for server SQL01 to "sql one"`) {
		t.Errorf("var set output:\n%s", out)
	}
	if out := msx(t, dir, true, "var", "set", "who", "x"); !strings.Contains(out, "--server S") {
		t.Errorf("var set without a scope:\n%s", out)
	}

	doc := filepath.Join(dir, "vars.yaml")
	if err := os.WriteFile(doc, []byte(`name: Hello
variables:
  - {name: WHO, default: nobody}
  - {name: TOKEN, secret: true}
steps:
  - step_name: say
    subsystem: CmdExec
    command: echo hi $(VAR:WHO) token $(VAR:TOKEN)
targets:
  servers: [SQL01, SQL02, SQL03]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", doc)
	waitFor(t, 30*time.Second, "Hello started on SQL01", func() bool {
		out, err := tryMsx(dir, "job", "start", "Hello", "--server", "SQL01", "--wait")
		return err == nil && strings.Contains(out, "started")
	})
	var hist string
	waitFor(t, 30*time.Second, "Hello's history on SQL01", func() bool {
		hist = msx(t, dir, false, "job", "history", "Hello", "--full")
		return strings.Contains(hist, "hi sql one token ***")
	})
	list := msx(t, dir, false, "var", "list", "--server", "SQL03")
	if !strings.Contains(list, "TOKEN") || !strings.Contains(list, "no value for server SQL03") || !strings.Contains(list, "nobody") {
		t.Errorf("var list --server SQL03:\n%s", list)
	}
	waitFor(t, 30*time.Second, "the event naming TOKEN on SQL03", func() bool {
		out, err := tryMsx(dir, "events")
		return err == nil && strings.Contains(out, "no value for variable TOKEN")
	})
	for _, args := range [][]string{{"var", "list"}, {"var", "list", "-o", "json"}, {"var", "list", "--server", "SQL02"}, {"job", "history", "Hello", "--full"},
		{"job", "history", "Hello", "-o", "json"}, {"events"}, {"audit"}, {"job", "show", "Hello"}} {
		if out := msx(t, dir, false, args...); strings.Contains(out, secret) {
			t.Errorf("msx %v shows the secret:\n%s", args, out)
		}
	}
}
