/*

SQL Server Maintenance Solution - SQL Server 2008, SQL Server 2008 R2, SQL Server 2012, SQL Server 2014, SQL Server 2016, SQL Server 2017, SQL Server 2019, and SQL Server 2022

Backup: https://ola.hallengren.com/sql-server-backup.html
Integrity Check: https://ola.hallengren.com/sql-server-integrity-check.html
Index and Statistics Maintenance: https://ola.hallengren.com/sql-server-index-and-statistics-maintenance.html

License: https://ola.hallengren.com/license.html

This job section is trimmed for msx's tests: the stored procedures are created elsewhere.

*/

USE [master] -- Specify the database in which the objects will be created.

SET NOCOUNT ON

DECLARE @CreateJobs nvarchar(max)          = 'Y'         -- Specify whether jobs should be created.
DECLARE @BackupDirectory nvarchar(max)     = N'\\backup01\sql' -- Specify the backup root directory.
DECLARE @CleanupTime int                   = 168         -- Time in hours, after which backup files are deleted.
DECLARE @OutputFileDirectory nvarchar(max) = NULL        -- Specify the output file directory.
DECLARE @LogToTable nvarchar(max)          = 'Y'         -- Log commands to a table.

DECLARE @Version numeric(18,10)
SET @Version = CAST(LEFT(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)),CHARINDEX('.',CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max))) - 1) + '.' + REPLACE(RIGHT(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)), LEN(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max))) - CHARINDEX('.',CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)))),'.','') AS numeric(18,10))

DECLARE @JobDescription nvarchar(max)
DECLARE @JobCategory nvarchar(max)
DECLARE @JobOwner nvarchar(max)
DECLARE @DatabaseName nvarchar(max)
DECLARE @DirectorySeparator nvarchar(max)
DECLARE @TokenServer nvarchar(max)
DECLARE @TokenJobID nvarchar(max)
DECLARE @TokenStepID nvarchar(max)
DECLARE @TokenDate nvarchar(max)
DECLARE @TokenTime nvarchar(max)
DECLARE @TokenLogDirectory nvarchar(max)

DECLARE @JobName01 nvarchar(max), @JobCommand01 nvarchar(max), @OutputFile01 nvarchar(max)
DECLARE @JobName02 nvarchar(max), @JobCommand02 nvarchar(max), @OutputFile02 nvarchar(max)
DECLARE @JobName03 nvarchar(max), @JobCommand03 nvarchar(max), @OutputFile03 nvarchar(max)
DECLARE @ScheduleID int

SET @JobDescription = 'Source: https://ola.hallengren.com'
SET @JobCategory = 'Database Maintenance'
SELECT @JobOwner = 'sa', @DatabaseName = 'master'
SET @DirectorySeparator = '\'

-- The tokens are built from two parts so that SSMS does not replace them when the script runs.
SET @TokenServer = '$' + '(ESCAPE_SQUOTE(SRVR))'
SET @TokenJobID = '$' + '(ESCAPE_SQUOTE(JOBID))'
SET @TokenStepID = '$' + '(ESCAPE_SQUOTE(STEPID))'
SET @TokenDate = '$' + '(ESCAPE_SQUOTE(STRTDT))'
SET @TokenTime = '$' + '(ESCAPE_SQUOTE(STRTTM))'
SET @TokenLogDirectory = '$' + '(ESCAPE_SQUOTE(SQLLOGDIR))'

IF NOT EXISTS (SELECT * FROM msdb.dbo.syscategories WHERE [name] = @JobCategory AND category_class = 1)
BEGIN
  EXECUTE msdb.dbo.sp_add_category @class = N'JOB', @type = N'LOCAL', @name = @JobCategory
END

SET @JobName01 = 'DatabaseBackup - SYSTEM_DATABASES - FULL'
SET @JobCommand01 = 'EXECUTE [dbo].[DatabaseBackup]' + CHAR(13) + CHAR(10) + '@Databases = ''SYSTEM_DATABASES'',' + CHAR(13) + CHAR(10) + '@Directory = N''' + @BackupDirectory + ''',' + CHAR(13) + CHAR(10) + '@BackupType = ''FULL'',' + CHAR(13) + CHAR(10) + '@Verify = ''Y'',' + CHAR(13) + CHAR(10) + '@CleanupTime = 168,' + CHAR(13) + CHAR(10) + '@CheckSum = ''Y'',' + CHAR(13) + CHAR(10) + '@LogToTable = ''' + @LogToTable + ''''
SET @OutputFile01 = @TokenLogDirectory + @DirectorySeparator + 'DatabaseBackup_' + @TokenJobID + '_' + @TokenStepID + '_' + @TokenDate + '_' + @TokenTime + '.txt'

IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE [name] = @JobName01)
BEGIN
  EXECUTE msdb.dbo.sp_add_job @job_name = @JobName01, @description = @JobDescription, @category_name = @JobCategory, @owner_login_name = @JobOwner
  EXECUTE msdb.dbo.sp_add_jobstep @job_name = @JobName01, @step_name = @JobName01, @subsystem = 'TSQL', @command = @JobCommand01, @output_file_name = @OutputFile01, @database_name = @DatabaseName
  EXECUTE msdb.dbo.sp_add_jobserver @job_name = @JobName01
END

SET @JobName02 = 'IndexOptimize - USER_DATABASES'
SET @JobCommand02 = 'EXECUTE [dbo].[IndexOptimize]' + CHAR(13) + CHAR(10) + '@Databases = ''USER_DATABASES'',' + CHAR(13) + CHAR(10) + '@LogToTable = ''Y'''
SET @OutputFile02 = @TokenLogDirectory + @DirectorySeparator + 'IndexOptimize_' + @TokenJobID + '_' + @TokenStepID + '_' + @TokenDate + '_' + @TokenTime + '.txt'

IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE [name] = @JobName02)
BEGIN
  EXECUTE msdb.dbo.sp_add_job @job_name = @JobName02, @description = @JobDescription, @category_name = @JobCategory, @owner_login_name = @JobOwner
  EXECUTE msdb.dbo.sp_add_jobstep @job_name = @JobName02, @step_name = @JobName02, @subsystem = 'TSQL', @command = @JobCommand02, @output_file_name = @OutputFile02, @database_name = @DatabaseName
  EXECUTE msdb.dbo.sp_add_jobserver @job_name = @JobName02
END

SET @JobName03 = 'CommandLog Cleanup'
SET @JobCommand03 = 'sqlcmd -E -S ' + @TokenServer + ' -d ' + @DatabaseName + ' -Q "DELETE FROM [dbo].[CommandLog] WHERE StartTime < DATEADD(dd,-30,GETDATE())" -b'
SET @OutputFile03 = @TokenLogDirectory + @DirectorySeparator + 'CommandLogCleanup_' + @TokenJobID + '_' + @TokenStepID + '_' + @TokenDate + '_' + @TokenTime + '.txt'

IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE [name] = @JobName03)
BEGIN
  EXECUTE msdb.dbo.sp_add_job @job_name = @JobName03, @description = @JobDescription, @category_name = @JobCategory, @owner_login_name = @JobOwner
  EXECUTE msdb.dbo.sp_add_jobstep @job_name = @JobName03, @step_name = @JobName03, @subsystem = 'CMDEXEC', @command = @JobCommand03, @output_file_name = @OutputFile03
  EXECUTE msdb.dbo.sp_add_jobserver @job_name = @JobName03
END

-- One shared schedule for the weekly jobs, attached by id and by name.
EXECUTE msdb.dbo.sp_add_schedule
    @schedule_name = N'Weekly - Sunday 01:00',
    @freq_type = 8,
    @freq_interval = 1,
    @freq_recurrence_factor = 1,
    @active_start_time = 010000,
    @schedule_id = @ScheduleID OUTPUT
EXECUTE msdb.dbo.sp_attach_schedule @job_name = @JobName02, @schedule_id = @ScheduleID
EXECUTE msdb.dbo.sp_attach_schedule @job_name = @JobName03, @schedule_name = N'Weekly - Sunday 01:00'

EXECUTE msdb.dbo.sp_add_schedule N'Daily 23:00', 1, 4, 1, @active_start_time = 230000
EXECUTE msdb.dbo.sp_attach_schedule NULL, @JobName01, NULL, N'Daily 23:00'
GO
