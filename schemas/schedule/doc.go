// Package schedule holds the SQL Server Agent schedule model (freq_type and its companion codes,
// as in msdb.dbo.sysschedules) plus msx's cron extension, and computes run times. The master uses
// it to validate schedules and show next run times; targets use the same code to fire jobs.
//
// # Wall-clock arithmetic
//
// Run times are computed on the wall clock of the evaluation zone (the schedule's time_zone when
// set, else the target's local zone) and only then turned into instants. Two rules settle the
// wall times that daylight saving time makes ambiguous:
//
//   - Spring forward (a gap): a wall time that does not exist, such as 02:30 on the day New York
//     moves from 02:00 EST to 03:00 EDT, runs at the first instant after the gap (03:00 EDT),
//     once. Several wall times that fall in the same gap, and a run at the end of the gap itself,
//     collapse into that one run.
//   - Fall back (an overlap): a wall time that occurs twice, such as 01:30 on the day New York
//     moves from 02:00 EDT back to 01:00 EST, runs once, at its first occurrence (01:30 EDT).
//     Nothing runs during the second pass through the repeated hour: a job every 15 minutes runs
//     at 01:45 EDT and then at 02:00 EST.
//
// The same rules apply to cron schedules, whose expressions are matched against the wall clock.
//
// # Windows over midnight
//
// With a sub-day repeat (freq_subday_type 2, 4 or 8), active_start_time and active_end_time are
// the daily window. When active_end_time is before active_start_time the window spans midnight:
// the repeats continue past midnight until active_end_time on the next day, and that
// post-midnight part belongs to the day the window started, as in SQL Server Agent. A weekly
// Monday schedule every hour from 22:00:00 to 02:00:00 therefore runs on Monday at 22:00 and
// 23:00 and on Tuesday at 00:00, 01:00 and 02:00, and nothing on Monday before 02:00 (that part
// belongs to Sunday, which is not scheduled). Active dates bound the day a window starts on.
//
// # Defaults
//
// Zero values mean SQL Server Agent's defaults; Normalize fills them in. Because zero means
// "default", an active_end_time of 000000 cannot be written: it reads as 235959.
package schedule
