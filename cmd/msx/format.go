package main

import (
	"fmt"
	"strings"

	"github.com/msx-project/msx/master/ledger"
)

// clock prints an msdb time of day (run_time, hhmmss as an integer: 43200) the one way msx
// prints times of day: 04:32:00. Zero, "never ran", prints as "".
func clock(hhmmss int) string {
	if hhmmss <= 0 {
		return ""
	}
	return fmt.Sprintf("%02d:%02d:%02d", hhmmss/10000, hhmmss/100%100, hhmmss%100)
}

// span prints an msdb duration (run_duration, hhmmss as an integer: 105 is 1 min 5 s) as
// 00:01:05; hours beyond 99 are kept (123:00:00).
func span(hhmmss int) string {
	if hhmmss < 0 {
		hhmmss = 0
	}
	return fmt.Sprintf("%02d:%02d:%02d", hhmmss/10000, hhmmss/100%100, hhmmss%100)
}

// statusWords names a target's status flags (sp_help_targetserver's status): "normal",
// "suspected offline, blocked".
func statusWords(flags int) string {
	var w []string
	for _, f := range []struct {
		bit  int
		name string
	}{
		{ledger.StatusNormal, "normal"}, {ledger.StatusSuspectedOffline, "suspected offline"},
		{ledger.StatusBlocked, "blocked"}, {ledger.StatusDiskFull, "disk full"},
	} {
		if flags&f.bit != 0 {
			w = append(w, f.name)
		}
	}
	if len(w) == 0 {
		return "unknown"
	}
	return strings.Join(w, ", ")
}

// outputWidth is how much of a step's output the history table shows without --full.
const outputWidth = 60

// stepOutput prints a step's output for the history table: on one line (newlines as " | ")
// and trimmed to outputWidth unless full.
func stepOutput(s string, full bool) string {
	s = strings.TrimSpace(s)
	if full {
		return s
	}
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
	if r := []rune(s); len(r) > outputWidth {
		s = string(r[:outputWidth-3]) + "..."
	}
	return s
}
