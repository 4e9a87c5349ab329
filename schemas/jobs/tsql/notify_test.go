package tsql

import (
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas/notify"
)

// TestImportOperatorsAndAlerts: a script of operators and alerts alone (no job) imports them,
// with their notifications, and reports what msx does not translate.
func TestImportOperatorsAndAlerts(t *testing.T) {
	script := `USE [msdb]
GO
EXEC msdb.dbo.sp_add_operator @name=N'DBA Team', @enabled=1, @email_address=N'dba@example.com',
		@pager_address=N'pager@example.com', @weekday_pager_start_time=80000, @weekday_pager_end_time=200000,
		@pager_days=62, @netsend_address=N'DBA-PC'
GO
EXEC msdb.dbo.sp_add_alert @name=N'Severity 024', @message_id=0, @severity=24, @enabled=1,
		@delay_between_responses=60, @include_event_description_in=1, @job_id=N'6f9619ff-8b86-d011-b42d-00c04fc964ff'
GO
EXEC msdb.dbo.sp_add_notification @alert_name=N'Severity 024', @operator_name=N'DBA Team', @notification_method=3
EXEC msdb.dbo.sp_add_alert @name=N'CPU', @performance_condition=N'SQLServer:Resource Pool Stats|CPU usage %|default|>|90'
EXEC msdb.dbo.sp_add_notification @alert_name=N'CPU', @operator_name=N'DBA Team', @notification_method=1
EXEC msdb.dbo.sp_add_alert @name=N'Broken', @performance_condition=N'SQLServer:Buffer Manager|Page life expectancy|<|300'
EXEC msdb.dbo.sp_add_notification @alert_name=N'Nope', @operator_name=N'DBA Team', @notification_method=1
`
	res, err := Import([]byte(script))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Operators) != 1 || len(res.Alerts) != 2 || len(res.Jobs) != 0 {
		t.Fatalf("imported %+v", res)
	}
	o := res.Operators[0]
	if o.Name != "DBA Team" || o.PagerDays != 62 || o.WeekdayPagerStartTime == nil || *o.WeekdayPagerStartTime != 80000 || o.EmailAddress != "dba@example.com" {
		t.Errorf("operator %+v", o)
	}
	o.Normalize()
	if l := o.Validate(); len(l) != 0 {
		t.Errorf("imported operator invalid: %v", l)
	}
	a := res.Alerts[0]
	if a.Severity != 24 || a.DelayBetweenResponses != 60 || len(a.Notifications) != 1 ||
		a.Notifications[0] != (notify.AlertNotification{OperatorName: "DBA Team", NotificationMethod: 3}) {
		t.Errorf("alert %+v", a)
	}
	if p := res.Alerts[1]; p.Name != "CPU" || p.PerformanceCondition != "SQLServer:Resource Pool Stats|CPU usage %|default|>|90" || len(p.Notifications) != 1 {
		t.Errorf("performance alert %+v", p)
	} else if p.Normalize(); len(p.Validate()) != 0 {
		t.Errorf("imported performance alert invalid: %v", p.Validate())
	}
	var msgs []string
	for _, p := range res.Problems {
		msgs = append(msgs, p.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"@netsend_address ignored", "@job_id ignored: give the job by @job_name", "sp_add_alert Broken not imported: the performance condition", "the alert 'Nope' is not created"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
}
