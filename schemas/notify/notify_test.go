package notify

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestOnDutyAsSQLAgent(t *testing.T) {
	o := Operator{Name: "p", PagerDays: Monday | Saturday}
	o.Normalize()
	at := func(day, hhmm int) time.Time { return time.Date(2030, 6, day, hhmm/100, hhmm%100, 0, 0, time.UTC) } // 2 June 2030 is a Sunday
	for _, c := range []struct {
		t    time.Time
		want bool
	}{
		{at(2, 1200), false}, // Sunday, not in pager_days
		{at(3, 859), false},  // Monday before 09:00
		{at(3, 900), true},   // Monday 09:00, start inclusive
		{at(3, 1800), true},  // Monday 18:00, end inclusive
		{at(3, 1801), false},
		{at(4, 1200), false}, // Tuesday
		{at(8, 1200), true},  // Saturday
	} {
		if got := o.OnDuty(c.t); got != c.want {
			t.Errorf("on duty %s: %v, want %v", c.t.Format("Mon 15:04"), got, c.want)
		}
	}
	// An end before the start spans midnight; the zone is the operator's.
	night, end := 220000, 60000
	o = Operator{Name: "n", PagerDays: EveryDay, WeekdayPagerStartTime: &night, WeekdayPagerEndTime: &end, PagerTimeZone: "Europe/Paris"}
	o.Normalize()
	if !o.OnDuty(time.Date(2030, 6, 4, 21, 30, 0, 0, time.UTC)) || o.OnDuty(time.Date(2030, 6, 4, 12, 0, 0, 0, time.UTC)) {
		t.Error("night shift in Paris: 23:30 local should be on duty, 14:00 not")
	}
	if (Operator{Name: "never"}).OnDuty(time.Now()) {
		t.Error("pager_days 0 is never on duty")
	}
}

func TestOperatorAndAlertValidation(t *testing.T) {
	bad := 240000
	for _, c := range []struct {
		o    Operator
		want string
	}{
		{Operator{Name: ""}, "needs a name"},
		{Operator{Name: "x\r\nBcc: evil"}, "line break"},
		{Operator{Name: "x", EmailAddress: "a@b.c\r\nBcc: evil@x"}, "not an e-mail address"},
		{Operator{Name: "x", PagerDays: 128}, "0..127"},
		{Operator{Name: "x", WeekdayPagerEndTime: &bad}, "hhmmss"},
		{Operator{Name: "x", WebhookURL: "javascript:alert(1)"}, "http://"},
		{Operator{Name: "x", WebhookFormat: "xml"}, "json, slack, teams"},
		{Operator{Name: "x", PagerTimeZone: "Mars/Olympus"}, "unknown time zone"},
	} {
		c.o.Normalize()
		if l := c.o.Validate(); len(l) == 0 || !strings.Contains(l.Err().Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, l, c.want)
		}
	}
	ok := Operator{Name: "DBA", EmailAddress: "a@example.com; b@example.com", WebhookURL: "https://x/y"}
	ok.Normalize()
	if l := ok.Validate(); len(l) != 0 || ok.WebhookFormat != FormatJSON {
		t.Errorf("valid operator: %v (%+v)", l, ok)
	}
	if r := ok.Redacted(); strings.Contains(r.WebhookURL, "/y") {
		t.Errorf("redacted %q", r.WebhookURL)
	}
	for _, c := range []struct {
		a    Alert
		want string
	}{
		{Alert{Name: "a", Notifications: []AlertNotification{{"o", 1}}}, "14500"},
		{Alert{Name: "a", Severity: 16, MessageID: 50000, Notifications: []AlertNotification{{"o", 1}}}, "not both"},
		{Alert{Name: "a", Severity: 26, Notifications: []AlertNotification{{"o", 1}}}, "1..25"},
		{Alert{Name: "a", Severity: 16}, "does nothing"},
		{Alert{Name: "a", Severity: 16, Notifications: []AlertNotification{{"o", 8}}}, "notification_method"},
		{Alert{Name: "a", Severity: 16, DelayBetweenResponses: -1, JobName: "j"}, "delay_between_responses"},
		{Alert{Name: "a", Severity: 16, DatabaseName: "sales", JobName: "j"}, "not supported yet"},
	} {
		c.a.Normalize()
		if l := c.a.Validate(); len(l) == 0 || !strings.Contains(l.Err().Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.a, l, c.want)
		}
	}
	a := Alert{Name: "a", Severity: 16, EventDescriptionKeyword: "Deadlock"}
	if !a.Matches(16, 1205, "Transaction was DEADLOCKED") || a.Matches(16, 1205, "timeout") || a.Matches(17, 0, "deadlock") {
		t.Error("alert matching by severity and keyword")
	}
}

func TestSilenceCovers(t *testing.T) {
	now := time.Now()
	s := Silence{Server: "SQL01", Until: now.Add(time.Hour)}
	if !s.Covers("sql01", "Any", now) || s.Covers("SQL02", "Any", now) || s.Covers("SQL01", "Any", now.Add(time.Hour)) {
		t.Error("server silence")
	}
	j := Silence{Job: "Backup", Server: "SQL01", Until: now.Add(time.Hour)}
	if !j.Covers("SQL01", "backup", now) || j.Covers("SQL01", "Other", now) || j.Covers("SQL02", "Backup", now) {
		t.Error("job on server silence")
	}
}

func TestPerformanceConditionAlerts(t *testing.T) {
	c, err := ParsePerfCondition("SQLServer:Buffer Manager|Page life expectancy||<|300")
	if err != nil {
		t.Fatal(err)
	}
	if !c.MatchesCounter("MSSQL$INST:Buffer Manager      ", "Page life expectancy   ", "   ") || c.MatchesCounter("SQLServer:Buffer Manager", "Page reads/sec", "") {
		t.Error("counter matching: the instance prefix and padding must not matter, the counter must")
	}
	if !c.True(299) || c.True(300) || c.String() != "SQLServer:Buffer Manager|Page life expectancy||<|300" {
		t.Errorf("condition < 300: True(299)=%v True(300)=%v String=%q", c.True(299), c.True(300), c.String())
	}
	for in, want := range map[string]string{
		"SQLServer:Buffer Manager|Page life expectancy|<|300":   "not 5",
		"SQLServer:Buffer Manager|Page life expectancy||>=|300": "use <, > or =",
		"|Page life expectancy||<|300":                          "no object",
		"SQLServer:Buffer Manager|||<|300":                      "no counter",
		"SQLServer:Buffer Manager|Page life expectancy||<|lots": "not a number",
		"SQLServer:Buffer Manager|Page life expectancy||<|NaN":  "not a number",
		"a\n|b||<|1": "line break",
	} {
		if _, err := ParsePerfCondition(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
	a := Alert{Name: "PLE", PerformanceCondition: "SQLServer:Buffer Manager|Page life expectancy||<|300", Notifications: []AlertNotification{{OperatorName: "dba", NotificationMethod: 4}}}
	a.Normalize()
	if l := a.Validate(); l != nil {
		t.Fatalf("valid performance alert refused: %v", l)
	}
	if a.Matches(16, 0, "") || !a.MatchesPerf(SourcePerformance, "ple") || a.MatchesPerf("sqlserver", "PLE") || a.MatchesPerf(SourcePerformance, "other") {
		t.Error("a performance alert answers only its own performance events")
	}
	a.Severity, a.PerformanceCondition = 16, "x|y||>|1"
	if l := a.Validate(); l == nil || !strings.Contains(fmt.Sprint(l), "not several") {
		t.Errorf("severity and performance condition together: %v", l)
	}
	a.Severity, a.PerformanceCondition = 0, "x|y|z"
	if l := a.Validate(); l == nil || !strings.Contains(fmt.Sprint(l), "performance_condition") {
		t.Errorf("bad condition: %v", l)
	}
}
