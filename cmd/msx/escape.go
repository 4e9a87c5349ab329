package main

import (
	"strconv"
	"strings"
	"unicode"
)

// Escape makes a value safe to print in a terminal table: control characters (newlines, tabs,
// ESC, C1 controls) and Unicode format characters (bidi overrides) become visible escapes
// such as \n, \x1b and \u202e, so that no value can start a fake row or drive the terminal.
// Invalid UTF-8 becomes \ufffd.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !needsEscape(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// EscapeLines is Escape for text of several lines (an error listing problems): each line is
// escaped, the line breaks are kept.
func EscapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}
