// Package mssqltest is a fake SQL Server for tests: a TDS server, written in
// this project and backed by SQLite (modernc.org/sqlite), that the real
// github.com/microsoft/go-mssqldb driver connects to over loopback TCP or an
// in-process net.Pipe. It is a test double, never SQL Server: @@VERSION and
// LOGINACK say "msx fake TDS server" and name SQLite.
//
// Start a fake in a test with Start, and connect with DSN, Client,
// PipeClient or Connector. Outside tests (demos, other harnesses) use
// NewServer, Serve and Close. DB gives the SQLite store, to seed or inspect
// state; Agent scripts the fake SQL Server Agent.
//
// # Protocol
//
// Supported: PRELOGIN answered with ENCRYPT_NOT_SUP (clients must use
// encrypt=disable or encrypt=false; there is no TLS, and encrypt=true or
// strict fails), LOGIN7 with SQL logins (wrong password or unknown user:
// error 18456; unknown database: 4060 then 18456; integrated security is
// refused), packet sizes 512 to 32767 as negotiated by the client, SQLBatch,
// RPC by name and sp_executesql by id 10, transaction manager requests
// begin, commit and rollback (the driver's BeginTx), ATTENTION (answered with
// DONE and the attention bit; it cancels WAITFOR and running SQLite
// queries), and the reset-connection flag (rolls back, restores NOCOUNT and
// the login database). Replies carry COLMETADATA, ROW, DONE, DONEPROC,
// DONEINPROC, RETURNSTATUS, RETURNVALUE, ERROR, INFO, LOGINACK and ENVCHANGE
// (database, packet size, begin, commit and rollback transaction), split into
// as many packets as needed. Not supported: TLS, MARS, SSPI and federated
// authentication, bulk load, TVP, sql_variant and UDT parameters, NBCROW,
// and RPC batches (several RPCs in one request).
//
// Result columns are sent as NVARCHAR(MAX), VARBINARY(MAX) (both PLP),
// BIGINT, INT, SMALLINT, TINYINT, BIT, FLOAT, UNIQUEIDENTIFIER or
// DATETIME2(7), chosen from the SQLite declared type, or, for expressions,
// from the values of the first 64 rows. Parameters of every other scalar type
// are decoded (DECIMAL and MONEY become float64, times are stored as text
// with their UTC offset).
//
// # T-SQL
//
// Statements are rewritten a little and passed to SQLite: N'..' strings,
// 0x.. binary literals, @@VERSION, @@SERVERNAME, @@SPID, @@TRANCOUNT,
// @@ROWCOUNT, @@ERROR (always 0), @@IDENTITY, GETDATE(), SYSDATETIME(),
// GETUTCDATE(), SYSUTCDATETIME(), NEWID(), DB_NAME(), SUSER_SNAME(),
// SCOPE_IDENTITY(), SERVERPROPERTY('x') for a few names, ISNULL, LEN,
// SUBSTRING, TYPE(MAX) in DDL, SELECT [DISTINCT] TOP n (becomes LIMIT n), and
// db.schema.object, db..object and dbo.object names (all databases share one
// SQLite store, so msdb.dbo.sysjobs is the table sysjobs). Parameters bind by
// name (@p1 for positional arguments, @name for sql.Named) and an unknown
// variable is error 137. Everything else is SQLite's dialect: '+' does not
// concatenate strings, and CONVERT, IDENTITY and other T-SQL syntax fail.
//
// The fake itself runs PRINT (INFO), RAISERROR(msg, severity, state, args)
// (severity 10 or less is INFO; printf-style %s %d %i %u %x %o), THROW n,
// msg, state, USE db (master, msdb, tempdb, model and Config.Databases),
// WAITFOR DELAY, BEGIN TRAN, COMMIT and ROLLBACK (nested BEGIN counts as
// @@TRANCOUNT; SQLite takes the write lock at BEGIN), SET NOCOUNT (other SET
// options are ignored), EXEC proc with named or positional arguments, and
// EXEC ('sql'). Not supported, and reported as error 50000 saying so:
// DECLARE and local variables, SET @v, EXEC @rc = proc, IF, WHILE, BEGIN ...
// END, TRY/CATCH, SAVE TRANSACTION, ROLLBACK to a savepoint, WAITFOR TIME.
//
// A batch is split into statements at semicolons and before the statements
// the fake runs itself; statements SQLite runs must be separated by
// semicolons. The first error ends the batch (SQL Server would continue after
// most statement-level errors). SQLite errors map to SQL Server numbers: 208
// no such table, 207 no such column, 2627 unique constraint, 515 not null,
// 547 foreign key or check, 102 syntax, 2714 object exists, 195 unknown
// function, otherwise 50000 with SQLite's message; all of class 16.
//
// # msdb
//
// Tables shaped like msdb's: sysjobs, sysjobsteps, sysschedules,
// sysjobschedules, sysjobservers, sysjobhistory, syscategories (seeded with
// the standard local categories and "Jobs from MSX") and sysproxies. The
// procedures sp_add_job, sp_update_job, sp_delete_job, sp_add_jobstep,
// sp_delete_jobstep, sp_add_schedule, sp_attach_schedule, sp_add_jobschedule,
// sp_add_jobserver, sp_delete_jobserver, sp_start_job, sp_stop_job and a
// minimal sp_help_job (one result set) run by RPC or EXEC, with msdb's
// parameter names, OUTPUT parameters, return status 0 or 1 and error
// numbers (14261, 14262, 14234, 14266, 14269, 14256, 14294, 22022, 8145).
// Each runs atomically. Jobs run nothing: see Agent.
//
// # Error log and alerts
//
// The table errorlog (LogDate, ProcessInfo, Text) is the current SQL Server
// error log: master.dbo.xp_readerrorlog (log number, log type, two search
// strings, start and end time, N'asc' or N'desc') and sp_readerrorlog (the
// first four) read it; archived logs and the Agent log are empty.
// Server.LogError appends the two lines SQL Server writes for a logged error,
// Server.LogMessage any line. msdb.dbo.sysalerts (name, message_id,
// severity, enabled) holds alerts; Server.AddAlert and SetAlertEnabled change
// it. RAISERROR ... WITH LOG does not write to the fake's log.
//
// # MSX master
//
// The msdb tables of an MSX master (msx_master.go): systargetservers (EnlistTarget),
// systargetservergroups and systargetservergroupmembers (sp_add_targetservergroup,
// sp_add_targetsvrgrp_member), sysoperators (sp_add_operator), sysalerts' other columns
// (sp_add_alert) and sysnotifications (sp_add_notification), sp_add_category, a
// sp_add_jobserver that also targets an enlisted server (a multiserver job),
// sp_get_sqlagent_properties with the job history limits (SetJobHistoryLimits), and
// master.sys.server_principals naming job owners.
package mssqltest
