package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// TestScheduleNextReadsLiterally checks that `msx schedule next -f` reads a schedule as the job
// parser does: hhmmss with a leading zero is decimal, a number in another base is refused.
func TestScheduleNextReadsLiterally(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		want    string // the first run, RFC 3339
		wantErr error
		inMsg   string
	}{
		{
			name: "leading zero is decimal",
			doc:  "name: 0600\nfreq_type: 4\nfreq_interval: 01\nactive_start_time: 060000\n",
			want: "2026-03-02T06:00:00Z",
		},
		{
			name:    "hexadecimal refused",
			doc:     "name: s\nfreq_type: 4\nfreq_interval: 0x1\n",
			wantErr: jobs.ErrWrongType, inMsg: "line 3: freq_interval: wrong type: 0x1 is not a whole number in decimal",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "schedule.yaml")
			if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := newSchedule(&globals{output: "json"})
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"next", "-f", path, "--from", "2026-03-02T00:00:00Z", "--count", "1", "--tz", "UTC"})
			err := cmd.Execute()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.inMsg) {
					t.Fatalf("schedule next error = %v, want %v containing %q", err, tc.wantErr, tc.inMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("schedule next: %v\n%s", err, out.String())
			}
			var runs []time.Time
			if err := json.Unmarshal(out.Bytes(), &runs); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if len(runs) != 1 || runs[0].Format(time.RFC3339) != tc.want {
				t.Errorf("runs = %v, want [%s]", runs, tc.want)
			}
		})
	}
}
