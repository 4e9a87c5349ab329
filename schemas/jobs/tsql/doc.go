// Package tsql converts between SQL Server Agent job scripts in T-SQL and msx job documents.
//
// Import reads the scripts that SQL Server Management Studio's "Script Job as CREATE" writes
// and the job sections of maintenance solutions (Ola Hallengren's MaintenanceSolution.sql and
// the like); Export writes a job back in SSMS's shape so that it can move to a plain SQL Server
// Agent.
//
// # What Import reads
//
// A tokenizer splits the script into strings ('...' and N'...', in which a doubled quote stands for one),
// [bracketed]] and "quoted" identifiers, numbers, @variables, punctuation and comments (--
// and nested /* */). GO separates batches only alone on its line, so a GO line inside a string
// is part of the string. On the tokens, Import interprets the statements job scripts use:
//
//   - EXEC [@rc =] [msdb.dbo.]procedure with named (@p = value) or positional arguments, each
//     a string, a number, NULL, DEFAULT, a bare word or a variable; OUTPUT arguments bind
//     @job_id and @schedule_id variables to what the call creates.
//   - DECLARE, SET and SELECT @v = ... assign variables: strings, numbers, NULL, other
//     variables, CHAR(n) and NCHAR(n), joined with +. A variable set any other way (a function,
//     a query, CASE) has an unknown value, and a parameter given one is reported. Variables end
//     at GO, as in SQL Server.
//   - IF conditions are not evaluated: the statement after the condition is imported as if it
//     held (IF NOT EXISTS (...) BEGIN sp_add_category ... END; IF (@@ERROR <> 0 ...) GOTO
//     QuitWithRollback), and a variable it assigns has no certain value after it. ELSE
//     branches, WHILE bodies and CATCH blocks are not imported; each procedure call in them
//     is reported.
//   - GOTO, labels, BEGIN/COMMIT/ROLLBACK TRANSACTION, USE, SET options, PRINT, RAISERROR,
//     THROW and RETURN create nothing and are passed over. Any other statement is reported.
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
// Other msdb procedures (sp_delete_job, sp_update_jobstep, sp_update_alert, sp_start_job, ...)
// and unknown procedures are reported, not run. Import does not fill
// defaults or check values: call jobs.Job.Normalize and jobs.Job.Validate on what it returns.
//
// # Not supported
//
// Dynamic SQL (EXEC of a string), loops, cursors, table variables and queries are not
// evaluated; IF conditions are assumed true; GO n imports the batch once; procedures of
// databases other than msdb are unknown.
package tsql
