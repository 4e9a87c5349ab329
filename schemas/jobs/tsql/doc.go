// Package tsql converts between SQL Server Agent job scripts in T-SQL and msx job documents.
//
// Import reads the scripts DBAs have: what SQL Server Management Studio's "Script Job as
// CREATE" writes, dbatools' Export-DbaScript of a whole Agent, and the job sections of
// maintenance solutions (Ola Hallengren's MaintenanceSolution.sql and the like); Export writes a
// job back in SSMS's shape so that it can move to a plain SQL Server Agent. Builder runs the
// same translation on procedure calls whose arguments are already evaluated (a migration
// reading msdb).
//
// # How Import reads a script
//
// SQLCMD first: a line starting with :setvar NAME "value" (or :on error, ...) is run and
// becomes an empty line, and $(NAME) is replaced by the variable's value anywhere, strings
// included (Options.Vars are sqlcmd -v; a :setvar in the script wins, as in sqlcmd). SQL
// Server Agent's tokens look alike and pass untouched: $(ESCAPE_SQUOTE(JOBNAME)) is never a
// SQLCMD variable, and $(JOBID), $(SRVR) and the other token names are replaced only when the
// script defines a variable of that name. In a script with SQLCMD commands or Options.Vars, an
// undefined $(NAME) is reported.
//
// A tokenizer then splits the script into strings ('...' and N'...', in which a doubled quote
// stands for one), [bracketed]] and "quoted" identifiers, numbers, @variables, punctuation and
// comments (-- and nested /* */). GO separates batches only alone on its line, so a GO line
// inside a string is part of the string.
//
// On the tokens, Import is a bounded T-SQL evaluator. It runs the script as SQL Server would on
// a new server of the declared Options.Platform and Options.Edition, whose msdb holds only what
// the script creates:
//
//   - DECLARE, SET and SELECT @v = ... assign variables (strings, integers, numbers, NULL);
//     a value assigned to a string or integer variable is converted and cut to its size as
//     SQL Server does. Variables and table variables end at GO; #temporary tables last for
//     the script.
//   - Expressions: + - * / % and the bit operators, comparisons (strings ignore case and
//     trailing spaces, as the default collations), AND, OR, NOT, IS [NOT] NULL, [NOT] IN,
//     [NOT] LIKE, [NOT] BETWEEN, EXISTS, CASE, scalar subqueries, and the functions CHAR,
//     NCHAR, REPLACE, ISNULL, COALESCE, NULLIF, IIF, CAST, CONVERT, TRY_CAST, TRY_CONVERT, LEN,
//     DATALENGTH, LEFT, RIGHT, SUBSTRING, CHARINDEX, UPPER, LOWER, LTRIM, RTRIM, TRIM, REVERSE,
//     REPLICATE, SPACE, CONCAT, QUOTENAME, ASCII, UNICODE, STR, ABS; SERVERPROPERTY (Edition,
//     EngineEdition, ProductVersion, ProductMajorVersion, ...), @@VERSION, @@ERROR (0),
//     @@ROWCOUNT, DB_NAME(), SUSER_SNAME(0x01) ('sa'), IS_SRVROLEMEMBER('sysadmin') (1),
//     OBJECT_ID of a #table. @@SERVERNAME stays the server the job is applied to.
//   - Tables: DECLARE @t TABLE (...) and CREATE TABLE #t (...) with IDENTITY and DEFAULT
//     columns; INSERT [INTO] ... VALUES (...), (...) or SELECT ... [UNION [ALL] SELECT ...];
//     UPDATE t SET ... [FROM @t t] [WHERE ...]; DELETE [FROM] ... [WHERE ...]; DROP TABLE #t.
//     SELECT [TOP n] ... FROM one table [alias] [WHERE ...] [ORDER BY ...], with COUNT, MAX,
//     MIN and SUM over all its rows, reads them; a SELECT assigning variables assigns them
//     row by row (the last row's values stay; none when no row is selected).
//   - DECLARE c CURSOR ... FOR SELECT ..., OPEN, FETCH NEXT FROM c INTO @a, @b (setting
//     @@FETCH_STATUS), CLOSE and DEALLOCATE walk the rows of a query.
//   - msdb.dbo.sysjobs and sysjobs_view (name, job_id, enabled, description), syscategories
//     (the default categories and those the script adds), sysoperators, sysalerts and
//     sysschedules are answered from what the script created so far, so that IF NOT EXISTS
//     (SELECT * FROM msdb.dbo.sysjobs WHERE name = ...) guards work; sys.dm_os_host_info and
//     sys.dm_os_server_diagnostics_log_configurations from the platform.
//   - IF and ELSE run the branch the condition selects, WHILE runs its body while the
//     condition holds, with BREAK and CONTINUE; RETURN ends the batch. BEGIN ... END, TRY
//     blocks and transactions are run; CATCH blocks are not (nothing fails).
//   - EXEC [@rc =] [msdb.dbo.]procedure with named or positional arguments, each a constant,
//     DEFAULT, a bare word or a variable, runs the msdb job procedures below (@rc is set to
//     0). EXEC (expression) and sp_executesql @stmt, @params, @p = value [OUTPUT] run dynamic
//     SQL as a batch of its own, nested at most Options.MaxDepth deep; OUTPUT parameters come
//     back.
//
// What Import cannot evaluate gives an unknown value that says why: a query of a user table,
// a join, GROUP BY, a function of a database or one it does not know, GETDATE(). A parameter
// given an unknown value is reported. An IF whose condition is unknown is read as before:
// the statement after it runs as if the condition held (what job scripts mean by their guards
// and error checks), its ELSE branch is not imported, and a variable or table it changes has
// no certain value after it. A WHILE whose condition is unknown does not run: each procedure
// call in its body is reported. GOTO goes forward to its label in the batch (SSMS's GOTO EndSave
// after COMMIT); one under a condition Import could not evaluate, and one back to an earlier
// label, are not followed (the second is reported). Labels, USE, SET options, PRINT,
// RAISERROR and THROW create nothing.
//
// The evaluation is bounded by Options: statements run (MaxStatements), iterations of one
// loop (MaxIterations), time (MaxTime), the length of a string (MaxString), the rows of the
// tables (MaxRows), the rows queries read, and the depth of dynamic SQL (MaxDepth). A script
// that exceeds one stops: Import returns an error wrapping ErrLimit that names the line, with
// the problems but no job. A hostile script can neither hang Import nor exhaust its memory.
//
// # Partial imports
//
// Import returns the jobs as the script writes them. Result.Partition normalizes them and
// sets apart those that are not valid msx jobs (a Snapshot, Distribution or other step msx
// does not run; retry_attempts 2147483647, which replication writes for "retry for ever", out
// of the 0..9999 that msx and sp_add_jobstep allow): each NotImported names the job, the line
// of its sp_add_job and the reason, so that the other jobs can be applied.
//
// # Procedures and parameters
//
// sp_add_job and sp_update_job: @job_name (name; @new_name renames), @enabled, @description
// ("No description available.", which SSMS writes for none, becomes empty), @start_step_id,
// @category_name ("[Uncategorized (Local)]" and the other default categories become empty),
// @owner_login_name (owner), @notify_level_eventlog, @notify_level_email, @notify_level_page,
// @notify_email_operator_name, @notify_page_operator_name, @delete_level map to the fields of the same name. @job_id
// OUTPUT identifies the job for later calls; a literal @job_id is used the same way but not kept
// (the master assigns ids).
//
// sp_add_jobstep: @step_id (a step inserted before others moves them down, as in msdb),
// @step_name, @subsystem, @command, @cmdexec_success_code, @on_success_action,
// @on_success_step_id, @on_fail_action, @on_fail_step_id, @database_name, @retry_attempts,
// @retry_interval, @output_file_name, @flags and @proxy_name map to the step fields.
//
// sp_add_jobschedule, and sp_add_schedule with sp_attach_schedule (by @schedule_id variable or
// @schedule_name): @name/@schedule_name, @enabled, the freq_* and active_* parameters map to the
// schedule fields. A shared schedule attached to several jobs is copied into each; one attached
// to none is reported.
//
// sp_add_jobserver: @server_name N'(local)', @@SERVERNAME or none adds no target (the job runs
// where it is applied); any other name is added to targets.servers. sp_apply_job_to_targets
// adds @target_servers and @target_server_groups (comma-separated) to targets.servers and
// targets.groups. sp_add_category is accepted: a category in msx is the name on the job.
//
// Parameters msx does not model are reported, with their line, when their value is anything but
// empty (NULL, 0, the empty string or DEFAULT; SSMS writes @os_run_priority=0 and @notify_level_netsend=0 on
// every job, and an empty value loses nothing):
//
//	@notify_level_netsend, @notify_netsend_operator_name  net send is gone from SQL Server
//	@category_id, @proxy_id                             ids are local to a server; names are kept
//	@originating_server                                 the master is every job's origin
//	@os_run_priority                                    msx does not set OS priority
//	@database_user_name                                 use EXECUTE AS USER in the command
//	@server, @additional_parameters                     not used by msx
//	@schedule_uid, @step_uid (given, not OUTPUT)        msx identifies schedules and steps itself
//	@owner_login_name of sp_add_schedule                an msx schedule belongs to its job
//	@automatic_post other than 1                        msx always sends changes to targets
//
// sp_add_operator, sp_add_alert and sp_add_notification become Result.Operators and
// Result.Alerts (schemas/notify), a notification joining the alert of the same name created
// earlier in the script; @netsend_address, @job_id (give @job_name), @database_name and SNMP
// are reported; a @performance_condition becomes the alert's performance_condition (one that
// does not parse is reported and the alert not imported); WMI alerts are reported and not
// imported.
//
// sp_update_jobstep changes the parameters it gives of an existing step (by @step_id).
// sp_delete_job deletes a job the script created before it (scripts that drop and create their
// jobs again); one of a job the script does not create is reported.
// sp_add_schedule's @schedule_uid is kept: a job's sp_add_jobschedule giving the same uid (as
// dbatools writes shared schedules) attaches it.
//
// Other msdb procedures (sp_update_jobschedule, sp_update_alert, sp_start_job, ...)
// and unknown procedures are reported, not run. Import does not fill defaults or check values:
// call Result.Partition, or jobs.Job.Normalize and jobs.Job.Validate, on what it returns.
//
// # Not supported
//
// Joins, GROUP BY, FETCH other than NEXT, SELECT INTO, MERGE, user tables and the functions of databases are
// not evaluated; GO n imports the batch once; procedures of databases other than msdb are
// unknown.
package tsql
