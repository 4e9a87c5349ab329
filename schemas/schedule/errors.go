package schedule

import "errors"

// Errors returned by Location and wrapped into validation messages. Each is wrapped with the
// details (the zone name, the cron parser's own error); match them with errors.Is.
var (
	// ErrTimeZone means time_zone is not a time zone that time.LoadLocation knows, such as
	// "Europe/London" or "UTC".
	ErrTimeZone = errors.New("unknown time zone")

	// ErrCron means cron is not a cron expression of 5 fields (minute hour day-of-month month
	// day-of-week), 6 fields (seconds first) or a descriptor such as @daily.
	ErrCron = errors.New("invalid cron expression")
)
