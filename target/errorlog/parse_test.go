package errorlog_test

import (
	"fmt"
	"testing"

	"github.com/msx-project/msx/target/errorlog"
)

var headerTests = []struct {
	text                    string
	number, severity, state int
	ok                      bool
}{
	{"Error: 9002, Severity: 17, State: 2.", 9002, 17, 2, true},
	{"Error: 50000, Severity: 16, State: 1.", 50000, 16, 1, true},
	{"  Error: 823, Severity: 24, State: 2.\r\n", 823, 24, 2, true},
	{"Error: 18456, Severity: 14, State: 8", 18456, 14, 8, true},
	{"Login failed for user 'sa'. Reason: Password did not match. [CLIENT: 10.0.0.1]", 0, 0, 0, false},
	{"Error: x, Severity: 17, State: 2.", 0, 0, 0, false},
	{"Error: 99999999999, Severity: 17, State: 2.", 0, 0, 0, false},
	{"SQL Server is starting at normal priority base (=7).", 0, 0, 0, false},
	{"", 0, 0, 0, false},
}

func TestParseHeader(t *testing.T) {
	for _, tt := range headerTests {
		t.Run(tt.text, func(t *testing.T) {
			n, s, st, ok := errorlog.ParseHeader(tt.text)
			if n != tt.number || s != tt.severity || st != tt.state || ok != tt.ok {
				t.Errorf("ParseHeader = %d, %d, %d, %v; want %d, %d, %d, %v", n, s, st, ok, tt.number, tt.severity, tt.state, tt.ok)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, tt := range headerTests {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		n, s, st, ok := errorlog.ParseHeader(text)
		if !ok {
			if n != 0 || s != 0 || st != 0 {
				t.Errorf("not a header but numbers %d, %d, %d", n, s, st)
			}
			return
		}
		if n < 0 || s < 0 || st < 0 {
			t.Errorf("negative numbers %d, %d, %d", n, s, st)
		}
		// A header parses back to itself.
		again := fmt.Sprintf("Error: %d, Severity: %d, State: %d.", n, s, st)
		if n2, s2, st2, ok2 := errorlog.ParseHeader(again); !ok2 || n2 != n || s2 != s || st2 != st {
			t.Errorf("%q does not parse back", again)
		}
	})
}
