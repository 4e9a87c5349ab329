package tsql

import (
	"strings"

	"github.com/msx-project/msx/schemas/notify"
)

// Operators and alerts: sp_add_operator, sp_add_alert and sp_add_notification become msx
// operators and alerts (Result.Operators, Result.Alerts). Net send is gone: its address is
// reported; include_event_description_in keeps its bits (4, net send, is msx's webhook).
func init() {
	procedures["sp_add_operator"] = procedure{strings.Fields(`name enabled email_address pager_address
			weekday_pager_start_time weekday_pager_end_time saturday_pager_start_time saturday_pager_end_time
			sunday_pager_start_time sunday_pager_end_time pager_days netsend_address category_name`), addOperator}
	procedures["sp_add_alert"] = procedure{strings.Fields(`name message_id severity enabled delay_between_responses
			notification_message include_event_description_in database_name event_description_keyword job_id job_name
			raise_snmp_trap performance_condition category_name wmi_namespace wmi_query`), addAlert}
	procedures["sp_add_notification"] = procedure{strings.Fields(`alert_name operator_name notification_method`), addNotification}
	delete(unsupportedProcedures, "sp_add_operator")
	delete(unsupportedProcedures, "sp_add_alert")
	delete(unsupportedProcedures, "sp_add_notification")
}

func addOperator(c *call) {
	var o notify.Operator
	if !c.str("name", &o.Name) || strings.TrimSpace(o.Name) == "" {
		c.p.problem(c.line, "sp_add_operator without @name not imported")
		return
	}
	c.boolPtr("enabled", &o.Enabled)
	c.str("email_address", &o.EmailAddress)
	c.str("pager_address", &o.PagerAddress)
	for _, f := range []struct {
		name string
		dst  **int
	}{{"weekday_pager_start_time", &o.WeekdayPagerStartTime}, {"weekday_pager_end_time", &o.WeekdayPagerEndTime},
		{"saturday_pager_start_time", &o.SaturdayPagerStartTime}, {"saturday_pager_end_time", &o.SaturdayPagerEndTime},
		{"sunday_pager_start_time", &o.SundayPagerStartTime}, {"sunday_pager_end_time", &o.SundayPagerEndTime}} {
		c.numPtr(f.name, f.dst)
	}
	c.num("pager_days", &o.PagerDays)
	c.unsupported("netsend_address", WhyNetSend)
	c.unsupported("category_name", "msx operators have no category", "[Uncategorized]")
	c.p.operators = append(c.p.operators, o)
}

func addAlert(c *call) {
	var a notify.Alert
	if !c.str("name", &a.Name) || strings.TrimSpace(a.Name) == "" {
		c.p.problem(c.line, "sp_add_alert without @name not imported")
		return
	}
	if pc := c.get("performance_condition"); pc != nil && !pc.val.isEmpty() {
		c.str("performance_condition", &a.PerformanceCondition)
		if _, err := notify.ParsePerfCondition(a.PerformanceCondition); err != nil {
			c.p.problem(c.line, "sp_add_alert %s not imported: %v", a.Name, err)
			return
		}
	}
	if a := c.get("wmi_query"); a != nil && !a.val.isEmpty() {
		c.p.problem(c.line, "sp_add_alert not imported: msx does not evaluate WMI alerts")
		return
	}
	c.num("message_id", &a.MessageID)
	c.num("severity", &a.Severity)
	c.boolPtr("enabled", &a.Enabled)
	c.num("delay_between_responses", &a.DelayBetweenResponses)
	c.str("notification_message", &a.NotificationMessage)
	c.numPtr("include_event_description_in", &a.IncludeEventDescriptionIn)
	c.str("event_description_keyword", &a.EventDescriptionKeyword)
	c.str("job_name", &a.JobName)
	c.unsupported("database_name", "forwarded events do not carry their database; match it with @event_description_keyword")
	// SSMS and dbatools write the empty uniqueidentifier for an alert that starts no job.
	c.unsupported("job_id", "give the job by @job_name", "00000000-0000-0000-0000-000000000000")
	c.unsupported("raise_snmp_trap", "msx does not raise SNMP traps", "0")
	c.unsupported("category_name", "msx alerts have no category", "[Uncategorized]")
	c.unsupported("wmi_namespace", "msx does not evaluate WMI alerts")
	c.p.alerts = append(c.p.alerts, a)
}

func addNotification(c *call) {
	var alert string
	var n notify.AlertNotification
	c.str("alert_name", &alert)
	c.str("operator_name", &n.OperatorName)
	c.num("notification_method", &n.NotificationMethod)
	for i := range c.p.alerts {
		if strings.EqualFold(strings.TrimSpace(c.p.alerts[i].Name), strings.TrimSpace(alert)) {
			c.p.alerts[i].Notifications = append(c.p.alerts[i].Notifications, n)
			return
		}
	}
	c.p.problem(c.line, "sp_add_notification not imported: the alert '%s' is not created in this script; add the notification with msx alert update --notify", alert)
}
