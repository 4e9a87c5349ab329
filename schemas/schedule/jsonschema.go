package schedule

import _ "embed"

// JSONSchema is the JSON Schema (draft 2020-12) of a schedule document, as in schedule.schema.json.
// It checks the shape and the ranges that do not depend on the calendar; Validate checks the rest
// (calendar dates, hhmmss times, cron syntax, time zones, end date after start date).
//
//go:embed schedule.schema.json
var JSONSchema []byte
