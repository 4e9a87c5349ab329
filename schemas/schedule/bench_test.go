package schedule

import (
	"testing"
	"time"
)

func BenchmarkNext(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	after := time.Date(2024, 3, 9, 12, 0, 0, 0, ny)
	kinds := []struct {
		name string
		s    Schedule
	}{
		{"daily", daily(20000)},
		{"weekly", Schedule{Name: "w", FreqType: FreqWeekly, FreqInterval: 2 | 8, FreqRecurrenceFactor: 3, ActiveStartDate: 20240101}},
		{"monthly_relative", monthlyRel(10, 16, 1, 20240101, 0)},
		{"every_10_seconds", repeat(SubdaySeconds, 10, 220000, 20000)},
		{"cron", cronSched("*/5 9-17 * * 1-5", "")},
		{"cron_time_zone", cronSched("0 9 * * *", "Europe/London")},
		{"monthly_rare", Schedule{Name: "m", FreqType: FreqMonthly, FreqInterval: 31, FreqRecurrenceFactor: 12, ActiveStartDate: 20240401}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.s.Next(after, ny)
			}
		})
	}
}
