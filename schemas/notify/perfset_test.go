package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestPerfAlertsFor: the set of a target is the enabled performance-condition alerts whose
// scope takes it (every server, its name, or one of its groups), reduced and sorted; its
// digest changes when what a target evaluates changes, and not with what it does not use.
func TestPerfAlertsFor(t *testing.T) {
	off := false
	all := []Alert{
		{Name: "b-everywhere", PerformanceCondition: "A|B||>|1", DelayBetweenResponses: 60, Notifications: []AlertNotification{{OperatorName: "DBA", NotificationMethod: 1}}},
		{Name: "A-on-sql01", PerformanceCondition: "A|B||<|1", Servers: []string{"sql01"}},
		{Name: "c-web", PerformanceCondition: "A|C||=|0", Groups: []string{"Web"}},
		{Name: "disabled", PerformanceCondition: "A|B||>|1", Enabled: &off},
		{Name: "by-severity", Severity: 17},
	}
	names := func(set []Alert) string {
		var n []string
		for _, a := range set {
			n = append(n, a.Name)
			if a.Notifications != nil || a.Servers != nil || a.Groups != nil {
				t.Errorf("%s not reduced: %+v", a.Name, a)
			}
		}
		return strings.Join(n, ",")
	}
	for _, tc := range []struct {
		server string
		groups []string
		want   string
	}{
		{"SQL01", nil, "A-on-sql01,b-everywhere"},
		{"SQL02", []string{"web"}, "b-everywhere,c-web"},
		{"SQL03", []string{"Other"}, "b-everywhere"},
	} {
		if got := names(PerfAlertsFor(all, tc.server, tc.groups)); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.server, tc.groups, got, tc.want)
		}
	}
	if got := PerfAlertsFor(nil, "X", nil); got == nil || len(got) != 0 {
		t.Errorf("no alerts: %#v, want an empty set", got)
	}
	base := PerfAlertDigest(PerfAlertsFor(all, "SQL03", nil))
	if base == PerfAlertDigest(nil) || base == "" {
		t.Error("a set and the empty set share a digest")
	}
	changed := append([]Alert(nil), all...)
	changed[0].DelayBetweenResponses = 61
	if PerfAlertDigest(PerfAlertsFor(changed, "SQL03", nil)) == base {
		t.Error("the digest did not change with the delay")
	}
	changed[0].DelayBetweenResponses, changed[0].NotificationMessage = 60, "other text"
	if PerfAlertDigest(PerfAlertsFor(changed, "SQL03", nil)) != base {
		t.Error("the digest changed with a field the target does not use")
	}
}

// TestParsePerfAlertSet: hostile sets are refused with ErrPerfAlertSet and a reason.
func TestParsePerfAlertSet(t *testing.T) {
	many := make([]Alert, MaxPerfAlerts+1)
	for i := range many {
		many[i] = Alert{Name: fmt.Sprintf("a%d", i), PerformanceCondition: "A|B||>|1"}
	}
	manyJSON, _ := json.Marshal(many)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", `[]`, ""},
		{"null", `null`, ""},
		{"one", `[{"name":"x","performance_condition":"A|B||>|1","delay_between_responses":30}]`, ""},
		{"too many", string(manyJSON), "the limit is 256"},
		{"too large", `[` + strings.Repeat(" ", MaxPerfAlertSetBytes) + `]`, "bytes; the limit"},
		{"object", `{"alerts":[]}`, "not a JSON array"},
		{"no name", `[{"performance_condition":"A|B||>|1"}]`, "has no name"},
		{"blank name", `[{"name":"  ","performance_condition":"A|B||>|1"}]`, "has no name"},
		{"long name", `[{"name":"` + strings.Repeat("n", 129) + `","performance_condition":"A|B||>|1"}]`, "longer than 128"},
		{"line break", `[{"name":"a\nb","performance_condition":"A|B||>|1"}]`, "line break"},
		{"twice", `[{"name":"x","performance_condition":"A|B||>|1"},{"name":"X","performance_condition":"A|B||>|2"}]`, "appears twice"},
		{"bad delay", `[{"name":"x","performance_condition":"A|B||>|1","delay_between_responses":-1}]`, "0..86400"},
		{"bad condition", `[{"name":"x","performance_condition":"A|B|>|1"}]`, "not 5"},
		{"no condition", `[{"name":"x"}]`, "not 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParsePerfAlertSet([]byte(tc.in))
			if tc.want == "" {
				if err != nil || set == nil {
					t.Fatalf("got %v, %v", set, err)
				}
				return
			}
			if !errors.Is(err, ErrPerfAlertSet) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrPerfAlertSet with %q", err, tc.want)
			}
		})
	}
}

// FuzzParsePerfAlertSet: no input panics, and a set accepted has a digest and is accepted
// again once encoded.
func FuzzParsePerfAlertSet(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `[{"name":"x","performance_condition":"A|B||>|1"}]`, `[{"name":"x"}]`, `{`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := ParsePerfAlertSet(b)
		if err != nil {
			return
		}
		again, _ := json.Marshal(set)
		if _, err := ParsePerfAlertSet(again); err != nil {
			t.Fatalf("accepted %q, refused its encoding %q: %v", b, again, err)
		}
		if PerfAlertDigest(set) == "" {
			t.Fatal("no digest")
		}
	})
}
