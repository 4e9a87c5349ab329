package schedule

import "testing"

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		want string
	}{
		{"weekly", Schedule{FreqType: FreqWeekly, FreqInterval: 2 | 8, ActiveStartTime: 20000},
			"Occurs every week on Monday, Wednesday at 02:00:00"},
		{"every 2 weeks with dates", Schedule{FreqType: FreqWeekly, FreqInterval: 1 | 64, FreqRecurrenceFactor: 2,
			ActiveStartDate: 20240101, ActiveEndDate: 20241231},
			"Occurs every 2 weeks on Sunday, Saturday at 00:00:00, starting 2024-01-01, until 2024-12-31"},
		{"daily", daily(233000), "Occurs every day at 23:30:00, starting 2024-01-01"},
		{"every 3 days", Schedule{FreqType: FreqDaily, FreqInterval: 3}, "Occurs every 3 days at 00:00:00"},
		{"every 15 minutes", Schedule{FreqType: FreqDaily, FreqSubdayType: SubdayMinutes, FreqSubdayInterval: 15,
			ActiveStartTime: 80000, ActiveEndTime: 180000},
			"Occurs every day every 15 minutes between 08:00:00 and 18:00:00"},
		{"every hour over midnight", Schedule{FreqType: FreqDaily, FreqSubdayType: SubdayHours, FreqSubdayInterval: 1,
			ActiveStartTime: 220000, ActiveEndTime: 20000},
			"Occurs every day every hour between 22:00:00 and 02:00:00 the next day"},
		{"every 30 seconds", Schedule{FreqType: FreqDaily, FreqSubdayType: SubdaySeconds, FreqSubdayInterval: 30},
			"Occurs every day every 30 seconds between 00:00:00 and 23:59:59"},
		{"monthly", Schedule{FreqType: FreqMonthly, FreqInterval: 31, FreqRecurrenceFactor: 3},
			"Occurs every 3 months on day 31 at 00:00:00"},
		{"last weekend day", monthlyRel(10, 16, 1, 0, 10000), "Occurs every month on the last weekend day at 01:00:00"},
		{"first Monday", monthlyRel(2, 1, 1, 0, 0), "Occurs every month on the first Monday at 00:00:00"},
		{"once", Schedule{FreqType: FreqOnce, ActiveStartDate: 20240315, ActiveStartTime: 123000}, "Occurs once on 2024-03-15 at 12:30:00"},
		{"agent start", Schedule{FreqType: FreqAgentStart}, "Starts automatically when the agent starts"},
		{"idle", Schedule{FreqType: FreqIdle}, "Starts whenever the computer becomes idle"},
		{"cron in a zone", cronSched("0 2 * * 1-5", "Europe/London"), `Occurs on cron schedule "0 2 * * 1-5" (Europe/London)`},
		{"disabled", with(daily(0), func(s *Schedule) { s.Enabled = &no; s.ActiveStartDate = 0 }), "Occurs every day at 00:00:00 (disabled)"},
		{"missing freq_type", Schedule{}, "Has no frequency (freq_type is missing)"},
		{"unknown freq_type", Schedule{FreqType: 5}, "Has an unknown frequency (freq_type 5)"},
		{"invalid fields", Schedule{FreqType: FreqWeekly, FreqInterval: 0, FreqSubdayType: 3, ActiveStartDate: 1},
			"Occurs every week on no valid day (freq_interval 0) with an unknown repeat (freq_subday_type 3), starting 1"},
		{"invalid relative", monthlyRel(12, 3, 1, 0, 999999),
			"Occurs every month on the unknown (freq_relative_interval 3) unknown day (freq_interval 12) at 999999"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Describe(); got != tc.want {
				t.Fatalf("Describe =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}
