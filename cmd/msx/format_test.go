package main

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{clock(43200), "04:32:00"}, {clock(235959), "23:59:59"}, {clock(5), "00:00:05"}, {clock(0), ""},
		{span(105), "00:01:05"}, {span(0), "00:00:00"}, {span(1230000), "123:00:00"},
		{statusWords(1), "normal"}, {statusWords(2 | 4), "suspected offline, blocked"}, {statusWords(1 | 8), "normal, disk full"},
		{statusWords(0), "unknown"},
		{stepOutput("  a\nb  ", false), "a | b"},
		{stepOutput("a\nb", true), "a\nb"},
		{stepOutput(strings.Repeat("é", 100), false), strings.Repeat("é", 57) + "..."},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
