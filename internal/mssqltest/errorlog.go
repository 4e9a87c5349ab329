package mssqltest

import (
	"fmt"
	"strings"
	"time"
)

// The fake's SQL Server error log and alerts.
//
// The error log is the table errorlog (LogDate, ProcessInfo, Text), one row
// per line as xp_readerrorlog returns them; LogError appends the two lines
// SQL Server writes for a logged error. master.dbo.xp_readerrorlog and
// sp_readerrorlog read it. msdb.dbo.sysalerts holds alerts with the columns
// an event forwarder reads (name, message_id, severity, enabled), and those a
// migration reads (msx_master.go); AddAlert adds one.
const errorlogSchema = `
CREATE TABLE IF NOT EXISTS errorlog (
	id INTEGER PRIMARY KEY AUTOINCREMENT, LogDate DATETIME NOT NULL, ProcessInfo NVARCHAR(50) NOT NULL,
	Text NVARCHAR(4000) NOT NULL);
CREATE TABLE IF NOT EXISTS sysalerts (
	id INTEGER PRIMARY KEY AUTOINCREMENT, name NVARCHAR(128) NOT NULL UNIQUE COLLATE NOCASE,
	message_id INT NOT NULL DEFAULT 0, severity INT NOT NULL DEFAULT 0, enabled TINYINT NOT NULL DEFAULT 1,
	database_name NVARCHAR(512), delay_between_responses INT NOT NULL DEFAULT 0, notification_message NVARCHAR(512),
	include_event_description TINYINT NOT NULL DEFAULT 5, event_description_keyword NVARCHAR(100),
	performance_condition NVARCHAR(512), job_id UNIQUEIDENTIFIER);
`

// logDateLayout is how LogDate is stored: text that sorts as time does.
const logDateLayout = "2006-01-02 15:04:05.000"

func init() {
	procs["xp_readerrorlog"] = procDef{
		params: []string{"log_number", "log_type", "search1", "search2", "start_time", "end_time", "sort_order"},
		fn:     xpReadErrorLog,
	}
	procs["sp_readerrorlog"] = procDef{params: []string{"p1", "p2", "p3", "p4"}, fn: spReadErrorLog}
}

// LogError appends to the error log the two lines SQL Server writes for an
// error raised WITH LOG (or logged because of its severity): "Error: N,
// Severity: S, State: T." and the message, with the same LogDate and
// ProcessInfo. LogDate is the current local time, to the centisecond as in
// the ERRORLOG file.
func (s *Server) LogError(number, severity, state int, msg string) error {
	date := logNow()
	proc := fmt.Sprintf("spid%d", 51+s.spid.Load())
	_, err := s.db.Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES (?, ?, ?), (?, ?, ?)`,
		date, proc, fmt.Sprintf("Error: %d, Severity: %d, State: %d.", number, severity, state),
		date, proc, msg)
	if err != nil {
		return fmt.Errorf("mssqltest: log error %d: %w", number, err)
	}
	return nil
}

// LogMessage appends one line to the error log, such as ProcessInfo "Server"
// and "SQL Server is starting at normal priority base (=7).".
func (s *Server) LogMessage(processInfo, text string) error {
	if _, err := s.db.Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES (?, ?, ?)`,
		logNow(), processInfo, text); err != nil {
		return fmt.Errorf("mssqltest: log message: %w", err)
	}
	return nil
}

// AddAlert adds an alert to msdb.dbo.sysalerts: on an error number
// (messageID, severity 0) or on a severity (messageID 0).
func (s *Server) AddAlert(name string, messageID, severity int, enabled bool) error {
	if _, err := s.db.Exec(`INSERT INTO sysalerts (name, message_id, severity, enabled) VALUES (?, ?, ?, ?)`,
		name, messageID, severity, enabled); err != nil {
		return fmt.Errorf("mssqltest: add alert %s: %w", name, err)
	}
	return nil
}

// SetAlertEnabled enables or disables an alert, as sp_update_alert @enabled.
func (s *Server) SetAlertEnabled(name string, enabled bool) error {
	if _, err := s.db.Exec(`UPDATE sysalerts SET enabled = ? WHERE name = ?`, enabled, name); err != nil {
		return fmt.Errorf("mssqltest: update alert %s: %w", name, err)
	}
	return nil
}

func logNow() string { return time.Now().Truncate(10 * time.Millisecond).Format(logDateLayout) }

// xpReadErrorLog is xp_readerrorlog: log number (only 0, the current log,
// has lines), log type (1 SQL Server, 2 Agent: empty), two search strings
// (both must occur, ignoring case), start and end time (inclusive) and sort
// order (N'asc', the default, or N'desc'). One result set: LogDate,
// ProcessInfo, Text; lines of the same LogDate in the order they were written.
func xpReadErrorLog(c *procCall) (int32, error) {
	return readErrorLog(c, "log_number", "log_type", "search1", "search2", "start_time", "end_time", "sort_order")
}

// spReadErrorLog is sp_readerrorlog @p1 log number, @p2 log type, @p3 and
// @p4 search strings; it has no time filter.
func spReadErrorLog(c *procCall) (int32, error) {
	return readErrorLog(c, "p1", "p2", "p3", "p4", "", "", "")
}

func readErrorLog(c *procCall, logNum, logType, search1, search2, start, end, sort string) (int32, error) {
	n, err := c.int(logNum, 0)
	if err != nil {
		return 1, err
	}
	typ, err := c.int(logType, 1)
	if err != nil {
		return 1, err
	}
	where := []string{"1 = 1"}
	var args []any
	if n != 0 || typ != 1 {
		where = append(where, "0 = 1")
	}
	for _, p := range []string{search1, search2} {
		if s := c.str(p, ""); s != "" {
			where, args = append(where, "instr(lower(Text), lower(?)) > 0"), append(args, s)
		}
	}
	for _, p := range []struct{ name, op string }{{start, ">="}, {end, "<="}} {
		if p.name == "" || !c.has(p.name) {
			continue
		}
		v, err := convert(typDateTime2, c.args[p.name])
		if err != nil {
			return 1, err
		}
		where, args = append(where, "LogDate "+p.op+" ?"), append(args, v.(time.Time).Format(logDateLayout))
	}
	order := "ASC"
	if sort != "" && strings.EqualFold(c.str(sort, "asc"), "desc") {
		order = "DESC"
	}
	err = c.resultSet(`SELECT LogDate, ProcessInfo, Text FROM errorlog WHERE `+strings.Join(where, " AND ")+
		" ORDER BY LogDate "+order+", id", args...)
	return boolStatus(err)
}
