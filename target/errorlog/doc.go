// Package errorlog forwards SQL Server errors from the error log as events, as MSX's event
// forwarding does: errors at or above a severity threshold (default 17), either only those no
// enabled local alert handles ("unhandled", the default) or all of them ("all").
//
// Poller reads the lines of the current error log written since its position with
//
//	EXEC master.dbo.xp_readerrorlog 0, 1, NULL, NULL, @start, NULL, N'asc'
//
// xp_readerrorlog is used rather than sp_readerrorlog because only the extended procedure takes
// a start time (its 5th argument) on SQL Server 2016 and later; sp_readerrorlog passes its four
// arguments through and always reads the whole log. @start is sent as DATETIME, the type the
// log's LogDate has. The login needs to be allowed to read the error log (a member of
// securityadmin, or sysadmin) and msdb.dbo.sysalerts (msdb access, e.g. SQLAgentReaderRole).
//
// SQL Server writes a logged error as two lines with the same LogDate and ProcessInfo:
//
//	2024-05-01 12:34:56.780  spid52  Error: 9002, Severity: 17, State: 2.
//	2024-05-01 12:34:56.780  spid52  The transaction log for database 'sales' is full ...
//
// The poller pairs them into an Entry (error number, severity, state, message). Its Position is
// the LogDate of the last line it consumed and how many lines with that LogDate it consumed, kept
// by the Sink in the agent's store: after a restart the poller asks for lines from one second
// before that LogDate, drops what it consumed already and continues, so lines are neither
// repeated nor skipped. Each Entry has an ID built from its position, which the agent uses as
// the event's Nats-Msg-Id, so a crash between queueing events and saving the position cannot
// publish one twice.
//
//	xp_readerrorlog ──poll──► lines after Position ──pair──► Entry ──severity, alerts──►
//	    Sink.Forward(entries, new Position)
//
// On its first start (no position saved) the poller begins at the time it was created: errors
// logged before the agent first ran are not forwarded.
//
// In "unhandled" mode an error is handled, and not forwarded, when an enabled alert in
// msdb.dbo.sysalerts has its message_id, or has message_id 0 and its severity. A disabled alert
// handles nothing, so its errors are forwarded. Alerts restricted to one database
// (database_name) or to a keyword are treated as handling the error wherever it occurred.
//
// Known limits: SQL Server writes errors of severity 19 and above to the log always, but errors
// of severity 17 and 18 only when raised WITH LOG or when sys.messages marks them is_event_logged
// (sp_altermessage); errors that are not logged cannot be forwarded, as with MSX. Lines written
// to the current log between the last poll and a log cycle (sp_cycle_errorlog, restart) are in
// the archived log 1, which the poller does not read.
package errorlog
