package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The set of performance-condition alerts the master sends a target (SET-ALERTS): the enabled
// alerts with a performance_condition whose scope takes the target, reduced to what the target
// evaluates (name, condition, delay_between_responses), sorted by name: a target learns nothing
// of the operators, their addresses, the notification text or the other servers in scope.

// MaxPerfAlerts bounds a SET-ALERTS set (and the alerts a target evaluates): SQL Server Agent
// has no such limit, but every condition is a counter read each interval, and a set is one
// message. The master refuses to send a larger set; a target refuses to apply one.
const MaxPerfAlerts = 256

// MaxPerfAlertSetBytes bounds the encoded set a target accepts (well above MaxPerfAlerts
// alerts of the largest name and condition).
const MaxPerfAlertSetBytes = 512 << 10

// ErrPerfAlertSet: a SET-ALERTS set is malformed, too large, or holds a bad alert.
var ErrPerfAlertSet = errors.New("bad performance alert set")

// InScope reports whether the alert applies to server, a member of groups: true when it names
// neither servers nor groups, or names the server or one of its groups (case-insensitive).
func (a Alert) InScope(server string, groups []string) bool {
	if len(a.Servers) == 0 && len(a.Groups) == 0 {
		return true
	}
	for _, v := range a.Servers {
		if strings.EqualFold(v, server) {
			return true
		}
	}
	for _, g := range a.Groups {
		for _, h := range groups {
			if strings.EqualFold(g, h) {
				return true
			}
		}
	}
	return false
}

// PerfAlertsFor returns the set of SET-ALERTS for server, a member of groups: the enabled
// performance-condition alerts of all in its scope, each reduced to its name, condition and
// delay, sorted by upper-case name. It never returns nil.
func PerfAlertsFor(all []Alert, server string, groups []string) []Alert {
	out := []Alert{}
	for _, a := range all {
		if a.PerformanceCondition == "" || !a.IsEnabled() || !a.InScope(server, groups) {
			continue
		}
		out = append(out, Alert{Name: a.Name, PerformanceCondition: a.PerformanceCondition, DelayBetweenResponses: a.DelayBetweenResponses})
	}
	slices.SortFunc(out, func(a, b Alert) int { return strings.Compare(strings.ToUpper(a.Name), strings.ToUpper(b.Name)) })
	return out
}

// PerfAlertDigest summarises a set as PerfAlertsFor returns it: the master compares it with the
// digest a target's heartbeat carries. The empty set has a digest too, never "".
func PerfAlertDigest(set []Alert) string {
	h := sha256.New()
	for _, a := range set {
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", strings.ToUpper(a.Name), a.PerformanceCondition, a.DelayBetweenResponses)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ParsePerfAlertSet decodes and checks a SET-ALERTS set: a JSON array of at most MaxPerfAlerts
// alerts, each with a unique non-empty name, a valid performance condition and a delay of
// 0..86400 seconds. Errors wrap ErrPerfAlertSet and say what is wrong.
func ParsePerfAlertSet(b []byte) ([]Alert, error) {
	if len(b) > MaxPerfAlertSetBytes {
		return nil, fmt.Errorf("%w: %d bytes; the limit is %d", ErrPerfAlertSet, len(b), MaxPerfAlertSetBytes)
	}
	var set []Alert
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%w: not a JSON array of alerts: %w", ErrPerfAlertSet, err)
	}
	if err := CheckPerfAlertSet(set); err != nil {
		return nil, err
	}
	if set == nil {
		set = []Alert{}
	}
	return set, nil
}

// CheckPerfAlertSet checks a set as ParsePerfAlertSet does.
func CheckPerfAlertSet(set []Alert) error {
	if len(set) > MaxPerfAlerts {
		return fmt.Errorf("%w: %d performance-condition alerts; the limit is %d: disable some, or scope them to fewer servers", ErrPerfAlertSet, len(set), MaxPerfAlerts)
	}
	seen := make(map[string]bool, len(set))
	for i, a := range set {
		name := strings.TrimSpace(a.Name)
		switch {
		case name == "":
			return fmt.Errorf("%w: alert %d has no name: the master answers the event by the alert's name", ErrPerfAlertSet, i)
		case len([]rune(name)) > maxNameLen || strings.ContainsAny(name, "\r\n\x00"):
			return fmt.Errorf("%w: alert %d has a name longer than %d characters or holding a line break or NUL", ErrPerfAlertSet, i, maxNameLen)
		case seen[strings.ToUpper(name)]:
			return fmt.Errorf("%w: alert %q appears twice", ErrPerfAlertSet, name)
		case a.DelayBetweenResponses < 0 || a.DelayBetweenResponses > 86400:
			return fmt.Errorf("%w: alert %q has delay_between_responses %d: valid values are 0..86400 seconds", ErrPerfAlertSet, name, a.DelayBetweenResponses)
		}
		seen[strings.ToUpper(name)] = true
		if _, err := ParsePerfCondition(a.PerformanceCondition); err != nil {
			return fmt.Errorf("%w: alert %q: %w", ErrPerfAlertSet, name, err)
		}
	}
	return nil
}
