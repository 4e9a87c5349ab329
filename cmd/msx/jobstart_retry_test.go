package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/msx-project/msx/master/client"
)

// `msx job start` sends its request again, with the same idempotency key, when the master
// answers 503 (a takeover), says so on stderr, and names the rows an earlier try posted.
func TestJobStartRetriesWithTheSameKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		key  string // the key every try must send; "": any, the same each time
	}{
		{"generated key", nil, ""},
		{"key of a script", []string{"--idempotency-key", "nightly-2026-12-02"}, "nightly-2026-12-02"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var keys []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				keys = append(keys, r.Header.Get(client.IdempotencyKeyHeader))
				if len(keys) == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write([]byte(`{"error":{"code":50011,"message":"no master leads at the moment (a takeover is under way): retry in a few seconds"}}`))
					return
				}
				w.Write([]byte(`[{"target_server":"SQL01","instance_id":7,"operation":"START","duplicate":true},{"target_server":"SQL02","instance_id":9,"operation":"START"}]`))
			}))
			t.Cleanup(srv.Close)

			var stdout, stderr bytes.Buffer
			root := newRoot()
			root.SetOut(&stdout)
			root.SetErr(&stderr)
			root.SetArgs(append([]string{"--master", srv.URL, "--token", "t", "--data", t.TempDir(), "job", "start", "Nightly"}, tt.args...))
			if err := root.ExecuteContext(t.Context()); err != nil {
				t.Fatalf("job start: %v (stderr %q)", err, stderr.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" || (tt.key != "" && keys[0] != tt.key) {
				t.Fatalf("tries sent keys %q, want the same key (%q) twice", keys, tt.key)
			}
			for _, want := range []string{"takeover", "sending the start again", keys[0], "cannot start the job twice",
				"already posted by an earlier try of this request, not posted again: SQL01 (7)"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q does not say %q", stderr.String(), want)
				}
			}
			if !strings.Contains(stdout.String(), "SQL02") || strings.Contains(stderr.String(), "SQL02") {
				t.Errorf("stdout %q, stderr %q: want both rows in the table, SQL02 not called a duplicate", stdout.String(), stderr.String())
			}
		})
	}
}
