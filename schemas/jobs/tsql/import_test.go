package tsql

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

func ptr[T any](v T) *T { return &v }

// Values shared by the Ola Hallengren-style jobs.
const (
	olaDescription = "Source: https://ola.hallengren.com"
	olaCategory    = "Database Maintenance"
	olaTokens      = "_$(ESCAPE_SQUOTE(JOBID))_$(ESCAPE_SQUOTE(STEPID))_$(ESCAPE_SQUOTE(STRTDT))_$(ESCAPE_SQUOTE(STRTTM)).txt"
	ssmsOutput     = `$(ESCAPE_SQUOTE(SQLLOGDIR))\ETL` + olaTokens
)

var olaWeekly = schedule.Schedule{Name: "Weekly - Sunday 01:00", FreqType: 8, FreqInterval: 1, FreqRecurrenceFactor: 1, ActiveStartTime: 10000}

// importCases are scripts for Import, inline (in) or in testdata (file); FuzzImport starts from
// them.
var importCases = []struct {
	name     string
	file     string
	in       string
	want     []jobs.Job
	problems []Problem
	wantErr  error
}{
	{
		name: "SSMS Script Job as CREATE",
		file: "testdata/ssms-multistep.sql",
		want: []jobs.Job{{
			Name:                "Nightly ETL - Sales",
			Description:         "Loads the day's orders into the warehouse.",
			Enabled:             ptr(true),
			Category:            "Data Warehouse",
			Owner:               `CORP\svc_sqlagent`,
			StartStepID:         1,
			NotifyLevelEventlog: ptr(2),
			NotifyLevelEmail:    2,
			NotifyEmailOperator: "DBA Team",
			Steps: []jobs.Step{
				{
					StepID: 1, StepName: "Stage orders", Subsystem: "TSQL",
					Command:      "EXEC etl.StageOrders\n\t@RunDate = '$(ESCAPE_SQUOTE(STRTDT))',\n\t@Source = N'[sales].[orders]';",
					DatabaseName: "SalesStage", OnSuccessAction: 3, OnFailAction: 4, OnFailStepID: 3,
					RetryAttempts: 3, RetryInterval: 5, OutputFileName: ssmsOutput, Flags: 2,
				},
				{
					StepID: 2, StepName: "Merge into warehouse", Subsystem: "TSQL",
					Command:      "/* merge -- then update statistics */\nEXEC dw.MergeOrders; -- not a comment for the script",
					DatabaseName: "SalesDW", OnSuccessAction: 1, OnFailAction: 4, OnFailStepID: 3,
					OutputFileName: ssmsOutput, Flags: 2,
				},
				{
					StepID: 3, StepName: "Notify failure", Subsystem: "PowerShell",
					Command:         `Send-MailMessage -To "dba@example.com" -Subject "ETL failed on $(ESCAPE_DQUOTE(SRVR))" -SmtpServer smtp`,
					OnSuccessAction: 2, OnFailAction: 2, ProxyName: "MailProxy",
				},
			},
			Schedules: []schedule.Schedule{
				{
					Name: "Every 15 minutes, 06:00-20:00", Enabled: ptr(true), FreqType: 4, FreqInterval: 1,
					FreqSubdayType: 4, FreqSubdayInterval: 15, ActiveStartDate: 20240101, ActiveEndDate: 99991231,
					ActiveStartTime: 60000, ActiveEndTime: 200000,
				},
				{
					Name: "Mon Wed Fri 22:30", Enabled: ptr(false), FreqType: 8, FreqInterval: 2 | 8 | 32,
					FreqSubdayType: 1, FreqRecurrenceFactor: 1, ActiveStartDate: 20240101, ActiveEndDate: 20251231,
					ActiveStartTime: 223000, ActiveEndTime: 235959,
				},
			},
		}},
		problems: []Problem{
			{93, "@schedule_uid ignored: msx identifies a schedule by its name in the job"},
			{107, "@schedule_uid ignored: msx identifies a schedule by its name in the job"},
		},
	},
	{
		name: "Ola Hallengren maintenance jobs",
		file: "testdata/ola-maintenance.sql",
		want: []jobs.Job{
			{
				Name: "DatabaseBackup - SYSTEM_DATABASES - FULL", Description: olaDescription, Category: olaCategory, Owner: "sa",
				Steps: []jobs.Step{{
					StepID: 1, StepName: "DatabaseBackup - SYSTEM_DATABASES - FULL", Subsystem: "TSQL", DatabaseName: "master",
					Command: "EXECUTE [dbo].[DatabaseBackup]\r\n@Databases = 'SYSTEM_DATABASES',\r\n@Directory = N'\\\\backup01\\sql',\r\n" +
						"@BackupType = 'FULL',\r\n@Verify = 'Y',\r\n@CleanupTime = 168,\r\n@CheckSum = 'Y',\r\n@LogToTable = 'Y'",
					OutputFileName: `$(ESCAPE_SQUOTE(SQLLOGDIR))\DatabaseBackup` + olaTokens,
				}},
				Schedules: []schedule.Schedule{{Name: "Daily 23:00", Enabled: ptr(true), FreqType: 4, FreqInterval: 1, ActiveStartTime: 230000}},
			},
			{
				Name: "IndexOptimize - USER_DATABASES", Description: olaDescription, Category: olaCategory, Owner: "sa",
				Steps: []jobs.Step{{
					StepID: 1, StepName: "IndexOptimize - USER_DATABASES", Subsystem: "TSQL", DatabaseName: "master",
					Command:        "EXECUTE [dbo].[IndexOptimize]\r\n@Databases = 'USER_DATABASES',\r\n@LogToTable = 'Y'",
					OutputFileName: `$(ESCAPE_SQUOTE(SQLLOGDIR))\IndexOptimize` + olaTokens,
				}},
				Schedules: []schedule.Schedule{olaWeekly},
			},
			{
				Name: "CommandLog Cleanup", Description: olaDescription, Category: olaCategory, Owner: "sa",
				Steps: []jobs.Step{{
					StepID: 1, StepName: "CommandLog Cleanup", Subsystem: "CMDEXEC",
					Command:        `sqlcmd -E -S $(ESCAPE_SQUOTE(SRVR)) -d master -Q "DELETE FROM [dbo].[CommandLog] WHERE StartTime < DATEADD(dd,-30,GETDATE())" -b`,
					OutputFileName: `$(ESCAPE_SQUOTE(SQLLOGDIR))\CommandLogCleanup` + olaTokens,
				}},
				Schedules: []schedule.Schedule{olaWeekly},
			},
		},
	},
	{
		name: "GO on a line inside a string",
		file: "testdata/go-in-string.sql",
		want: []jobs.Job{{
			Name: "Rebuild error views",
			Steps: []jobs.Step{{
				StepID: 1, StepName: "Recreate 'error' views", DatabaseName: "DBA",
				Command: "CREATE OR ALTER VIEW dbo.RecentErrors AS\nSELECT TOP (100) * FROM dbo.ErrorLog ORDER BY LogDate DESC;\nGO\n" +
					"-- recreate the statistics as well\nUPDATE STATISTICS dbo.ErrorLog;\ngo\n" +
					"SELECT 'GO' AS [word], N'it''s /* not a comment */' AS [text];\n  GO  \n",
			}},
		}},
	},
	{
		name: "unsupported procedures and parameters",
		file: "testdata/unsupported.sql",
		want: []jobs.Job{{
			Name: "Check integrity", Enabled: ptr(true), NotifyLevelPage: 2, NotifyPageOperator: "DBA Pager",
			Steps:   []jobs.Step{{StepID: 1, StepName: "DBCC CHECKDB", Subsystem: "TSQL", Command: "DBCC CHECKDB WITH NO_INFOMSGS"}},
			Targets: jobs.Targets{Servers: []string{`SQL02\REPORTING`, "SQL03"}},
		}},
		problems: []Problem{
			{9, "@notify_level_netsend ignored: " + WhyNetSend},
			{10, "@notify_netsend_operator_name ignored: " + WhyNetSend},
			{13, "@originating_server ignored: " + whyOrigin},
			{17, "@os_run_priority ignored: msx does not set OS priority"},
			{20, "@database_user_name ignored: msx runs T-SQL steps as the agent's login; use EXECUTE AS USER in the command"},
			{21, "@proxy_id ignored: proxy ids are local to a server; give @proxy_name"},
			{23, "sp_add_notification not imported: the alert 'Severity 024' is not created in this script; add the notification with msx alert update --notify"},
			{24, "unknown procedure dbo.usp_RegisterJob not imported: Import translates the msdb job procedures (sp_add_job, sp_add_jobstep, " +
				"sp_add_jobschedule, sp_add_schedule, sp_attach_schedule, sp_update_job, sp_add_jobserver, sp_apply_job_to_targets, sp_add_category)"},
			{25, "@whatever ignored: sp_add_jobserver has no parameter @whatever (SQL Server error 8145)"},
			{26, "INSERT statement not imported: Import reads the msdb job procedures and the variables and table variables they use"},
			{31, "sp_add_jobstep not imported: the job 'Some other job' is not created in this script, and Import translates whole jobs"},
			{32, "msdb.dbo.sp_start_job not imported: " + unsupportedProcedures["sp_start_job"]},
			{38, "GO 2: the batch before it is imported once, not repeated"},
		},
	},
	{
		name: "positional arguments",
		in: "EXEC msdb.dbo.sp_add_job N'Simple', 0, N'No description available.', DEFAULT, N'[Uncategorized (Local)]'\n" +
			"EXEC msdb.dbo.sp_add_jobstep NULL, N'Simple', 1, N'Only step', CmdExec, N'cmd /c echo \"hi\"'\n" +
			"EXEC msdb..sp_add_jobschedule NULL, N'Simple', N'Monthly', 1, 16, 15",
		want: []jobs.Job{{
			Name: "Simple", Enabled: ptr(false),
			Steps:     []jobs.Step{{StepID: 1, StepName: "Only step", Subsystem: "CmdExec", Command: `cmd /c echo "hi"`}},
			Schedules: []schedule.Schedule{{Name: "Monthly", Enabled: ptr(true), FreqType: 16, FreqInterval: 15}},
		}},
	},
	{
		name: "argument mistakes",
		in: "EXEC sp_add_job @job_name = N'J', N'positional after named', @enabled = N'yes', @enabled = 1\n" +
			"EXEC sp_add_jobstep N'x', N'J', 1, N's', N'TSQL', N'SELECT 1', NULL, 0, 1, 0, 2, 0, NULL, N'master', NULL, 0, 0, 0, NULL, 0, NULL, NULL, NULL, N'extra'\n" +
			"EXEC sp_add_jobstep @job_name = N'J', @step_name = N's2', @command = N'SELECT 2', @retry_attempts = 1.5, @step_id = -1\n" +
			"EXEC sp_add_jobstep @job_name = N'J', @step_name = N's3', @command = 'a' + 'b'",
		want: []jobs.Job{{
			Name: "J",
			Steps: []jobs.Step{
				{StepID: 1, StepName: "s2", Command: "SELECT 2"},
			},
		}},
		problems: []Problem{
			{1, "sp_add_job: an argument without a name after named ones (SQL Server error 119) is ignored"},
			{1, "@enabled ignored: it is given twice (SQL Server error 8143)"},
			{1, "@enabled ignored: 'yes' is not an integer"},
			{2, "sp_add_jobstep: too many arguments (SQL Server error 8144): 'extra' is ignored"},
			{2, "sp_add_jobstep not imported: the job with id 'x' is not created in this script, and Import translates whole jobs"},
			{3, "@retry_attempts ignored: 1.5 is not an integer"},
			{3, "@step_id -1 is invalid: the job has 0 steps, so a new step is 1..1 (SQL Server error 14266); the step is added as step 1"},
			{4, "the arguments of sp_add_jobstep could not be read (a procedure argument is a constant or a variable): not imported"},
		},
	},
	{
		name: "variables",
		in: `DECLARE @name sysname, @n INT = '3', @short nvarchar(5), @one varchar, @cmd nvarchar(max) = N'SELECT'
SET @cmd += N' 1' + CHAR(59) + NCHAR(233)
SELECT @name = N'Var' + N'iables', @short = N'truncated'
SET @one = 'xy'
DECLARE @unknown nvarchar(max) = dbo.fn(N'x'), @null nvarchar(10) = NULL + N'x', @mixed nvarchar(10) = N'a' + 1
DECLARE @fromQuery nvarchar(100)
SELECT @fromQuery = name FROM sys.databases WHERE database_id = 1
SET @undeclared = 1
EXEC msdb.dbo.sp_add_job @job_name = @name, @description = @short, @category_name = @one, @notify_level_email = @n,
	@owner_login_name = @unknown
EXEC msdb.dbo.sp_add_jobstep @job_name = @name, @step_name = @fromQuery, @command = @cmd, @database_name = @null, @output_file_name = @mixed,
	@proxy_name = @nope`,
		want: []jobs.Job{{
			Name: "Variables", Description: "trunc", Category: "x", NotifyLevelEmail: 3,
			Steps: []jobs.Step{{StepID: 1, Command: "SELECT 1;é"}},
		}},
		problems: []Problem{
			{3, `@short holds at most 5 characters: the value assigned is cut to "trunc", as SQL Server does`},
			{4, `@one holds at most 1 character: the value assigned is cut to "x", as SQL Server does`},
			{8, "@undeclared is not declared in this batch (SQL Server error 137): the assignment is ignored"},
			{10, "@owner_login_name ignored: its value is not known: dbo.fn() at line 5 is a function of a database, which Import does not run"},
			{11, "@step_name ignored: its value is not known: @fromQuery is set at line 7 from a query Import does not evaluate: sys.databases is not a table Import reads: " +
				"it answers table variables, temporary tables, msdb's sysjobs, sysjobs_view, syscategories, sysoperators, sysalerts and sysschedules " +
				"(from what the script creates), sys.dm_os_host_info and sys.dm_os_server_diagnostics_log_configurations"},
			{11, "@output_file_name ignored: its value is not known: the value at line 5 applies + to 'a' and 1, which Import does not evaluate"},
			{12, "@proxy_name ignored: its value is not known: @nope is not declared in this batch (SQL Server error 137)"},
		},
	},
	{
		name: "variable set inside an IF",
		in: `DECLARE @name nvarchar(100) = N'Conditional', @owner sysname = N'sa'
IF OBJECT_ID(N'dbo.Config') IS NOT NULL
BEGIN
	DECLARE @inner nvarchar(10) = N'inner'
	SET @owner = N'CORP\agent'
	EXEC sp_add_job @job_name = @name, @owner_login_name = @owner, @description = @inner
END
EXEC sp_update_job @job_name = @name, @owner_login_name = @owner, @category_name = @inner`,
		want: []jobs.Job{{Name: "Conditional", Owner: `CORP\agent`, Description: "inner", Category: "inner"}},
		problems: []Problem{
			{8, "@owner_login_name ignored: its value is not known: @owner is set inside the IF at line 2, so its value depends on a condition Import does not evaluate"},
		},
	},
	{
		name: "SSMS pattern that looks the job up first",
		in: `BEGIN TRANSACTION
DECLARE @ReturnCode INT
SELECT @ReturnCode = 0
DECLARE @jobId BINARY(16)
select @jobId = job_id from msdb.dbo.sysjobs where (name = N'Lookup first')
if (@jobId is NULL)
BEGIN
EXEC @ReturnCode =  msdb.dbo.sp_add_job @job_name=N'Lookup first', @job_id = @jobId OUTPUT
IF (@@ERROR <> 0 OR @ReturnCode <> 0) GOTO QuitWithRollback
END
IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobsteps WHERE job_id = @jobId AND step_id = 1)
EXEC @ReturnCode = msdb.dbo.sp_add_jobstep @job_id=@jobId, @step_name=N'one', @step_id=1, @command=N'SELECT 1';
COMMIT TRANSACTION`,
		want: []jobs.Job{{Name: "Lookup first", Steps: []jobs.Step{{StepID: 1, StepName: "one", Command: "SELECT 1"}}}},
	},
	{
		name: "step inserted before others",
		in: `DECLARE @j uniqueidentifier
EXEC sp_add_job @job_name = N'Insert', @job_id = @j OUTPUT
EXEC sp_add_jobstep @job_id = @j, @step_name = N'b', @command = N'B', @on_success_action = 3, @on_fail_action = 4, @on_fail_step_id = 2
EXEC sp_add_jobstep @job_id = @j, @step_name = N'c', @command = N'C'
EXEC sp_add_jobstep @job_id = @j, @step_name = N'a', @command = N'A', @step_id = 1, @on_fail_action = 4, @on_fail_step_id = 3
EXEC sp_add_jobstep @job_id = @j, @step_name = N'e', @command = N'E', @step_id = 9`,
		want: []jobs.Job{{Name: "Insert", Steps: []jobs.Step{
			{StepID: 1, StepName: "a", Command: "A", OnFailAction: 4, OnFailStepID: 3},
			{StepID: 2, StepName: "b", Command: "B", OnSuccessAction: 3, OnFailAction: 4, OnFailStepID: 3},
			{StepID: 3, StepName: "c", Command: "C"},
			{StepID: 4, StepName: "e", Command: "E"},
		}}},
		problems: []Problem{
			{6, "@step_id 9 is invalid: the job has 3 steps, so a new step is 1..4 (SQL Server error 14266); the step is added as step 4"},
		},
	},
	{
		name: "update, targets and a literal job id",
		in: `EXEC sp_add_job @job_name = N'Old name', @job_id = N'0B2C3D4E-0000-0000-0000-000000000001', @enabled = 1
EXEC sp_add_jobstep @job_id = N'0b2c3d4e-0000-0000-0000-000000000001', @step_name = N's', @command = N'x'
EXEC sp_update_job @job_name = N'old NAME ', @new_name = N'New name', @enabled = 0, @description = N'd', @start_step_id = 1,
	@notify_level_eventlog = 0, @delete_level = 3, @automatic_post = 1
EXEC sp_add_jobserver @job_name = N'New name', @server_name = N'sql01'
EXEC sp_add_jobserver @job_name = N'New name', @server_name = N'(LOCAL)'
EXEC sp_add_jobserver @job_name = N'New name', @server_name = @@SERVERNAME
EXEC sp_apply_job_to_targets @job_name = N'New name', @target_servers = N'SQL02, SQL03\ETL', @target_server_groups = N'Production,Reporting'
EXEC sp_apply_job_to_targets @job_name = N'New name', @target_server_groups = N'Test', @operation = N'REMOVE'
EXEC sp_update_job @job_name = N'Old name', @enabled = 1`,
		want: []jobs.Job{{
			Name: "New name", Enabled: ptr(false), Description: "d", StartStepID: 1, NotifyLevelEventlog: ptr(0), DeleteLevel: 3,
			Steps:   []jobs.Step{{StepID: 1, StepName: "s", Command: "x"}},
			Targets: jobs.Targets{Servers: []string{"sql01", "SQL02", `SQL03\ETL`}, Groups: []string{"Production", "Reporting"}},
		}},
		problems: []Problem{
			{1, "@job_id ignored: the msx master assigns job ids (later calls of this script may still use it)"},
			{9, "sp_apply_job_to_targets @operation = 'REMOVE' not imported: Import adds targets (APPLY); remove targets by editing the job"},
			{10, "sp_update_job not imported: the job 'Old name' is not created in this script, and Import translates whole jobs"},
		},
	},
	{
		name: "duplicate job",
		in: `DECLARE @a BINARY(16), @b BINARY(16)
EXEC sp_add_job @job_name = N'Twice', @job_id = @a OUTPUT
EXEC sp_add_job @job_name = N'twice', @description = N'second', @job_id = @b OUTPUT
EXEC sp_add_jobstep @job_id = @b, @step_name = N's', @command = N'x'
EXEC sp_add_jobstep @job_id = @a, @step_name = N's', @command = N'x'`,
		want: []jobs.Job{{Name: "Twice", Steps: []jobs.Step{{StepID: 1, StepName: "s", Command: "x"}}}},
		problems: []Problem{
			{3, "sp_add_job not imported: the job 'twice' is already created at line 2 (SQL Server error 14261)"},
			{4, "sp_add_jobstep not imported: the job it refers to is not known: the sp_add_job at line 3 that sets it was not imported"},
		},
	},
	{
		name: "loops, CATCH blocks and schedules",
		in: `DECLARE @i int = 0, @sched int
BEGIN TRY
	EXEC sp_add_job @job_name = N'Guarded'
	EXEC sp_add_jobstep @job_name = N'Guarded', @step_name = N's', @command = N'x'
END TRY
BEGIN CATCH
	EXEC sp_delete_job @job_name = N'Guarded'
	SET @i = 1
END CATCH
WHILE @i < 3
BEGIN
	EXEC sp_add_jobschedule @job_name = N'Guarded', @name = N'loop', @freq_type = 64
	SET @i = @i + 1
END
EXEC sp_add_jobschedule @job_name = N'Guarded', @name = N'start', @freq_type = 64, @active_start_time = @i, @schedule_id = @sched OUTPUT
EXEC sp_add_schedule @schedule_name = N'Orphan', @freq_type = 1, @owner_login_name = N'sa', @schedule_uid = N'abc'
EXEC sp_attach_schedule @job_name = N'Guarded', @schedule_id = @sched
EXEC sp_attach_schedule @job_name = N'Guarded', @schedule_name = N'Nowhere'
EXEC sp_delete_job @job_name = N'Not here'
EXEC otherdb.dbo.sp_add_job @job_name = N'Elsewhere'`,
		want: []jobs.Job{{
			Name:      "Guarded",
			Steps:     []jobs.Step{{StepID: 1, StepName: "s", Command: "x"}},
			Schedules: []schedule.Schedule{{Name: "start", FreqType: 64}},
		}},
		problems: []Problem{
			{7, "EXEC sp_delete_job not imported: it is in the CATCH block at line 6, which runs only after an error"},
			{12, "EXEC sp_add_jobschedule not imported: it is in the WHILE loop at line 10, whose condition Import does not evaluate " +
				"(@i is changed at line 8, where it is in the CATCH block at line 6, which runs only after an error)"},
			{15, "@active_start_time ignored: its value is not known: @i is changed at line 13, where it is in the WHILE loop at line 10, " +
				"whose condition Import does not evaluate (@i is changed at line 8, where it is in the CATCH block at line 6, which runs only after an error)"},
			{16, "@owner_login_name ignored: an msx schedule belongs to its job and has no owner"},
			{16, "schedule 'Orphan' is not imported: no sp_attach_schedule attaches it to a job of this script, and an msx schedule belongs to a job"},
			{17, "sp_attach_schedule not imported: the schedule it refers to is not known: it is the id of a schedule that sp_add_jobschedule attached to its job at line 15"},
			{18, "sp_attach_schedule not imported: the schedule 'Nowhere' is not created in this script by sp_add_schedule"},
			{19, "sp_delete_job not imported: it deletes a job this script does not create; delete jobs with msx job delete"},
			{20, "unknown procedure otherdb.dbo.sp_add_job not imported: Import translates the msdb job procedures (sp_add_job, sp_add_jobstep, " +
				"sp_add_jobschedule, sp_add_schedule, sp_attach_schedule, sp_update_job, sp_add_jobserver, sp_apply_job_to_targets, sp_add_category)"},
		},
	},
	{
		name: "variables end at GO",
		in:   "DECLARE @n sysname = N'Batch'\nEXEC sp_add_job @job_name = @n\nGO\nEXEC sp_add_jobstep @job_name = @n, @step_name = N's', @command = N'x'\nGO",
		want: []jobs.Job{{Name: "Batch"}},
		problems: []Problem{
			{4, "@job_name ignored: its value is not known: @n is not declared in this batch (SQL Server error 137)"},
			{4, "sp_add_jobstep not imported: it names no job (give @job_id or @job_name)"},
		},
	},
	{
		name:    "no job",
		in:      "USE msdb\nGO\nEXEC sp_start_job N'Nightly'\n",
		wantErr: ErrNoJob,
		problems: []Problem{
			{3, "sp_start_job not imported: " + unsupportedProcedures["sp_start_job"]},
		},
	},
	{name: "empty", in: "", wantErr: ErrNoJob},
	{name: "unterminated string", in: "EXEC sp_add_job N'x\n", wantErr: ErrSyntax},
	{name: "unterminated comment", in: "EXEC sp_add_job N'x' /*", wantErr: ErrSyntax},
}

func TestImport(t *testing.T) {
	for _, tc := range importCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(caseInput(t, tc.file, tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			checkJobs(t, res.Jobs, tc.want)
			if !reflect.DeepEqual(res.Problems, tc.problems) {
				t.Errorf("problems:\n got %s\nwant %s", toJSON(res.Problems), toJSON(tc.problems))
			}
		})
	}
}

// TestImportEncodings checks that line endings and encodings do not change what is imported.
func TestImportEncodings(t *testing.T) {
	src, err := os.ReadFile("testdata/ssms-multistep.sql")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Import(src)
	if err != nil {
		t.Fatal(err)
	}
	crlf := strings.ReplaceAll(string(src), "\n", "\r\n")
	utf16 := []byte{0xFF, 0xFE}
	for _, r := range string(src) {
		if r > 0xFFFF {
			t.Fatal("test script outside the BMP")
		}
		utf16 = append(utf16, byte(r), byte(r>>8))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		fix  func(string) string // how the encoding shows in strings
	}{
		{"crlf", []byte(crlf), func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
		{"utf-8 bom", append([]byte("\xef\xbb\xbf"), src...), func(s string) string { return s }},
		{"utf-16", utf16, func(s string) string { return s }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Import(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			w := cloneJobs(want.Jobs)
			for i := range w[0].Steps {
				w[0].Steps[i].Command = tc.fix(w[0].Steps[i].Command)
			}
			checkJobs(t, got.Jobs, w)
			if !reflect.DeepEqual(got.Problems, want.Problems) {
				t.Errorf("problems %v, want %v", got.Problems, want.Problems)
			}
		})
	}
}

func caseInput(t testing.TB, file, in string) []byte {
	t.Helper()
	if file == "" {
		return []byte(in)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkJobs(t testing.TB, got, want []jobs.Job) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("jobs:\n got %s\nwant %s", toJSON(got), toJSON(want))
	}
}

func toJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func cloneJobs(js []jobs.Job) []jobs.Job {
	var out []jobs.Job
	for _, j := range js {
		out = append(out, j.Clone())
	}
	return out
}
