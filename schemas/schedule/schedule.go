package schedule

// Frequency types (freq_type), as in msdb.
const (
	FreqOnce            = 1
	FreqDaily           = 4
	FreqWeekly          = 8
	FreqMonthly         = 16
	FreqMonthlyRelative = 32
	FreqAgentStart      = 64
	FreqIdle            = 128
)

// Sub-day units (freq_subday_type).
const (
	SubdayAtTime  = 1
	SubdaySeconds = 2
	SubdayMinutes = 4
	SubdayHours   = 8
)

// Schedule is one job schedule. Field names are sp_add_jobschedule's parameters in snake case.
// Zero values mean SQL Agent's defaults (see Normalize). Cron, when set, replaces the freq_*
// fields; TimeZone (IANA), when set, replaces the target's local time zone.
type Schedule struct {
	Name                 string `json:"name"`
	Enabled              *bool  `json:"enabled,omitempty"`
	FreqType             int    `json:"freq_type,omitempty"`
	FreqInterval         int    `json:"freq_interval,omitempty"`
	FreqSubdayType       int    `json:"freq_subday_type,omitempty"`
	FreqSubdayInterval   int    `json:"freq_subday_interval,omitempty"`
	FreqRelativeInterval int    `json:"freq_relative_interval,omitempty"`
	FreqRecurrenceFactor int    `json:"freq_recurrence_factor,omitempty"`
	ActiveStartDate      int    `json:"active_start_date,omitempty"` // yyyymmdd
	ActiveEndDate        int    `json:"active_end_date,omitempty"`   // yyyymmdd, default 99991231
	ActiveStartTime      int    `json:"active_start_time,omitempty"` // hhmmss, default 000000
	ActiveEndTime        int    `json:"active_end_time,omitempty"`   // hhmmss, default 235959
	Cron                 string `json:"cron,omitempty"`              // msx: 5 or 6 fields (seconds optional)
	TimeZone             string `json:"time_zone,omitempty"`         // msx: IANA zone, default the target's
}

// IsEnabled reports whether the schedule is enabled (absent means enabled).
func (s Schedule) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }
