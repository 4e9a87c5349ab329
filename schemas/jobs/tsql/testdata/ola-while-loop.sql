/*
Job creation in the manner of a maintenance solution's installer: the jobs are rows of a table
variable, chosen by platform, and created one by one in a WHILE loop. Written for msx's tests.
*/
USE [master]
GO
IF OBJECT_ID('tempdb..#Settings') IS NOT NULL DROP TABLE #Settings
CREATE TABLE #Settings ([Name] nvarchar(max), [Value] nvarchar(max))
INSERT INTO #Settings ([Name], [Value]) VALUES ('CreateJobs', 'Y')
INSERT INTO #Settings ([Name], [Value]) VALUES ('BackupRoot', N'\\nas01\sql''backups')
INSERT INTO #Settings ([Name], [Value]) VALUES ('KeepHours', NULL)
INSERT INTO #Settings ([Name], [Value]) VALUES ('Database', DB_NAME())
GO
IF (SELECT [Value] FROM #Settings WHERE [Name] = 'CreateJobs') = 'Y' AND SERVERPROPERTY('EngineEdition') NOT IN (4, 5) AND IS_SRVROLEMEMBER('sysadmin') = 1
BEGIN
  DECLARE @BackupRoot nvarchar(max), @KeepHours int, @Database nvarchar(max)
  DECLARE @Version numeric(18,10), @Platform nvarchar(max), @Separator nvarchar(max), @LogDir nvarchar(max)
  DECLARE @TokJob nvarchar(max), @TokStep nvarchar(max), @TokDate nvarchar(max), @TokTime nvarchar(max), @TokLog nvarchar(max)
  DECLARE @Owner sysname, @Category nvarchar(max) = 'Database Maintenance'

  DECLARE @Jobs TABLE (JobID int IDENTITY,
                       [Name] nvarchar(max),
                       TSQL nvarchar(max),
                       Shell nvarchar(max),
                       DatabaseName nvarchar(max),
                       FilePart nvarchar(max),
                       Selected bit DEFAULT 0,
                       Done bit DEFAULT 0)

  DECLARE @ID int, @Name nvarchar(max), @TSQL nvarchar(max), @Shell nvarchar(max), @Db nvarchar(max), @FilePart nvarchar(max)
  DECLARE @Subsystem nvarchar(max), @Command nvarchar(max), @StepDb nvarchar(max), @OutputFile nvarchar(max)

  SET @Version = CAST(LEFT(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)), CHARINDEX('.', CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max))) - 1) + '.' +
    REPLACE(RIGHT(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)), LEN(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max))) - CHARINDEX('.', CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(max)))), '.', '') AS numeric(18,10))

  IF @Version >= 14
    SELECT @Platform = host_platform FROM sys.dm_os_host_info
  ELSE
    SET @Platform = 'Windows'

  SELECT @Separator = CASE WHEN @Platform = 'Windows' THEN '\' WHEN @Platform = 'Linux' THEN '/' END
  SELECT @LogDir = [path] FROM sys.dm_os_server_diagnostics_log_configurations
  IF RIGHT(@LogDir, 1) = @Separator SET @LogDir = LEFT(@LogDir, LEN(@LogDir) - 1)

  -- Split so that SQLCMD mode does not take them for its variables.
  SET @TokJob = '$' + '(ESCAPE_SQUOTE(JOBID))'
  SET @TokStep = '$' + '(ESCAPE_SQUOTE(STEPID))'
  SET @TokDate = '$' + '(ESCAPE_SQUOTE(STRTDT))'
  SET @TokTime = '$' + '(ESCAPE_SQUOTE(STRTTM))'
  IF @Platform = 'Windows' SET @TokLog = '$' + '(ESCAPE_SQUOTE(SQLLOGDIR))'

  SELECT @BackupRoot = [Value] FROM #Settings WHERE [Name] = 'BackupRoot'
  SELECT @KeepHours = [Value] FROM #Settings WHERE [Name] = 'KeepHours'
  SELECT @Database = [Value] FROM #Settings WHERE [Name] = 'Database'
  SET @Owner = SUSER_SNAME(0x01)

  INSERT INTO @Jobs ([Name], TSQL, DatabaseName, FilePart)
  SELECT 'Backup - SYSTEM - FULL',
         'EXECUTE [dbo].[DatabaseBackup]' + CHAR(13) + CHAR(10) + '@Databases = ''SYSTEM_DATABASES'',' + CHAR(13) + CHAR(10) +
         '@Directory = ' + ISNULL('N''' + REPLACE(@BackupRoot, '''', '''''') + '''', 'NULL') + ',' + CHAR(13) + CHAR(10) +
         '@BackupType = ''FULL'',' + CHAR(13) + CHAR(10) + '@CleanupTime = ' + ISNULL(CAST(@KeepHours AS nvarchar), 'NULL'),
         @Database, 'Backup'

  INSERT INTO @Jobs ([Name], TSQL, DatabaseName, FilePart)
  VALUES ('Integrity - USER', 'EXECUTE [dbo].[DatabaseIntegrityCheck]' + CHAR(13) + CHAR(10) + '@Databases = ''USER_DATABASES''', @Database, 'Integrity'),
         ('History cleanup', 'EXECUTE dbo.sp_purge_jobhistory @oldest_date = NULL', 'msdb', NULL)

  INSERT INTO @Jobs ([Name], Shell, FilePart)
  SELECT 'Output file cleanup',
         'cmd /q /c "del "' + COALESCE(@TokLog, @LogDir) + '\*_*.txt""',
         'OutputFileCleanup'

  IF SERVERPROPERTY('EngineEdition') = 8
    UPDATE @Jobs SET Selected = 1 WHERE [Name] IN ('Integrity - USER', 'History cleanup')
  ELSE IF @Platform = 'Windows'
    UPDATE @Jobs SET Selected = 1
  ELSE IF @Platform = 'Linux'
    UPDATE @Jobs SET Selected = 1 WHERE TSQL IS NOT NULL

  WHILE EXISTS (SELECT * FROM @Jobs WHERE Done = 0 AND Selected = 1)
  BEGIN
    SELECT TOP 1 @ID = JobID, @Name = [Name], @TSQL = TSQL, @Shell = Shell, @Db = DatabaseName, @FilePart = FilePart
    FROM @Jobs
    WHERE Done = 0 AND Selected = 1
    ORDER BY JobID ASC

    IF @TSQL IS NOT NULL
    BEGIN
      SET @Subsystem = 'TSQL'
      SET @Command = @TSQL
      SET @StepDb = @Db
    END
    ELSE IF @Shell IS NOT NULL AND @Platform = 'Windows'
    BEGIN
      SET @Subsystem = 'CMDEXEC'
      SET @Command = @Shell
      SET @StepDb = NULL
    END

    SET @OutputFile = COALESCE(@TokLog, @LogDir) + @Separator + ISNULL(@FilePart + '_', '') + @TokJob + '_' + @TokStep + '_' + @TokDate + '_' + @TokTime + '.txt'
    IF LEN(@OutputFile) > 200 SET @OutputFile = NULL

    IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE [name] = @Name)
    BEGIN
      EXECUTE msdb.dbo.sp_add_job @job_name = @Name, @description = 'Source: maintenance installer', @category_name = @Category, @owner_login_name = @Owner
      EXECUTE msdb.dbo.sp_add_jobstep @job_name = @Name, @step_name = @Name, @subsystem = @Subsystem, @command = @Command, @output_file_name = @OutputFile, @database_name = @StepDb
      EXECUTE msdb.dbo.sp_add_jobserver @job_name = @Name
    END

    UPDATE J SET Done = 1 FROM @Jobs J WHERE JobID = @ID

    SELECT @ID = NULL, @Name = NULL, @TSQL = NULL, @Shell = NULL, @Db = NULL, @FilePart = NULL, @Subsystem = NULL, @Command = NULL, @StepDb = NULL, @OutputFile = NULL
  END
END
GO
