package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
)

func TestEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "POST /api/v1/jobs", "POST /api/v1/jobs"},
		{"server name keeps its backslash", `SQL01\PROD`, `SQL01\PROD`},
		{"newline starts no row", "a\nfake row", `a\nfake row`},
		{"carriage return", "a\rb", `a\rb`},
		{"tab splits no column", "a\tb", `a\tb`},
		{"escape sequence", "\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		{"C1 control", "a\u009bb", `a\u009bb`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"invalid UTF-8", "a\xffb", `a\ufffdb`},
		{"accents stay", "Café Zürich", "Café Zürich"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPrintEscapes checks that a table row cannot be forged: whatever a cell holds, each row
// of data is one line.
func TestPrintEscapes(t *testing.T) {
	type row struct{ a, b string }
	var buf bytes.Buffer
	rows := []row{{"x\nfake\t200", "\x1b]0;title\x07"}, {"y", "z"}}
	err := print(&globals{}, &buf, rows, []column[row]{{"a", func(r row) string { return r.a }}, {"b", func(r row) string { return r.b }}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want header and 2 rows:\n%s", len(lines), buf.String())
	}
	if strings.ContainsAny(buf.String(), "\x1b\x07\t") {
		t.Errorf("table carries control characters: %q", buf.String())
	}
}

// FuzzEscape: the escaped form of any value holds no control or format character.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\x1b[31m", "\u202e", "\xff", `SQL01\PROD`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range Escape(s) {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
				t.Fatalf("Escape(%q) keeps %U", s, r)
			}
		}
	})
}
