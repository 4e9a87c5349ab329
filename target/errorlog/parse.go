package errorlog

import (
	"regexp"
	"strconv"
	"strings"
)

// headerRE matches the first line SQL Server writes for a logged error.
var headerRE = regexp.MustCompile(`^Error: (\d{1,10}), Severity: (\d{1,3}), State: (\d{1,3})\.?$`)

// ParseHeader parses an error log line "Error: 9002, Severity: 17, State: 2." and reports
// whether the line is one.
func ParseHeader(text string) (number, severity, state int, ok bool) {
	m := headerRE.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return 0, 0, 0, false
	}
	var err error
	if number, err = strconv.Atoi(m[1]); err != nil || number > 1<<31-1 {
		return 0, 0, 0, false
	}
	severity, _ = strconv.Atoi(m[2])
	state, _ = strconv.Atoi(m[3])
	return number, severity, state, true
}
