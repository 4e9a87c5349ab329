// Package problem is the one shape of a validation finding in msx: a field path, the SQL Server
// message number where SQL Server has one for the same condition, and a sentence that says what
// is wrong and how to fix it. Validators return every problem at once as a List.
package problem

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with an input document.
type Problem struct {
	// Path is the field path, e.g. "steps[2].on_fail_step_id"; empty for the whole document.
	Path string `json:"path,omitempty"`
	// Code is the SQL Server message number for the same condition (14262 unknown object, ...),
	// or 0 where SQL Server has none.
	Code int `json:"code,omitempty"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Code != 0 {
		fmt.Fprintf(&b, " (%d)", p.Code)
	}
	return b.String()
}

// List is every problem found in one document. A nil or empty List means valid.
type List []Problem

// Add appends a problem built from a path, a code and a formatted message.
func (l *List) Add(path string, code int, format string, args ...any) {
	*l = append(*l, Problem{Path: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Err returns the list as an error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return &Error{Problems: l}
}

// Error is a non-empty List as an error.
type Error struct{ Problems List }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "invalid: " + lines[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Join prefixes a path to a field name: Join("steps[1]", "command") = "steps[1].command".
func Join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
