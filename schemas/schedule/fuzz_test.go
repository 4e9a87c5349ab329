package schedule

import (
	"strings"
	"testing"
	"time"
)

// fuzzZones are the evaluation zones FuzzNext picks from by index.
var fuzzZones = []string{"", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata"}

func seedArgs(s Schedule) (int, int, int, int, int, int, int, int, int, int, string, string) {
	return s.FreqType, s.FreqInterval, s.FreqSubdayType, s.FreqSubdayInterval, s.FreqRelativeInterval,
		s.FreqRecurrenceFactor, s.ActiveStartDate, s.ActiveEndDate, s.ActiveStartTime, s.ActiveEndTime, s.Cron, s.TimeZone
}

func FuzzNext(f *testing.F) {
	for _, tc := range nextCases {
		ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz := seedArgs(tc.s)
		zone := 0
		for i, z := range fuzzZones {
			if z == tc.zone {
				zone = i
			}
		}
		after, err := time.Parse(time.RFC3339, tc.after)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz, after.Unix(), int64(after.Nanosecond()), uint8(zone))
	}
	f.Fuzz(func(t *testing.T, ft, fi, st, si, ri, rf, sd, ed, stt, ett int, c, tz string, sec, nsec int64, zone uint8) {
		s := Schedule{Name: "fuzz", FreqType: ft, FreqInterval: fi, FreqSubdayType: st, FreqSubdayInterval: si,
			FreqRelativeInterval: ri, FreqRecurrenceFactor: rf, ActiveStartDate: sd, ActiveEndDate: ed,
			ActiveStartTime: stt, ActiveEndTime: ett, Cron: c, TimeZone: tz}
		loc := time.UTC
		if z := fuzzZones[int(zone)%len(fuzzZones)]; z != "" {
			loc = zoneOf(t, z)
		}
		after := time.Unix(sec, nsec)
		prev := after
		for _, next := range s.NextN(after, loc, 3) {
			if !next.After(prev) {
				t.Fatalf("%+v: run %v is not after %v", s, next, prev)
			}
			// NextN plans once; it must give what Next gives from each previous run.
			if one, ok := s.Next(prev, loc); !ok || !one.Equal(next) {
				t.Fatalf("%+v: NextN gave %v after %v, Next gives %v %v", s, next, prev, one, ok)
			}
			prev = next
		}
		if len(s.Validate("")) > 0 {
			if next, ok := s.Next(after, loc); ok {
				t.Fatalf("invalid schedule %+v has a next run %v", s, next)
			}
		}
	})
}

func FuzzValidate(f *testing.F) {
	for _, tc := range validateCases {
		ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz := seedArgs(tc.s)
		f.Add(tc.s.Name, ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz)
	}
	for _, tc := range nextCases {
		ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz := seedArgs(tc.s)
		f.Add(tc.s.Name, ft, fi, st, si, ri, rf, sd, ed, stt, ett, c, tz)
	}
	f.Fuzz(func(t *testing.T, name string, ft, fi, st, si, ri, rf, sd, ed, stt, ett int, c, tz string) {
		s := Schedule{Name: name, FreqType: ft, FreqInterval: fi, FreqSubdayType: st, FreqSubdayInterval: si,
			FreqRelativeInterval: ri, FreqRecurrenceFactor: rf, ActiveStartDate: sd, ActiveEndDate: ed,
			ActiveStartTime: stt, ActiveEndTime: ett, Cron: c, TimeZone: tz}
		for _, p := range s.Validate("schedules[0]") {
			if p.Message == "" || !strings.HasPrefix(p.Path, "schedules[0].") {
				t.Fatalf("bad problem %+v", p)
			}
		}
		if s.Describe() == "" {
			t.Fatal("empty description")
		}
		s.Normalize(time.Date(2024, 6, 7, 0, 0, 0, 0, time.UTC))
		_ = s.Validate("")
	})
}
