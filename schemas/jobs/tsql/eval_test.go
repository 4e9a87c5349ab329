package tsql

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// evalCases are scripts that build their procedure calls with T-SQL: each gives the jobs'
// names, some fields to check, and problems that must be reported (by substring).
var evalCases = []struct {
	name     string
	file     string
	in       string
	opt      Options
	names    []string          // the jobs imported, in order
	fields   map[string]string // "job/field" → value, fields: command, output, subsystem, db, owner, category, description, step_name
	problems []string          // substrings of problems that must be reported
	clean    bool              // no problem at all
	wantErr  error
}{
	{
		name: "maintenance installer on Windows", file: "testdata/ola-while-loop.sql", clean: true,
		names: []string{"Backup - SYSTEM - FULL", "Integrity - USER", "History cleanup", "Output file cleanup"},
		fields: map[string]string{
			"Backup - SYSTEM - FULL/command": "EXECUTE [dbo].[DatabaseBackup]\r\n@Databases = 'SYSTEM_DATABASES',\r\n" +
				"@Directory = N'\\\\nas01\\sql''backups',\r\n@BackupType = 'FULL',\r\n@CleanupTime = NULL",
			"Backup - SYSTEM - FULL/output":   `$(ESCAPE_SQUOTE(SQLLOGDIR))\Backup_$(ESCAPE_SQUOTE(JOBID))_$(ESCAPE_SQUOTE(STEPID))_$(ESCAPE_SQUOTE(STRTDT))_$(ESCAPE_SQUOTE(STRTTM)).txt`,
			"Backup - SYSTEM - FULL/owner":    "sa",
			"Backup - SYSTEM - FULL/db":       "master",
			"Backup - SYSTEM - FULL/category": "Database Maintenance",
			"History cleanup/db":              "msdb",
			"History cleanup/output":          `$(ESCAPE_SQUOTE(SQLLOGDIR))\$(ESCAPE_SQUOTE(JOBID))_$(ESCAPE_SQUOTE(STEPID))_$(ESCAPE_SQUOTE(STRTDT))_$(ESCAPE_SQUOTE(STRTTM)).txt`,
			"Output file cleanup/subsystem":   "CMDEXEC",
			"Output file cleanup/command":     `cmd /q /c "del "$(ESCAPE_SQUOTE(SQLLOGDIR))\*_*.txt""`,
			"Output file cleanup/db":          "",
			"Integrity - USER/step_name":      "Integrity - USER",
			"Integrity - USER/description":    "Source: maintenance installer",
		},
	},
	{
		name: "maintenance installer on Linux", file: "testdata/ola-while-loop.sql", opt: Options{Platform: "linux"}, clean: true,
		names: []string{"Backup - SYSTEM - FULL", "Integrity - USER", "History cleanup"},
		fields: map[string]string{
			"Integrity - USER/output": "/var/opt/mssql/log/Integrity_$(ESCAPE_SQUOTE(JOBID))_$(ESCAPE_SQUOTE(STEPID))_$(ESCAPE_SQUOTE(STRTDT))_$(ESCAPE_SQUOTE(STRTTM)).txt",
		},
	},
	{
		name: "maintenance installer on a managed instance", file: "testdata/ola-while-loop.sql", opt: Options{Edition: "managed-instance"}, clean: true,
		names: []string{"Integrity - USER", "History cleanup"},
	},
	{
		name: "maintenance installer on Express creates nothing", file: "testdata/ola-while-loop.sql", opt: Options{Edition: "express"},
		wantErr: ErrNoJob, clean: true,
	},
	{
		name: "dbatools export of a whole Agent", file: "testdata/dbatools-agent.sql", clean: true,
		names: []string{"DatabaseBackup - SYSTEM_DATABASES - FULL", "DatabaseBackup - USER_DATABASES - FULL", "DatabaseBackup - USER_DATABASES - DIFF",
			"DatabaseBackup - USER_DATABASES - LOG", "DatabaseIntegrityCheck - SYSTEM_DATABASES", "DatabaseIntegrityCheck - USER_DATABASES",
			"IndexOptimize - USER_DATABASES", "CommandLog Cleanup", "Output File Cleanup", "sp_purge_jobhistory", "sp_delete_backuphistory",
			"ETL - Load Orders", "ETL - Load Customers", "ETL - Load Inventory", "Reporting - Refresh snapshots", "Reporting - Weekly summary",
			"DBA - Disk space report", "SQLPROD01-Sales-SalesPub-1", "SQLPROD01-Sales-1"},
		fields: map[string]string{"ETL - Load Orders/command": "EXEC etl.StageOrders @RunDate = '$(ESCAPE_SQUOTE(STRTDT))'"},
	},
	{
		name: "WHILE with BREAK, CONTINUE, DELETE and COUNT",
		in: `DECLARE @t TABLE (id int IDENTITY(1,1) PRIMARY KEY, name sysname NOT NULL, skip bit DEFAULT (0))
INSERT @t (name) VALUES (N'one'), (N'two'), (N'three'), (N'four')
UPDATE @t SET skip = 1 WHERE name LIKE 't_o'
DELETE FROM @t WHERE name = N'four'
DECLARE @i int = 0, @n int, @name sysname
SELECT @n = COUNT(*) FROM @t
WHILE 1 = 1
BEGIN
	SET @i += 1
	IF @i > @n BREAK
	SELECT @name = name FROM @t WHERE id = @i AND skip = 0
	IF @@ROWCOUNT = 0 CONTINUE
	EXEC msdb.dbo.sp_add_job @job_name = @name
	EXEC msdb.dbo.sp_add_jobstep @job_name = @name, @step_name = N'only', @command = N'SELECT 1'
END`,
		names: []string{"one", "three"}, clean: true,
	},
	{
		name: "cursor over a table variable",
		in: `DECLARE @jobs TABLE (name sysname, cmd nvarchar(max))
INSERT INTO @jobs (name, cmd) VALUES (N'Purge history', N'EXEC dbo.sp_purge_jobhistory'), (N'Check', N'DBCC CHECKDB')
DECLARE @name sysname, @cmd nvarchar(max)
DECLARE job_cur CURSOR LOCAL FAST_FORWARD FOR SELECT name, cmd FROM @jobs ORDER BY name
OPEN job_cur
FETCH NEXT FROM job_cur INTO @name, @cmd
WHILE @@FETCH_STATUS = 0
BEGIN
	EXEC msdb.dbo.sp_add_job @job_name = @name
	EXEC msdb.dbo.sp_add_jobstep @job_name = @name, @step_name = @name, @command = @cmd
	FETCH NEXT FROM job_cur INTO @name, @cmd
END
CLOSE job_cur
DEALLOCATE job_cur
FETCH NEXT FROM job_cur INTO @name, @cmd`,
		names: []string{"Check", "Purge history"}, fields: map[string]string{"Check/command": "DBCC CHECKDB"},
		problems: []string{"line 15: FETCH of the cursor job_cur, which is not declared (SQL Server error 16916): ignored"},
	},
	{
		name: "SELECT without TOP assigns the last row, as SQL Server does",
		in: `DECLARE @Jobs TABLE (JobID int IDENTITY, [Name] nvarchar(max), Completed bit DEFAULT 0)
INSERT INTO @Jobs ([Name]) SELECT 'first' UNION ALL SELECT 'second' UNION ALL SELECT 'third'
DECLARE @CurrentJobID int, @CurrentJobName nvarchar(max)
WHILE EXISTS (SELECT * FROM @Jobs WHERE Completed = 0)
BEGIN
	SELECT @CurrentJobID = JobID, @CurrentJobName = [Name] FROM @Jobs WHERE Completed = 0 ORDER BY JobID ASC
	EXECUTE msdb.dbo.sp_add_job @job_name = @CurrentJobName
	UPDATE Jobs SET Completed = 1 FROM @Jobs Jobs WHERE JobID = @CurrentJobID
END`,
		names: []string{"third", "second", "first"}, clean: true,
	},
	{
		name: "IF ELSE on @@VERSION and SERVERPROPERTY",
		in: `IF @@VERSION LIKE '%Linux%'
	EXEC sp_add_job @job_name = N'linux'
ELSE IF CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) LIKE N'Standard%'
	EXEC sp_add_job @job_name = N'standard'
ELSE
BEGIN
	EXEC sp_add_job @job_name = N'other'
END`,
		opt: Options{Edition: "standard"}, names: []string{"standard"}, clean: true,
	},
	{
		name: "string functions",
		in: `DECLARE @s nvarchar(200) = N'  Nightly Backup  '
DECLARE @c nvarchar(max) = UPPER(LTRIM(RTRIM(@s))) + N'|' + LOWER(LEFT(LTRIM(@s), 7)) + N'|' + RIGHT(RTRIM(@s), 6) + N'|' +
	SUBSTRING(@s, 3, 7) + N'|' + CAST(LEN(@s) AS nvarchar(10)) + N'|' + QUOTENAME(N'a]b') + N'|' + QUOTENAME(N'it''s', '''') + N'|' +
	REPLACE(N'a-b-c', N'-', NCHAR(95)) + N'|' + ISNULL(NULL, N'dflt') + N'|' + COALESCE(NULL, NULL, N'third') + N'|' +
	CASE WHEN LEN(@s) > 10 THEN N'long' ELSE N'short' END + N'|' + CASE 2 WHEN 1 THEN N'one' WHEN 2 THEN N'two' END + N'|' +
	CONVERT(nvarchar(5), 123456) + N'|' + CAST(CHARINDEX(N'back', @s) AS varchar) + N'|' + CONCAT(N'x', 1, NULL, N'y') + N'|' +
	CAST(10 / 3 AS nvarchar) + CHAR(13) + CHAR(10) + N'end'
EXEC sp_add_job @job_name = N'f'
EXEC sp_add_jobstep @job_name = N'f', @step_name = N's', @command = @c`,
		names: []string{"f"}, clean: true,
		fields: map[string]string{"f/command": "NIGHTLY BACKUP|nightly|Backup|Nightly|16|[a]]b]|'it''s'|a_b_c|dflt|third|long|two|12345|11|x1y|3\r\nend"},
	},
	{
		name: "dynamic SQL and sp_executesql with OUTPUT",
		in: `DECLARE @sql nvarchar(max), @name sysname = N'Dyn', @id uniqueidentifier
SET @sql = N'EXEC msdb.dbo.sp_add_job @job_name = N''' + REPLACE(@name, '''', '''''') + N''''
EXEC (@sql)
EXEC sp_executesql N'SELECT @out = job_id FROM msdb.dbo.sysjobs WHERE name = @n', N'@n sysname, @out uniqueidentifier OUTPUT', @n = @name, @out = @id OUTPUT
EXEC msdb.dbo.sp_add_jobstep @job_id = @id, @step_name = N'first', @command = N'SELECT 1'
EXEC sp_executesql @stmt = N'EXEC msdb.dbo.sp_update_jobstep @job_name = @j, @step_id = 1, @command = @c, @retry_attempts = 2', @params = N'@j sysname, @c nvarchar(max)', @j = N'Dyn', @c = N'SELECT 2'
EXEC (N'EXEC (N''EXEC msdb.dbo.sp_update_job @job_name = N''''Dyn'''', @description = N''''nested'''''')')`,
		names: []string{"Dyn"}, clean: true,
		fields: map[string]string{"Dyn/command": "SELECT 2", "Dyn/description": "nested"},
	},
	{
		name: "SQLCMD variables and Agent tokens",
		in: `:setvar JobName "Load"
:setvar Db Warehouse
:on error exit
EXEC msdb.dbo.sp_add_job @job_name = N'$(JobName) $(Env)'
EXEC msdb.dbo.sp_add_jobstep @job_name = N'$(JobName) $(Env)', @step_name = N's', @database_name = N'$(Db)',
	@command = N'EXEC load.Run @job = N''$(ESCAPE_SQUOTE(JOBNAME))'', @at = ''$(STRTDT)'', @x = ''$(Undefined)'''
:r other.sql`,
		opt:   Options{Vars: map[string]string{"Env": "PROD", "Db": "ignored: :setvar wins"}},
		names: []string{"Load PROD"},
		fields: map[string]string{
			"Load PROD/db":      "Warehouse",
			"Load PROD/command": "EXEC load.Run @job = N'$(ESCAPE_SQUOTE(JOBNAME))', @at = '$(STRTDT)', @x = '$(Undefined)'",
		},
		problems: []string{"line 6: the SQLCMD variable Undefined is not defined: give --var Undefined=VALUE", "line 7: the SQLCMD command :r is not run"},
	},
	{
		name: "the current database and the server's login",
		in: `USE [msdb]
DECLARE @db sysname = DB_NAME(DB_ID()), @rds bit = CASE WHEN DB_ID('rdsadmin') IS NOT NULL AND SUSER_SNAME(0x01) = 'rdsa' THEN 1 ELSE 0 END
IF IS_SRVROLEMEMBER('sysadmin') = 0 AND NOT (DB_ID('rdsadmin') IS NOT NULL) RAISERROR('not sysadmin', 16, 1)
IF @rds = 0
	EXEC sp_add_job @job_name = N'in db', @description = @db, @owner_login_name = SUSER_SNAME`,
		names: []string{"in db"}, fields: map[string]string{"in db/description": "msdb", "in db/owner": "SUSER_SNAME"}, clean: true,
	},
	{
		name: "IF NOT EXISTS guards and jobs created so far",
		in: `IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs WHERE name = N'Guarded')
	EXEC sp_add_job @job_name = N'Guarded'
IF NOT EXISTS (SELECT * FROM msdb.dbo.sysjobs_view WHERE name = N'guarded ')
	EXEC sp_add_job @job_name = N'Guarded'
IF EXISTS (SELECT 1 FROM msdb.dbo.syscategories WHERE name = N'Database Maintenance' AND category_class = 1)
	EXEC sp_add_job @job_name = N'Category exists'
IF NOT EXISTS (SELECT name FROM msdb.dbo.syscategories WHERE name = N'Custom')
	EXEC sp_add_category @name = N'Custom'
IF EXISTS (SELECT name FROM msdb.dbo.syscategories WHERE name = N'Custom')
	EXEC sp_add_job @job_name = N'Custom added', @category_name = N'Custom'`,
		names: []string{"Guarded", "Category exists", "Custom added"}, clean: true,
	},
	{
		name: "a job deleted and created again",
		in: `EXEC sp_add_job @job_name = N'Again', @description = N'first'
IF EXISTS (SELECT job_id FROM msdb.dbo.sysjobs_view WHERE name = N'Again')
	EXEC msdb.dbo.sp_delete_job @job_name = N'Again', @delete_unused_schedule = 1
EXEC sp_add_job @job_name = N'Again', @description = N'second'
DECLARE @id uniqueidentifier
EXEC sp_add_job @job_name = N'Gone', @job_id = @id OUTPUT
EXEC sp_delete_job @job_id = @id
EXEC sp_add_jobstep @job_id = @id, @step_name = N's', @command = N'x'`,
		names: []string{"Again"}, fields: map[string]string{"Again/description": "second"},
		problems: []string{"line 8: sp_add_jobstep not imported: the job it refers to is deleted at line 7"},
	},
	{
		name: "GOTO forward, back and nowhere",
		in: `DECLARE @skip bit = 1
IF @skip = 1 GOTO SkipJob
EXEC sp_add_job @job_name = N'skipped'
SkipJob:
EXEC sp_add_job @job_name = N'after the label'
Again:
IF @skip = 0 GOTO Again
GOTO Again
GOTO Nowhere
EXEC sp_add_job @job_name = N'not reached'
GO
EXEC sp_add_job @job_name = N'next batch'`,
		names: []string{"after the label", "not reached", "next batch"},
		problems: []string{"line 8: GOTO Again not followed: Import follows GOTO forward to a label of the same batch",
			"line 9: GOTO Nowhere not followed"},
	},
	{
		name: "a condition Import cannot evaluate keeps the old reading",
		in: `IF EXISTS (SELECT * FROM dbo.Settings WHERE k = 'jobs')
	EXEC sp_add_job @job_name = N'Assumed'
ELSE
	EXEC sp_add_job @job_name = N'Skipped'`,
		names:    []string{"Assumed"},
		problems: []string{"line 4: EXEC sp_add_job not imported: it is in the ELSE branch at line 3 of an IF whose condition Import does not evaluate"},
	},
	{
		name: "sp_update_jobstep of a step that is not there",
		in: `EXEC sp_add_job @job_name = N'u'
EXEC sp_add_jobstep @job_name = N'u', @step_name = N's', @command = N'x'
EXEC sp_update_jobstep @job_name = N'u', @step_id = 2, @command = N'y'`,
		names: []string{"u"}, fields: map[string]string{"u/command": "x"},
		problems: []string{"line 3: sp_update_jobstep not imported: the job 'u' has no step 2 (SQL Server error 14262)"},
	},
	{
		name: "endless loop", in: "DECLARE @i int = 0\nWHILE 1 = 1\n  SET @i = @i + 1\nEXEC sp_add_job @job_name = N'never'",
		opt: Options{MaxIterations: 1000}, wantErr: ErrLimit, problems: []string{"line 2: evaluation stopped: the WHILE loop at line 2 runs more than 1000 times"},
	},
	{
		name: "statement limit", in: "DECLARE @i int = 0\nWHILE @i < 100\nBEGIN\n  SET @i = @i + 1\nEND",
		opt: Options{MaxStatements: 50}, wantErr: ErrLimit, problems: []string{"evaluation stopped: the script runs more than 50 statements"},
	},
	{
		name: "string doubling", in: "DECLARE @s nvarchar(max) = N'x'\nWHILE 1 = 1\n  SET @s = @s + @s",
		opt: Options{MaxString: 1 << 16}, wantErr: ErrLimit, problems: []string{"line 3: evaluation stopped: a string of 131072 bytes is built, more than the 65536 bytes"},
	},
	{
		name:    "large strings in many rows",
		in:      "DECLARE @t TABLE (s nvarchar(max))\nDECLARE @i int = 0\nWHILE @i < 5000 BEGIN INSERT @t VALUES (REPLICATE(N'x', 60000)) SET @i += 1 END",
		wantErr: ErrLimit, problems: []string{"line 3: evaluation stopped: the script builds more strings than Import evaluates"},
	},
	{
		name: "REPLICATE bomb", in: "DECLARE @s nvarchar(max) = REPLICATE(N'abc', 2000000000)",
		wantErr: ErrLimit, problems: []string{"line 1: evaluation stopped: a string of"},
	},
	{
		name: "dynamic SQL that runs itself", in: "DECLARE @s nvarchar(max) = N'EXEC sp_executesql @stmt = @me, @params = N''@me nvarchar(max)'', @me = @me'\nEXEC sp_executesql @s, N'@me nvarchar(max)', @me = @s",
		wantErr: ErrLimit, problems: []string{"line 2: evaluation stopped: dynamic SQL is nested more than 8 deep"},
	},
	{
		name: "rows limit", in: "DECLARE @t TABLE (a int)\nINSERT @t VALUES (1)\nWHILE 1 = 1 INSERT @t SELECT a FROM @t",
		opt: Options{MaxRows: 1000}, wantErr: ErrLimit, problems: []string{"line 3: evaluation stopped: the script puts more than 1000 rows into its tables"},
	},
	{
		name: "nested subqueries over a large table",
		in: "DECLARE @t TABLE (a int)\nDECLARE @i int = 0\nWHILE @i < 300 BEGIN INSERT @t VALUES (@i) SET @i += 1 END\n" +
			"IF EXISTS (SELECT * FROM @t x WHERE EXISTS (SELECT * FROM @t y WHERE EXISTS (SELECT * FROM @t z WHERE z.a = -1))) PRINT 'never'",
		opt: Options{MaxStatements: 2_000}, wantErr: ErrLimit, problems: []string{"line 4: evaluation stopped: the script's queries read more than 200000 rows"},
	},
	{
		name: "deep nesting", in: "DECLARE @x int = " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + "\nEXEC sp_add_job @job_name = N'deep'",
		names: []string{"deep"},
	},
}

func TestEvaluate(t *testing.T) {
	for _, tc := range evalCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ImportWith(caseInput(t, tc.file, tc.in), tc.opt)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v; problems %v", err, tc.wantErr, res.Problems)
			}
			var names []string
			for _, j := range res.Jobs {
				names = append(names, j.Name)
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("jobs %q, want %q", names, tc.names)
			}
			for key, want := range tc.fields {
				job, field, _ := strings.Cut(key, "/")
				if got := jobField(res.Jobs, job, field); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			var msgs []string
			for _, p := range res.Problems {
				msgs = append(msgs, p.String())
			}
			all := strings.Join(msgs, "\n")
			for _, want := range tc.problems {
				if !strings.Contains(all, want) {
					t.Errorf("problems lack %q:\n%s", want, all)
				}
			}
			if tc.clean && len(msgs) > 0 {
				t.Errorf("problems reported:\n%s", all)
			}
		})
	}
}

// jobField returns a field of the first step (or of the job) of the named job.
func jobField(list []jobs.Job, name, field string) string {
	for _, j := range list {
		if j.Name != name {
			continue
		}
		var s jobs.Step
		if len(j.Steps) > 0 {
			s = j.Steps[0]
		}
		switch field {
		case "command":
			return s.Command
		case "output":
			return s.OutputFileName
		case "subsystem":
			return s.Subsystem
		case "db":
			return s.DatabaseName
		case "step_name":
			return s.StepName
		case "owner":
			return j.Owner
		case "category":
			return j.Category
		case "description":
			return j.Description
		}
		return "unknown field " + field
	}
	return "no job " + name
}

// TestPartition checks the partial import of a dbatools export: 17 of its 19 jobs are msx
// jobs, and the two replication jobs are named with the line of their sp_add_job and the reason.
func TestPartition(t *testing.T) {
	b, err := os.ReadFile("testdata/dbatools-agent.sql")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(b)
	if err != nil {
		t.Fatal(err)
	}
	ok, not := res.Partition(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if len(ok) != 17 || len(not) != 2 || len(res.Operators) != 2 || len(res.Alerts) != 3 {
		t.Fatalf("%d jobs imported, %d not, %d operators, %d alerts; want 17, 2, 2, 3: %+v", len(ok), len(not), len(res.Operators), len(res.Alerts), not)
	}
	want := []struct {
		job    string
		line   int
		reason string
	}{
		{"SQLPROD01-Sales-SalesPub-1", 1303, "the Snapshot subsystem is not supported by msx"},
		{"SQLPROD01-Sales-1", 1364, "retry_attempts 2147483647 is how replication agents say 'retry for ever'"},
	}
	for i, w := range want {
		if n := not[i]; n.Job != w.job || n.Line != w.line || !strings.Contains(n.Reason, w.reason) {
			t.Errorf("not imported %d = %+v, want %s at line %d: ...%s...", i, n, w.job, w.line, w.reason)
		}
	}
	for _, j := range ok {
		if l := j.Validate(); len(l) > 0 {
			t.Errorf("job %q is returned as valid: %v", j.Name, l)
		}
	}
	// The shared schedules are the jobs' own copies: none is left unattached.
	for _, j := range ok {
		if strings.HasPrefix(j.Name, "ETL - ") && (len(j.Schedules) != 1 || j.Schedules[0].Name != "Nightly 01:00" || j.Schedules[0].ActiveStartTime != 10000) {
			t.Errorf("job %q schedules %+v", j.Name, j.Schedules)
		}
	}
}

// TestOptionsErrors checks that wrong options are refused with what to give.
func TestOptionsErrors(t *testing.T) {
	for _, opt := range []Options{{Platform: "macos"}, {Edition: "free"}, {Vars: map[string]string{"a b": "x"}}, {Vars: map[string]string{"A": "x\ny"}}} {
		if _, err := ImportWith([]byte("EXEC sp_add_job N'x'"), opt); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: error %v, want ErrOptions", opt, err)
		}
	}
}

// TestTimeLimit checks that the time bound stops a slow script, naming the line.
func TestTimeLimit(t *testing.T) {
	script := "DECLARE @t TABLE (a int)\nDECLARE @i int = 0\nWHILE @i < 2000 BEGIN INSERT @t VALUES (@i) SET @i += 1 END\n" +
		"WHILE 1 = 1 IF EXISTS (SELECT * FROM @t WHERE a = -1) BREAK"
	_, err := ImportWith([]byte(script), Options{MaxTime: 50 * time.Millisecond, MaxIterations: 1 << 30, MaxStatements: 1 << 30})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "longer than 50ms") {
		t.Fatalf("error %v, want the time limit", err)
	}
}

// TestRoundTripScripts imports every test script (for each server the evaluation cases declare),
// exports each valid job, and imports the exports again, one by one and all in one script: the
// jobs are the same.
func TestRoundTripScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	type script struct {
		name string
		in   []byte
		opt  Options
	}
	var scripts []script
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, script{f, b, Options{}})
	}
	for _, tc := range evalCases {
		if tc.wantErr == nil {
			scripts = append(scripts, script{tc.name, caseInput(t, tc.file, tc.in), tc.opt})
		}
	}
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			res, err := ImportWith(s.in, s.opt)
			if err != nil {
				t.Fatal(err)
			}
			ok, _ := res.Partition(testDay)
			if len(ok) == 0 {
				t.Skip("the script creates no valid msx job")
			}
			// An export is T-SQL, not a SQLCMD script: $(NAME) in a command is text.
			s.opt.Vars = nil
			var all []byte
			for _, j := range ok {
				out, _ := Export(j)
				all = append(all, out...)
				again, err := ImportWith(out, s.opt)
				if err != nil {
					t.Fatal(err)
				}
				if len(again.Problems) != 0 || len(again.Jobs) != 1 {
					t.Fatalf("reimport of %q: %d jobs, problems %v", j.Name, len(again.Jobs), again.Problems)
				}
				checkRoundTrip(t, j, again.Jobs[0])
			}
			again, err := ImportWith(all, s.opt)
			if err != nil {
				t.Fatal(err)
			}
			back, not := again.Partition(testDay)
			if len(back) != len(ok) || len(not) != 0 {
				t.Fatalf("reimport of all: %d jobs and %d not, want %d", len(back), len(not), len(ok))
			}
			for i := range ok {
				checkRoundTrip(t, ok[i], back[i])
			}
		})
	}
}
