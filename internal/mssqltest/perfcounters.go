package mssqltest

import (
	"fmt"
	"strings"
)

// The fake's performance counters: the table dm_os_performance_counters, read as
// sys.dm_os_performance_counters (the "sys." prefix is dropped like "dbo."), with SQL
// Server's columns object_name, counter_name, instance_name (NCHAR(128): padded with blanks,
// as SQL Server returns them), cntr_value and cntr_type. SetPerfCounter sets a value.
const perfCountersSchema = `
CREATE TABLE IF NOT EXISTS dm_os_performance_counters (
	object_name NVARCHAR(128) NOT NULL, counter_name NVARCHAR(128) NOT NULL, instance_name NVARCHAR(128) NOT NULL,
	cntr_value BIGINT NOT NULL, cntr_type INT NOT NULL DEFAULT 65792,
	PRIMARY KEY (object_name, counter_name, instance_name));
`

// SetPerfCounter sets (adds or replaces) a row of sys.dm_os_performance_counters. object is
// the full object name with its instance prefix, such as "SQLServer:Buffer Manager" or
// "MSSQL$INST:Buffer Manager"; instance is "" for counters without instances. Names are
// stored padded to 128 characters, as SQL Server's NCHAR(128) columns are.
func (s *Server) SetPerfCounter(object, counter, instance string, value int64) error {
	pad := func(v string) string {
		if n := 128 - len([]rune(v)); n > 0 {
			return v + strings.Repeat(" ", n)
		}
		return v
	}
	if _, err := s.db.Exec(`INSERT INTO dm_os_performance_counters (object_name, counter_name, instance_name, cntr_value)
		VALUES (?, ?, ?, ?) ON CONFLICT (object_name, counter_name, instance_name) DO UPDATE SET cntr_value = excluded.cntr_value`,
		pad(object), pad(counter), pad(instance), value); err != nil {
		return fmt.Errorf("mssqltest: set performance counter %s|%s|%s: %w", object, counter, instance, err)
	}
	return nil
}
