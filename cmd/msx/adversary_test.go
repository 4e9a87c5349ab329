//go:build adversary

package main_test

// Adversary probes against `msx up` as a user runs it: the banner, the files in msx-data, an
// audit flood followed by `msx audit`, a forged row, and a token takeover through the CLI.

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestAdversaryMsxUp(t *testing.T) {
	dir := t.TempDir()
	up := start(t, dir, "up", "--targets", "1", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--no-examples")
	var api string
	waitFor(t, 60*time.Second, "msx up banner", func() bool {
		m := regexp.MustCompile(`API\s+(http://\S+)`).FindStringSubmatch(up.out.String())
		if m != nil {
			api = m[1]
		}
		return m != nil
	})
	waitFor(t, 30*time.Second, "SQL01 online", func() bool { return targets(t, dir)["SQL01"].Status == 1 })
	admin, err := os.ReadFile(filepath.Join(dir, "msx-data", "master", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the banner does not print the admin token", func(t *testing.T) {
		if strings.Contains(up.out.String(), strings.TrimSpace(string(admin))) {
			t.Errorf("msx up printed the admin token:\n%s", up.out.String())
		}
	})

	t.Run("files holding keys and tokens are private", func(t *testing.T) {
		n := 0
		err := filepath.WalkDir(filepath.Join(dir, "msx-data"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			base := d.Name()
			if !strings.HasSuffix(base, ".nk") && !strings.HasSuffix(base, "key.pem") && base != "admin.token" && !strings.HasPrefix(base, "target.db") {
				return nil
			}
			n++
			if info, err := d.Info(); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", p, info.Mode().Perm())
			}
			return nil
		})
		if err != nil || n < 4 {
			t.Fatalf("checked %d key files (%v)", n, err)
		}
	})

	t.Run("flood then msx audit shows the real record", func(t *testing.T) {
		var viewer struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "--role", "viewer", "-o", "json")), &viewer); err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("A", 100<<10)
		for range 300 {
			req, _ := http.NewRequest("POST", api+"/api/v1/groups", strings.NewReader(`{"name":"`+big+`"}`))
			req.Header.Set("Authorization", "Bearer "+viewer.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("a viewer's change: %d, want 403", resp.StatusCode)
			}
		}
		// A forged row: a newline and an escape sequence in the path.
		req, _ := http.NewRequest("DELETE", api+"/api/v1/groups/X%0Afake%20row%1B%5B2J", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(admin)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		msx(t, dir, false, "group", "add", "RealChange")
		out := msx(t, dir, false, "audit", "--limit", "3")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.Contains(lines[3], "group RealChange") {
			t.Errorf("msx audit after the flood does not end with the real change:\n%s", out)
		}
		if strings.Contains(out, "\x1b") || strings.Contains(out, "\nfake row") {
			t.Errorf("msx audit prints a forged row or a terminal escape:\n%q", out)
		}
	})

	t.Run("a second agent with a token cannot take over SQL01", func(t *testing.T) {
		var tok struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(msx(t, dir, false, "token", "create", "-o", "json")), &tok); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`NATS\s+((?:nats|tls)://\S+)`).FindStringSubmatch(up.out.String())
		if m == nil {
			t.Fatal("no NATS URL in the banner")
		}
		out := msx(t, dir, true, "target", "--name", "SQL01", "--token", tok.Token, "--nats", m[1], "--data", filepath.Join(t.TempDir(), "thief"))
		if !strings.Contains(out, "14296") || !strings.Contains(out, "targetserver replace") {
			t.Errorf("takeover: %s", out)
		}
		if ts := targets(t, dir)["SQL01"]; !ts.Connected || ts.Status != 1 {
			t.Errorf("SQL01 after the attempt: %+v", ts)
		}
		if audit := msx(t, dir, false, "audit", "--limit", "20"); !strings.Contains(audit, "server SQL01") {
			t.Errorf("the refused takeover is not in the audit:\n%s", audit)
		}
	})
}
