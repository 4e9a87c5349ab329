package runner

import (
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
