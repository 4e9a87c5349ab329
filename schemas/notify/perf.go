package notify

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/problem"
)

// SourcePerformance is the schemas.Event source of an event a target raises when the
// performance condition of an alert becomes true; the event's Alert names the alert.
const SourcePerformance = "performance"

// PerfCondition is a parsed performance condition, SQL Server Agent's
// "object|counter|instance|comparator|value" (sp_add_alert @performance_condition), such as
// "SQLServer:Buffer Manager|Page life expectancy||<|300". Instance may be empty (counters
// without instances, or the empty instance_name). The object's instance prefix ("SQLServer:"
// or "MSSQL$INST:") is not compared: a condition written for the default instance applies to
// a named one, as the part after the colon is the same.
type PerfCondition struct {
	Object     string
	Counter    string
	Instance   string
	Comparator string // <, > or =
	Value      float64
}

// ParsePerfCondition parses and checks a performance condition.
func ParsePerfCondition(s string) (PerfCondition, error) {
	const how = `write it as object|counter|instance|comparator|value, e.g. "SQLServer:Buffer Manager|Page life expectancy||<|300" (instance may be empty; comparator <, > or =)`
	if utf8.RuneCountInString(s) > 512 {
		return PerfCondition{}, fmt.Errorf("the performance condition is %d characters long; the limit is 512", utf8.RuneCountInString(s))
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return PerfCondition{}, fmt.Errorf("the performance condition holds a line break or NUL: %s", how)
	}
	parts := strings.Split(s, "|")
	if len(parts) != 5 {
		return PerfCondition{}, fmt.Errorf("the performance condition %q has %d parts separated by '|', not 5: %s", s, len(parts), how)
	}
	c := PerfCondition{Object: strings.TrimSpace(parts[0]), Counter: strings.TrimSpace(parts[1]),
		Instance: strings.TrimSpace(parts[2]), Comparator: strings.TrimSpace(parts[3])}
	switch {
	case c.Object == "":
		return c, fmt.Errorf("the performance condition %q names no object (such as SQLServer:Buffer Manager): %s", s, how)
	case c.Counter == "":
		return c, fmt.Errorf("the performance condition %q names no counter (such as Page life expectancy): %s", s, how)
	case c.Comparator != "<" && c.Comparator != ">" && c.Comparator != "=":
		return c, fmt.Errorf("the performance condition %q has comparator %q: use <, > or =", s, c.Comparator)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(parts[4]), 64)
	if err != nil || v != v || v > 1e300 || v < -1e300 {
		return c, fmt.Errorf("the performance condition %q has value %q, not a number: %s", s, strings.TrimSpace(parts[4]), how)
	}
	c.Value = v
	return c, nil
}

// ObjectName is the object without its instance prefix ("Buffer Manager" for
// "SQLServer:Buffer Manager" or "MSSQL$INST:Buffer Manager").
func (c PerfCondition) ObjectName() string { return stripInstancePrefix(c.Object) }

func stripInstancePrefix(object string) string {
	if i := strings.IndexByte(object, ':'); i >= 0 {
		return strings.TrimSpace(object[i+1:])
	}
	return strings.TrimSpace(object)
}

// MatchesCounter reports whether a row of sys.dm_os_performance_counters (object_name,
// counter_name, instance_name; SQL Server pads them with blanks) is the condition's counter.
func (c PerfCondition) MatchesCounter(object, counter, instance string) bool {
	return strings.EqualFold(stripInstancePrefix(object), c.ObjectName()) &&
		strings.EqualFold(strings.TrimSpace(counter), c.Counter) &&
		strings.EqualFold(strings.TrimSpace(instance), c.Instance)
}

// True reports whether the counter's value makes the condition true.
func (c PerfCondition) True(v float64) bool {
	switch c.Comparator {
	case "<":
		return v < c.Value
	case ">":
		return v > c.Value
	default:
		return v == c.Value
	}
}

// String is the condition in SQL Agent's format.
func (c PerfCondition) String() string {
	return strings.Join([]string{c.Object, c.Counter, c.Instance, c.Comparator, strconv.FormatFloat(c.Value, 'f', -1, 64)}, "|")
}

// validatePerf adds the problems of a performance-condition alert to l.
func (a Alert) validatePerf(l *problem.List) {
	if _, err := ParsePerfCondition(a.PerformanceCondition); err != nil {
		l.Add("performance_condition", 0, "%v", err)
	}
	if a.MessageID != 0 || a.Severity != 0 {
		l.Add("performance_condition", codeAlertWhat, "Supply either a non-zero message_id, a non-zero severity or a performance_condition, not several")
	}
	if a.EventDescriptionKeyword != "" {
		l.Add("event_description_keyword", 0, "a performance-condition alert has no event text to search: remove event_description_keyword")
	}
}
