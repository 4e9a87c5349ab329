-- A step whose command is itself a script of several batches: the GO lines inside the string
-- belong to the command, and only the last GO separates batches.
USE msdb
GO
DECLARE @jobId uniqueidentifier
DECLARE @cmd nvarchar(max)
SET @cmd = N'CREATE OR ALTER VIEW dbo.RecentErrors AS
SELECT TOP (100) * FROM dbo.ErrorLog ORDER BY LogDate DESC;
GO
-- recreate the statistics as well
UPDATE STATISTICS dbo.ErrorLog;
go
SELECT ''GO'' AS [word], N''it''''s /* not a comment */'' AS [text];
  GO  
'
EXEC msdb.dbo.sp_add_job N'Rebuild error views', @job_id = @jobId OUTPUT;
EXEC msdb.dbo.sp_add_jobstep @job_id = @jobId, @step_name = N'Recreate ''error'' views', @command = @cmd, @database_name = N'DBA';
EXEC [msdb].[dbo].[sp_add_jobserver] @job_id = @jobId, @server_name = @@SERVERNAME;
GO
