package mssqltest_test

import (
	"errors"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/internal/mssqltest"
)

// TestMSXMasterProcsRefuseUnknownNames: each MSX master procedure that names a group, target
// server, alert, operator or job refuses a name msdb does not hold with 14262, naming the
// parameter and the value, as msdb does, and changes nothing.
func TestMSXMasterProcsRefuseUnknownNames(t *testing.T) {
	fake := mssqltest.Start(t)
	if _, err := fake.EnlistTarget("SQL01", ""); err != nil {
		t.Fatal(err)
	}
	db := fake.Client(t)
	if _, err := db.Exec(`EXEC msdb.dbo.sp_add_targetservergroup @name = N'PROD';
EXEC msdb.dbo.sp_add_operator @name = N'DBA';
EXEC msdb.dbo.sp_add_alert @name = N'Sev 19', @severity = 19;
EXEC msdb.dbo.sp_add_job @job_name = N'Nightly';`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, param, value string }{
		{`EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'NOPE', @server_name = N'SQL01'`, "group_name", "NOPE"},
		{`EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'PROD', @server_name = N'SQL99'`, "server_name", "SQL99"},
		{`EXEC msdb.dbo.sp_add_alert @name = N'Sev 20', @severity = 20, @job_name = N'Gone'`, "job_name", "Gone"},
		{`EXEC msdb.dbo.sp_add_notification @alert_name = N'Sev 99', @operator_name = N'DBA', @notification_method = 1`, "alert_name", "Sev 99"},
		{`EXEC msdb.dbo.sp_add_notification @alert_name = N'Sev 19', @operator_name = N'Nobody', @notification_method = 1`, "operator_name", "Nobody"},
		{`EXEC msdb.dbo.sp_add_jobserver @job_name = N'Nightly', @server_name = N'SQL99'`, "server_name", "SQL99"},
	} {
		_, err := db.Exec(c.sql)
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != mssqltest.ErrNumDoesNotExist ||
			!strings.Contains(me.Message, "@"+c.param+" ('"+c.value+"')") {
			t.Errorf("%s: %v, want error %d naming @%s ('%s')", c.sql, err, mssqltest.ErrNumDoesNotExist, c.param, c.value)
		}
	}
	var n int
	if err := fake.DB().QueryRow(`SELECT (SELECT count(*) FROM systargetservergroupmembers) + (SELECT count(*) FROM sysnotifications)
		+ (SELECT count(*) FROM sysalerts WHERE name = 'Sev 20') + (SELECT count(*) FROM sysjobservers)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows written by refused calls", n)
	}
}
