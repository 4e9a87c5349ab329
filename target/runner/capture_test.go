package runner

import (
	"strconv"
	"strings"
	"testing"
)

func TestCapture(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{name: "empty", limit: 10, want: ""},
		{name: "fits", limit: 10, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "exactly the limit", limit: 6, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "one big write", limit: 6, writes: []string{"abcdefghij"}, want: "abc\n[output truncated: 4 bytes omitted]\nhij"},
		{name: "small writes wrap the tail", limit: 6, writes: []string{"ab", "cd", "ef", "gh", "ij"}, want: "abc\n[output truncated: 4 bytes omitted]\nhij"},
		{name: "byte by byte", limit: 4, writes: strings.Split("0123456789", ""), want: "01\n[output truncated: 6 bytes omitted]\n89"},
		{name: "odd limit", limit: 5, writes: []string{"0123456789"}, want: "01\n[output truncated: 5 bytes omitted]\n789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCapture(tt.limit)
			var n int
			for _, w := range tt.writes {
				k, err := c.Write([]byte(w))
				if err != nil || k != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, k, err)
				}
				n += k
			}
			if got := c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if c.Len() != int64(n) {
				t.Errorf("Len() = %d, want %d", c.Len(), n)
			}
		})
	}
}

// TestBoundExact: output an executor already bounded, bounded again by the runner, says
// exactly how many bytes of the original were omitted (not the marker's own length).
func TestBoundExact(t *testing.T) {
	tests := []struct {
		name         string
		total, limit int // bytes written to the executor's capture, and both limits
		runnerLimit  int
		wantOmitted  int
		wantKept     int
	}{
		{name: "50 MB through 64 KiB", total: 50 << 20, limit: 64 << 10, runnerLimit: 64 << 10, wantOmitted: 50<<20 - 64<<10, wantKept: 64 << 10},
		{name: "runner limit smaller", total: 1000, limit: 100, runnerLimit: 10, wantOmitted: 990, wantKept: 10},
		{name: "fits", total: 100, limit: 100, runnerLimit: 100, wantOmitted: 0, wantKept: 100},
		{name: "one byte over", total: 101, limit: 100, runnerLimit: 100, wantOmitted: 1, wantKept: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCapture(tt.limit)
			chunk := []byte(strings.Repeat("x", 4096))
			for n := tt.total; n > 0; n -= len(chunk) {
				_, _ = c.Write(chunk[:min(n, len(chunk))])
			}
			got := bound(c.String(), tt.runnerLimit)
			var omitted int
			if m := markerRE.FindStringSubmatch(got); m != nil {
				omitted, _ = strconv.Atoi(m[1])
			}
			kept := len(markerRE.ReplaceAllString(got, ""))
			if omitted != tt.wantOmitted || kept != tt.wantKept {
				t.Errorf("omitted %d, kept %d; want omitted %d, kept %d", omitted, kept, tt.wantOmitted, tt.wantKept)
			}
			if omitted+kept != tt.total {
				t.Errorf("omitted %d + kept %d != %d bytes written", omitted, kept, tt.total)
			}
		})
	}
}
