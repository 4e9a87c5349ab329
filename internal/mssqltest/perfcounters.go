package mssqltest

import (
	"fmt"
	"strings"
)

// The fake's performance counters: the table dm_os_performance_counters, read as
// sys.dm_os_performance_counters (the "sys." prefix is dropped like "dbo."), with SQL
// Server's columns object_name, counter_name, instance_name (NCHAR(128): padded with blanks,
// as SQL Server returns them), cntr_value and cntr_type. SetPerfCounter sets a raw value;
// SetPerfCounterType sets a value of another type (a per-second counter's cumulative count, a
// ratio and its base row).
const perfCountersSchema = `
CREATE TABLE IF NOT EXISTS dm_os_performance_counters (
	object_name NVARCHAR(128) NOT NULL, counter_name NVARCHAR(128) NOT NULL, instance_name NVARCHAR(128) NOT NULL,
	cntr_value BIGINT NOT NULL, cntr_type INT NOT NULL DEFAULT 65792,
	PRIMARY KEY (object_name, counter_name, instance_name));
`

// Counter types (cntr_type), as the Windows performance architecture defines them and SQL
// Server reports them.
const (
	// PerfLargeRawCount (PERF_COUNTER_LARGE_RAWCOUNT): the last value observed.
	PerfLargeRawCount = 65792
	// PerfBulkCount (PERF_COUNTER_BULK_COUNT): a cumulative count; the per-second rate is the
	// difference of two samples over the seconds between them.
	PerfBulkCount = 272696576
	// PerfLargeRawFraction (PERF_LARGE_RAW_FRACTION): a ratio, the value over its base row.
	PerfLargeRawFraction = 537003264
	// PerfAverageBulk (PERF_AVERAGE_BULK): an average, the difference of two samples over the
	// difference of its base row's.
	PerfAverageBulk = 1073874176
	// PerfLargeRawBase (PERF_LARGE_RAW_BASE): the base row of a fraction or an average, named
	// after it with " base" appended.
	PerfLargeRawBase = 1073939712
)

// SetPerfCounter sets (adds or replaces) a row of sys.dm_os_performance_counters of type
// PerfLargeRawCount. object is the full object name with its instance prefix, such as
// "SQLServer:Buffer Manager" or "MSSQL$INST:Buffer Manager"; instance is "" for counters
// without instances. Names are stored padded to 128 characters, as SQL Server's NCHAR(128)
// columns are.
func (s *Server) SetPerfCounter(object, counter, instance string, value int64) error {
	return s.SetPerfCounterType(object, counter, instance, value, PerfLargeRawCount)
}

// SetPerfCounterType sets (adds or replaces) a row of sys.dm_os_performance_counters with its
// cntr_type, such as PerfBulkCount for "Batch Requests/sec", or PerfLargeRawFraction for
// "Buffer cache hit ratio" with a PerfLargeRawBase row "Buffer cache hit ratio base".
func (s *Server) SetPerfCounterType(object, counter, instance string, value int64, cntrType int) error {
	pad := func(v string) string {
		if n := 128 - len([]rune(v)); n > 0 {
			return v + strings.Repeat(" ", n)
		}
		return v
	}
	if _, err := s.db.Exec(`INSERT INTO dm_os_performance_counters (object_name, counter_name, instance_name, cntr_value, cntr_type)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (object_name, counter_name, instance_name) DO UPDATE SET cntr_value = excluded.cntr_value, cntr_type = excluded.cntr_type`,
		pad(object), pad(counter), pad(instance), value, cntrType); err != nil {
		return fmt.Errorf("mssqltest: set performance counter %s|%s|%s: %w", object, counter, instance, err)
	}
	return nil
}
