USE [msdb]
GO
BEGIN TRANSACTION
DECLARE @ReturnCode INT
SELECT @ReturnCode = 0
DECLARE @jobId BINARY(16)
EXEC @ReturnCode = msdb.dbo.sp_add_job @job_name=N'Check integrity',
		@enabled=1,
		@notify_level_netsend=2,
		@notify_netsend_operator_name=N'DBA Desk',
		@notify_level_page=2,
		@notify_page_operator_name=N'DBA Pager',
		@originating_server=N'SQL01',
		@job_id = @jobId OUTPUT
IF (@@ERROR <> 0 OR @ReturnCode <> 0) GOTO QuitWithRollback
EXEC @ReturnCode = msdb.dbo.sp_add_jobstep @job_id=@jobId, @step_name=N'DBCC CHECKDB',
		@os_run_priority=5,
		@subsystem=N'TSQL',
		@command=N'DBCC CHECKDB WITH NO_INFOMSGS',
		@database_user_name=N'dbo',
		@proxy_id=3
IF (@@ERROR <> 0 OR @ReturnCode <> 0) GOTO QuitWithRollback
EXEC @ReturnCode = msdb.dbo.sp_add_notification @alert_name=N'Severity 024', @operator_name=N'DBA Team', @notification_method=1
EXEC @ReturnCode = dbo.usp_RegisterJob @name=N'Check integrity'
EXEC @ReturnCode = msdb.dbo.sp_add_jobserver @job_id=@jobId, @server_name=N'SQL02\REPORTING', @whatever=1
INSERT INTO dbo.JobAudit (JobName) VALUES (N'Check integrity')
IF @ReturnCode = 0
	EXEC msdb.dbo.sp_add_jobserver @job_id=@jobId, @server_name=N'SQL03'
ELSE
	EXEC msdb.dbo.sp_add_jobserver @job_id=@jobId, @server_name=N'SQL04'
EXEC msdb.dbo.sp_add_jobstep @job_name=N'Some other job', @step_name=N'x', @command=N'SELECT 1'
EXEC (N'EXEC msdb.dbo.sp_start_job N''Check integrity''')
COMMIT TRANSACTION
GOTO EndSave
QuitWithRollback:
    IF (@@TRANCOUNT > 0) ROLLBACK TRANSACTION
EndSave:
GO 2
