package migrate_test

// Tests of the migration from an MSX master: the TDS fake (internal/mssqltest) holds the old
// master's msdb and is read over the real go-mssqldb driver; the new side is a real in-process
// JetStream server, a real msx master and its HTTP API, and real target agents.

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/cmd/msx/internal/migrate"
	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/target"
)

const patience = 30 * time.Second

// msxMaster is the new side: a secure bus, a master and its API.
type msxMaster struct {
	bus *bustest.Secure
	m   *master.Master
	api *client.Client
}

func startMaster(tb testing.TB) *msxMaster {
	tb.Helper()
	f := &msxMaster{bus: bustest.RunSecureServer(tb)}
	nc, _ := f.bus.ConnectMaster(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), patience)
	defer cancel()
	m, err := master.Start(ctx, nc, master.Config{Name: "MSXNEW", Logger: bustest.Logger(tb), Auth: f.bus.Auth})
	if err != nil {
		tb.Fatalf("start master: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			tb.Errorf("master shutdown: %v", err)
		}
	})
	f.m = m
	srv := httptest.NewServer(api.New(m, bustest.Logger(tb)))
	tb.Cleanup(srv.Close)
	admin, _, err := m.Tokens.Create(tb.Context(), auth.RoleAdmin, 0, "test", "")
	if err != nil {
		tb.Fatal(err)
	}
	f.api = &client.Client{Base: srv.URL, Token: admin, HTTP: srv.Client()}
	return f
}

// enlist runs a target agent with token until the test ends, and waits until it is online.
func (f *msxMaster) enlist(tb testing.TB, name, token string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = target.Run(ctx, target.Config{Name: name, NATSURL: f.bus.ClientURL(), Token: token, DataDir: tb.TempDir(),
			HeartbeatInterval: 200 * time.Millisecond, Logger: bustest.Logger(tb), CAFile: f.bus.CAFile})
	}()
	tb.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(patience)
	for {
		if ts, ok := f.m.TargetServer(strings.ToUpper(name)); ok && ts.Connected {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("target %s did not come online", name)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// oldMaster is an MSX master in the TDS fake: four target servers (one whose name msx refuses),
// two groups (and one whose name msx refuses), multiserver jobs with a shared schedule, a job
// with a Snapshot step, a local job, operators and alerts.
func oldMaster(tb testing.TB) (*mssqltest.Server, *sql.DB) {
	tb.Helper()
	s := mssqltest.Start(tb, mssqltest.ServerName("OLDMSX"))
	for _, t := range []struct{ name, loc string }{{"SQL01", "rack 1"}, {"SQL02", "rack 2"}, {`SQL03\PROD`, "rack 3"}, {"SQL04.CORP.EXAMPLE", "dmz"}} {
		if _, err := s.EnlistTarget(t.name, t.loc); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.SetJobHistoryLimits(5000, 200); err != nil {
		tb.Fatal(err)
	}
	db := s.Client(tb)
	exec(tb, db, `
EXEC msdb.dbo.sp_add_category @class = N'JOB', @type = N'MULTI-SERVER', @name = N'Nightly Ops';
EXEC msdb.dbo.sp_add_targetservergroup @name = N'PROD';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'PROD', @server_name = N'SQL01';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'PROD', @server_name = N'SQL03\PROD';
EXEC msdb.dbo.sp_add_targetservergroup @name = N'ALL';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'ALL', @server_name = N'SQL01';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'ALL', @server_name = N'SQL02';
EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'ALL', @server_name = N'SQL04.CORP.EXAMPLE';
INSERT INTO msdb.dbo.systargetservergroups (name) VALUES (N'EAST,WEST');

EXEC msdb.dbo.sp_add_operator @name = N'DBA Team', @email_address = N'dba@example.com', @pager_days = 62;
EXEC msdb.dbo.sp_add_operator @name = N'Night Shift', @email_address = N'not an address', @netsend_address = N'NIGHTPC';
EXEC msdb.dbo.sp_add_alert @name = N'Severity 19', @severity = 19, @delay_between_responses = 60;
EXEC msdb.dbo.sp_add_notification @alert_name = N'Severity 19', @operator_name = N'DBA Team', @notification_method = 1;
EXEC msdb.dbo.sp_add_alert @name = N'Log full in Sales', @message_id = 9002, @database_name = N'Sales';

EXEC msdb.dbo.sp_add_job @job_name = N'Backup', @category_name = N'Nightly Ops', @owner_login_name = N'CORP\dbaowner',
	@description = N'Full backups', @notify_level_email = 2;
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Backup', @step_name = N'Full', @subsystem = N'TSQL',
	@command = N'BACKUP DATABASE [Sales] TO DISK = N''$(ESCAPE_SQUOTE(SRVR)).bak''', @database_name = N'master',
	@on_success_action = 3, @retry_attempts = 2, @retry_interval = 5;
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Backup', @step_name = N'Copy', @subsystem = N'CmdExec',
	@command = N'copy-backups.cmd', @os_run_priority = 1;
EXEC msdb.dbo.sp_add_schedule @schedule_name = N'Nightly 2am', @freq_type = 4, @freq_interval = 1, @active_start_time = 20000;
EXEC msdb.dbo.sp_attach_schedule @job_name = N'Backup', @schedule_name = N'Nightly 2am';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Backup', @server_name = N'SQL01';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Backup', @server_name = N'SQL02';
UPDATE msdb.dbo.sysjobs SET notify_email_operator_id = (SELECT id FROM msdb.dbo.sysoperators WHERE name = N'DBA Team')
	WHERE name = N'Backup';
EXEC msdb.dbo.sp_add_alert @name = N'Deadlocks', @message_id = 1205, @job_name = N'Backup';

EXEC msdb.dbo.sp_add_job @job_name = N'Index maintenance', @enabled = 0;
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Index maintenance', @step_name = N'Rebuild', @command = N'EXEC dbo.IndexOptimize';
EXEC msdb.dbo.sp_attach_schedule @job_name = N'Index maintenance', @schedule_name = N'Nightly 2am';
EXEC msdb.dbo.sp_add_jobschedule @job_name = N'Index maintenance', @name = N'Sundays', @freq_type = 8, @freq_interval = 1,
	@freq_recurrence_factor = 1, @active_start_time = 40000;
EXEC msdb.dbo.sp_add_schedule @schedule_name = N'SUNDAYS', @freq_type = 8, @freq_interval = 1, @freq_recurrence_factor = 1,
	@active_start_time = 220000;
EXEC msdb.dbo.sp_attach_schedule @job_name = N'Index maintenance', @schedule_name = N'SUNDAYS';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Index maintenance', @server_name = N'SQL03\PROD';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Index maintenance', @server_name = N'SQL04.CORP.EXAMPLE';

EXEC msdb.dbo.sp_add_job @job_name = N'Replication snapshot';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Replication snapshot', @step_name = N'Run agent', @subsystem = N'Snapshot',
	@command = N'-Publisher [SQL01] -Publication [Sales]';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Replication snapshot', @server_name = N'SQL01';

EXEC msdb.dbo.sp_add_job @job_name = N'Log reader';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Log reader', @step_name = N'Run', @subsystem = N'CmdExec', @command = N'logread.exe';
UPDATE msdb.dbo.sysjobsteps SET retry_attempts = 2147483647 WHERE step_name = N'Run' AND command = N'logread.exe';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Log reader', @server_name = N'SQL02';
INSERT INTO msdb.dbo.sysjobservers (job_id, server_id) SELECT job_id, 99 FROM msdb.dbo.sysjobs WHERE name = N'Backup';

EXEC msdb.dbo.sp_add_job @job_name = N'Huge command';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Huge command', @step_name = N'Big', @command = N'SELECT 1';
UPDATE msdb.dbo.sysjobsteps SET command = printf('%.*c', 600000, 'x') WHERE step_name = N'Big';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Huge command', @server_name = N'SQL01';

EXEC msdb.dbo.sp_add_job @job_name = N'Master local cleanup';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Master local cleanup', @step_name = N'Purge', @command = N'EXEC sp_purge_jobhistory';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Master local cleanup';
`)
	return s, db
}

func exec(tb testing.TB, db *sql.DB, batch string) {
	tb.Helper()
	if _, err := db.ExecContext(tb.Context(), batch); err != nil {
		tb.Fatalf("seed the fake: %v", err)
	}
}

func run(tb testing.TB, f *msxMaster, db *sql.DB, dryRun bool) *migrate.Plan {
	tb.Helper()
	src, err := migrate.Read(tb.Context(), db, migrate.Scope{})
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	p, err := (&migrate.Migrator{API: f.api}).Run(tb.Context(), src, dryRun)
	if err != nil {
		tb.Fatalf("run: %v", err)
	}
	return p
}

// item finds the plan's item of kind and name.
func item(tb testing.TB, p *migrate.Plan, kind, name string) migrate.Item {
	tb.Helper()
	for _, it := range p.Items {
		if it.Kind == kind && strings.EqualFold(it.Name, name) {
			return it
		}
	}
	tb.Fatalf("the plan has no %s %q: %+v", kind, name, p.Items)
	return migrate.Item{}
}

// wantAction checks that the plan has an item of kind and name with action and a reason that
// contains reason (an object may have a note besides its action).
func wantAction(tb testing.TB, p *migrate.Plan, kind, name, action, reason string) migrate.Item {
	tb.Helper()
	var got []migrate.Item
	for _, it := range p.Items {
		if it.Kind == kind && strings.EqualFold(it.Name, name) {
			if it.Action == action && strings.Contains(it.Reason, reason) {
				return it
			}
			got = append(got, it)
		}
	}
	tb.Errorf("%s %q: %+v, want %s with a reason containing %q", kind, name, got, action, reason)
	return migrate.Item{}
}

// TestMigrate moves an MSX master to msx in three runs: before any target enlisted (groups,
// jobs, operators, alerts and tokens), after two targets enlisted with their tokens (members and
// job targets), and with nothing changed; then a job changed at the source is updated.
func TestMigrate(t *testing.T) {
	_, db := oldMaster(t)
	f := startMaster(t)

	// The dry run plans everything and changes nothing.
	dry := run(t, f, db, true)
	wantAction(t, dry, migrate.KindJob, "Backup", migrate.ActionCreate, "")
	wantAction(t, dry, migrate.KindGroup, "PROD", migrate.ActionCreate, "")
	wantAction(t, dry, migrate.KindToken, "SQL01", migrate.ActionCreate, "")
	if got := f.m.Catalog.All(); len(got) != 0 {
		t.Fatalf("the dry run applied %d job(s)", len(got))
	}

	p := run(t, f, db, false)
	for _, c := range []struct{ kind, name, action, reason string }{
		{migrate.KindJob, "Backup", migrate.ActionCreate, ""},
		{migrate.KindJob, "Index maintenance", migrate.ActionCreate, ""},
		{migrate.KindJob, "Replication snapshot", migrate.ActionNotMigrated, "Snapshot"},
		{migrate.KindJob, "Log reader", migrate.ActionNotMigrated, "retry_attempts"},
		{migrate.KindJob, "Huge command", migrate.ActionNotMigrated, "command"},
		{migrate.KindJob, "Master local cleanup", migrate.ActionLeftOut, "local job of the master"},
		{migrate.KindTarget, "SQL04.CORP.EXAMPLE", migrate.ActionNotMigrated, "contains '.'"},
		{migrate.KindTarget, "SQL01", migrate.ActionPending, "enlist"},
		{migrate.KindGroup, "PROD", migrate.ActionCreate, ""},
		{migrate.KindGroup, "ALL", migrate.ActionCreate, ""},
		{migrate.KindGroup, "EAST,WEST", migrate.ActionNotMigrated, "comma"},
		{migrate.KindMember, "PROD/SQL01", migrate.ActionPending, "not enlisted"},
		{migrate.KindMember, "ALL/SQL04.CORP.EXAMPLE", migrate.ActionNotMigrated, "not migrated"},
		{migrate.KindOperator, "DBA Team", migrate.ActionCreate, ""},
		{migrate.KindOperator, "Night Shift", migrate.ActionNotMigrated, "not an e-mail address"},
		{migrate.KindOperator, "Night Shift", migrate.ActionNote, "netsend_address"},
		{migrate.KindAlert, "Severity 19", migrate.ActionCreate, ""},
		{migrate.KindAlert, "Deadlocks", migrate.ActionCreate, ""},
		{migrate.KindAlert, "Log full in Sales", migrate.ActionNotMigrated, "database"},
		{migrate.KindSetting, "job history limits", migrate.ActionNote, "5000 rows in all and 200 rows per job"},
	} {
		wantAction(t, p, c.kind, c.name, c.action, c.reason)
	}

	// What came across: names, category, owner, enabled flags, schedules (the shared one in
	// both jobs), steps, notification levels; no targets yet.
	backup, ok := f.m.Catalog.ByName("Backup")
	if !ok {
		t.Fatal("Backup was not created")
	}
	if backup.Category != "Nightly Ops" || backup.Owner != `CORP\dbaowner` || backup.Description != "Full backups" ||
		!backup.IsEnabled() || backup.NotifyLevelEmail != 2 || backup.NotifyEmailOperator != "DBA Team" || len(backup.Steps) != 2 || backup.Steps[0].RetryAttempts != 2 ||
		backup.Steps[1].Subsystem != "CmdExec" || len(backup.Schedules) != 1 || backup.Schedules[0].Name != "Nightly 2am" ||
		backup.Schedules[0].ActiveStartTime != 20000 || len(backup.Targets.Servers) != 0 {
		t.Errorf("Backup came across as %+v", backup)
	}
	if a, err := f.m.Notify.Alert(t.Context(), "Deadlocks"); err != nil || a.JobName != "Backup" || a.MessageID != 1205 {
		t.Errorf("alert Deadlocks came across as %+v (%v)", a, err)
	}
	if a, err := f.m.Notify.Alert(t.Context(), "Severity 19"); err != nil || len(a.Notifications) != 1 ||
		a.Notifications[0].OperatorName != "DBA Team" || a.DelayBetweenResponses != 60 {
		t.Errorf("alert Severity 19 came across as %+v (%v)", a, err)
	}
	idx, _ := f.m.Catalog.ByName("Index maintenance")
	if idx.IsEnabled() || len(idx.Schedules) != 3 || idx.Schedules[1].FreqType != 8 || idx.Schedules[2].Name != "SUNDAYS (2)" {
		t.Errorf("Index maintenance came across as %+v", idx)
	}
	notes := item(t, p, migrate.KindJob, "Backup").Notes
	for _, want := range []string{"os_run_priority", "server_id 99, which is not in systargetservers", "shared schedule 'Nightly 2am' (used by 2 jobs)", "not yet applied to SQL01, SQL02"} {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("Backup's notes do not say %q: %q", want, notes)
		}
	}

	// One token per valid target, bound to it, with the commands to enlist and defect.
	tokens := map[string]migrate.TargetPlan{}
	for _, tp := range p.Targets {
		tokens[tp.Server] = tp
	}
	if len(tokens) != 3 {
		t.Fatalf("targets planned: %+v, want SQL01, SQL02 and SQL03\\PROD", p.Targets)
	}
	for name, tp := range tokens {
		if tp.Token == "" || !strings.Contains(tp.Enlist, "--token "+tp.Token) || !strings.Contains(tp.Enlist, "--nats ") ||
			tp.Defect != "EXEC msdb.dbo.sp_msx_defect;" {
			t.Errorf("%s: %+v", name, tp)
		}
	}
	if !strings.Contains(tokens[`SQL03\PROD`].Enlist, `--name 'SQL03\PROD'`) {
		t.Errorf("a named instance is not quoted for the shell: %s", tokens[`SQL03\PROD`].Enlist)
	}

	// A token bound to SQL01 does not enlist another name.
	f.enlist(t, "SQL01", tokens["SQL01"].Token)
	f.enlist(t, `SQL03\PROD`, tokens[`SQL03\PROD`].Token)

	p = run(t, f, db, false)
	wantAction(t, p, migrate.KindMember, "PROD/SQL01", migrate.ActionCreate, "")
	wantAction(t, p, migrate.KindMember, `PROD/SQL03\PROD`, migrate.ActionCreate, "")
	wantAction(t, p, migrate.KindMember, "ALL/SQL02", migrate.ActionPending, "not enlisted")
	wantAction(t, p, migrate.KindTarget, "SQL01", migrate.ActionUnchanged, "enlisted")
	wantAction(t, p, migrate.KindToken, "SQL02", migrate.ActionUnchanged, "unused enlistment token")
	wantAction(t, p, migrate.KindGroup, "PROD", migrate.ActionUnchanged, "")
	wantAction(t, p, migrate.KindOperator, "DBA Team", migrate.ActionUnchanged, "")
	wantAction(t, p, migrate.KindAlert, "Severity 19", migrate.ActionUnchanged, "")
	if it := wantAction(t, p, migrate.KindJob, "Backup", migrate.ActionUpdate, ""); len(it.Changes) == 0 {
		t.Errorf("Backup updated without a change listed")
	}
	backup, _ = f.m.Catalog.ByName("Backup")
	if !slices.Equal(backup.Targets.Servers, []string{"SQL01"}) {
		t.Errorf("Backup targets %v, want SQL01 (SQL02 is not enlisted)", backup.Targets.Servers)
	}
	g, _ := f.m.Reg.Group("PROD")
	if !slices.Equal(g.Members, []string{"SQL01", `SQL03\PROD`}) {
		t.Errorf("PROD members %v", g.Members)
	}

	// Nothing changed at the source: nothing is applied.
	version := backup.VersionNumber
	p = run(t, f, db, false)
	for _, it := range p.Items {
		if it.Action == migrate.ActionCreate || it.Action == migrate.ActionUpdate {
			t.Errorf("third run changed %s %q: %s %v", it.Kind, it.Name, it.Action, it.Changes)
		}
	}
	if b, _ := f.m.Catalog.ByName("Backup"); b.VersionNumber != version {
		t.Errorf("third run moved Backup from version %d to %d", version, b.VersionNumber)
	}

	// A job changed at the source is updated, and only it.
	exec(t, db, `EXEC msdb.dbo.sp_update_job @job_name = N'Backup', @description = N'Full and log backups';`)
	p = run(t, f, db, false)
	if it := wantAction(t, p, migrate.KindJob, "Backup", migrate.ActionUpdate, ""); !slices.ContainsFunc(it.Changes,
		func(c string) bool { return strings.Contains(c, "description") }) {
		t.Errorf("Backup's changes %v do not name the description", it.Changes)
	}
	wantAction(t, p, migrate.KindJob, "Index maintenance", migrate.ActionUnchanged, "")
	if b, _ := f.m.Catalog.ByName("Backup"); b.Description != "Full and log backups" {
		t.Errorf("Backup's description is %q", b.Description)
	}
}

// TestMigrateNeedsAdmin: a viewer token reads nothing and changes nothing, and says why.
func TestMigrateNeedsAdmin(t *testing.T) {
	_, db := oldMaster(t)
	f := startMaster(t)
	viewer, _, err := f.m.Tokens.Create(t.Context(), auth.RoleViewer, 0, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	src, err := migrate.Read(t.Context(), db, migrate.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	c := *f.api
	c.Token = viewer
	if _, err := (&migrate.Migrator{API: &c}).Run(t.Context(), src, false); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("run with a viewer token: %v", err)
	}
	if len(f.m.Catalog.All()) != 0 || len(f.m.Reg.Groups()) != 0 {
		t.Error("a viewer token changed the master")
	}
}

// TestReadLocalJobs reads a server's local jobs for msx job import --from-server: jobs
// downloaded from a master and multiserver jobs are listed as left out, and --job and
// --category choose.
func TestReadLocalJobs(t *testing.T) {
	_, db := oldMaster(t)
	exec(t, db, `
EXEC msdb.dbo.sp_add_job @job_name = N'Stats', @category_name = N'Database Maintenance';
EXEC msdb.dbo.sp_add_jobstep @job_name = N'Stats', @step_name = N'Update', @command = N'EXEC sp_updatestats';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'Stats', @server_name = N'(local)';
EXEC msdb.dbo.sp_add_job @job_name = N'From the old master';
EXEC msdb.dbo.sp_add_jobserver @job_name = N'From the old master';
UPDATE msdb.dbo.sysjobs SET originating_server_id = 1 WHERE name = N'From the old master';
`)
	src, err := migrate.Read(t.Context(), db, migrate.Scope{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range src.Jobs {
		names = append(names, j.Job.Name)
	}
	if !slices.Equal(names, []string{"Master local cleanup", "Stats"}) {
		t.Errorf("local jobs %v", names)
	}
	reasons := map[string]string{}
	for _, it := range src.Skipped {
		reasons[it.Name] = it.Reason
	}
	if !strings.Contains(reasons["From the old master"], "downloaded from an MSX master") || !strings.Contains(reasons["Backup"], "multiserver") {
		t.Errorf("skipped: %v", reasons)
	}
	src, err = migrate.Read(t.Context(), db, migrate.Scope{Local: true, Category: "database maintenance"})
	if err != nil || len(src.Jobs) != 1 || src.Jobs[0].Job.Name != "Stats" || src.Jobs[0].Job.Category != "Database Maintenance" {
		t.Errorf("--category: %v %+v", err, src)
	}
	src, err = migrate.Read(t.Context(), db, migrate.Scope{Local: true, Job: "master LOCAL cleanup"})
	if err != nil || len(src.Jobs) != 1 || src.Jobs[0].Job.Steps[0].Command != "EXEC sp_purge_jobhistory" {
		t.Errorf("--job: %v %+v", err, src)
	}
}

// TestHostileSources: a server that is not an MSX master, a DSN that does not parse, a port
// that refuses, and a server that accepts but never answers each give a clear error in time.
func TestHostileSources(t *testing.T) {
	plain := mssqltest.Start(t, mssqltest.ServerName("STANDALONE"))
	_, err := migrate.Read(t.Context(), plain.Client(t), migrate.Scope{})
	if !errors.Is(err, migrate.ErrNotMaster) || !strings.Contains(err.Error(), "STANDALONE") || !strings.Contains(err.Error(), "--from-server") {
		t.Errorf("standalone server: %v", err)
	}

	wrong := strings.Replace(plain.DSN(), "@", "x@", 1) // a wrong password
	if _, err := migrate.Open(t.Context(), wrong, 5*time.Second); err == nil || !strings.Contains(err.Error(), "refused the login") ||
		!strings.Contains(err.Error(), "18456") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := migrate.Open(t.Context(), "sqlserver://sa:pw@host:notaport", time.Second); !errors.Is(err, migrate.ErrDSN) {
		t.Errorf("bad DSN: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = migrate.Open(t.Context(), "sqlserver://sa:secret-pw@"+addr+"?database=msdb&encrypt=disable", 5*time.Second)
	if !errors.Is(err, migrate.ErrNoAnswer) || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("refused port: %v", err)
	}

	// A server that accepts connections and never answers: the timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	_, err = migrate.Open(t.Context(), "sqlserver://sa:secret-pw@"+silent.Addr().String()+"?database=msdb&encrypt=disable", 500*time.Millisecond)
	if !errors.Is(err, migrate.ErrNoAnswer) || !strings.Contains(err.Error(), "did not answer within 500ms") ||
		strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("silent server: %v", err)
	}
}
