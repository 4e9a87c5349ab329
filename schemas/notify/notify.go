// Package notify is the msx model of SQL Server Agent's operators (sp_add_operator), alerts
// (sp_add_alert, sp_add_notification) and msx's silences, with SQL Agent's parameter names,
// defaults and codes, and the record of one delivery (the delivery log). The master's
// master/notify package stores and acts on them.
package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/problem"
)

// DefaultOperator receives the notifications of a job that sets a level but names no operator
// for that method, as the MSXOperator of SQL Server's multiserver administration.
const DefaultOperator = "MSXOperator"

// Notification channels (SQL Agent's notification_method bits: 1 e-mail, 2 pager, 4 net send;
// msx sends to the operator's webhook where SQL Agent had net send).
const (
	MethodEmail   = 1
	MethodPager   = 2
	MethodWebhook = 4
)

// Channel names, as the delivery log and the counters show them.
const (
	ChannelEmail   = "email"
	ChannelPager   = "pager"
	ChannelWebhook = "webhook"
)

// Webhook body formats.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// pager_days bits, as sp_add_operator's.
const (
	Sunday   = 1
	Monday   = 2
	Tuesday  = 4
	Wed      = 8
	Thursday = 16
	Friday   = 32
	Saturday = 64
	EveryDay = 127
)

// SQL Server message numbers used as problem codes.
const (
	codeInvalidValue = 14266 // The specified '%s' is invalid (valid values are: %s).
	codeAlertWhat    = 14500 // Supply either a non-zero message ID, non-zero severity, or non-null performance condition.
	maxNameLen       = 128
)

// Operator is one operator; field names are sp_add_operator's parameters in snake case, plus
// webhook_url and webhook_format (msx). Times are hhmmss integers in PagerTimeZone.
type Operator struct {
	Name                   string `json:"name"`
	Enabled                *bool  `json:"enabled,omitempty"` // default true
	EmailAddress           string `json:"email_address,omitempty"`
	PagerAddress           string `json:"pager_address,omitempty"`
	WeekdayPagerStartTime  *int   `json:"weekday_pager_start_time,omitempty"`  // default 090000
	WeekdayPagerEndTime    *int   `json:"weekday_pager_end_time,omitempty"`    // default 180000
	SaturdayPagerStartTime *int   `json:"saturday_pager_start_time,omitempty"` // default 090000
	SaturdayPagerEndTime   *int   `json:"saturday_pager_end_time,omitempty"`   // default 180000
	SundayPagerStartTime   *int   `json:"sunday_pager_start_time,omitempty"`   // default 090000
	SundayPagerEndTime     *int   `json:"sunday_pager_end_time,omitempty"`     // default 180000
	// PagerDays is the bitmask of on-duty days: 1 Sunday, 2 Monday, 4 Tuesday, 8 Wednesday,
	// 16 Thursday, 32 Friday, 64 Saturday (default 0: never paged, as in SQL Agent).
	PagerDays int `json:"pager_days,omitempty"`
	// PagerTimeZone (msx) is the IANA zone the pager times are in; default UTC.
	PagerTimeZone string `json:"pager_time_zone,omitempty"`
	WebhookURL    string `json:"webhook_url,omitempty"`
	// WebhookFormat is the body sent to WebhookURL: json (msx's documented body, default),
	// slack or teams.
	WebhookFormat string `json:"webhook_format,omitempty"`
}

// IsEnabled reports whether the operator is enabled (absent means enabled).
func (o Operator) IsEnabled() bool { return o.Enabled == nil || *o.Enabled }

// Normalize fills SQL Agent's defaults.
func (o *Operator) Normalize() {
	o.Name = strings.TrimSpace(o.Name)
	for _, p := range []struct {
		f   **int
		def int
	}{{&o.WeekdayPagerStartTime, 90000}, {&o.WeekdayPagerEndTime, 180000}, {&o.SaturdayPagerStartTime, 90000},
		{&o.SaturdayPagerEndTime, 180000}, {&o.SundayPagerStartTime, 90000}, {&o.SundayPagerEndTime, 180000}} {
		if *p.f == nil {
			v := p.def
			*p.f = &v
		}
	}
	if o.WebhookFormat == "" && o.WebhookURL != "" {
		o.WebhookFormat = FormatJSON
	}
}

// Validate returns every problem with the operator, nil when there is none. Call Normalize
// first.
func (o Operator) Validate() problem.List {
	var l problem.List
	checkName(&l, "name", "operator", o.Name)
	for _, a := range []struct{ field, v string }{{"email_address", o.EmailAddress}, {"pager_address", o.PagerAddress}} {
		if a.v == "" {
			continue
		}
		for part := range strings.SplitSeq(a.v, ";") {
			if _, err := mail.ParseAddress(strings.TrimSpace(part)); err != nil || strings.ContainsAny(part, "\r\n") {
				l.Add(a.field, 0, "%q is not an e-mail address (name@example.com; several separated by ';')", part)
			}
		}
	}
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			l.Add("webhook_url", 0, "the webhook URL must be an absolute http:// or https:// URL")
		}
	}
	switch o.WebhookFormat {
	case "", FormatJSON, FormatSlack, FormatTeams:
	default:
		l.Add("webhook_format", codeInvalidValue, "The specified 'webhook_format' (%q) is invalid (valid values are: json, slack, teams)", o.WebhookFormat)
	}
	if o.PagerDays < 0 || o.PagerDays > EveryDay {
		l.Add("pager_days", codeInvalidValue, "The specified 'pager_days' (%d) is invalid (valid values are: 0..127, the sum of 1 Sunday, 2 Monday, 4 Tuesday, 8 Wednesday, 16 Thursday, 32 Friday, 64 Saturday)", o.PagerDays)
	}
	for _, t := range []struct {
		field string
		v     *int
	}{{"weekday_pager_start_time", o.WeekdayPagerStartTime}, {"weekday_pager_end_time", o.WeekdayPagerEndTime},
		{"saturday_pager_start_time", o.SaturdayPagerStartTime}, {"saturday_pager_end_time", o.SaturdayPagerEndTime},
		{"sunday_pager_start_time", o.SundayPagerStartTime}, {"sunday_pager_end_time", o.SundayPagerEndTime}} {
		if t.v != nil && !validHHMMSS(*t.v) {
			l.Add(t.field, codeInvalidValue, "The specified '%s' (%d) is invalid (valid values are: hhmmss from 000000 to 235959)", t.field, *t.v)
		}
	}
	if o.PagerTimeZone != "" {
		if _, err := time.LoadLocation(o.PagerTimeZone); err != nil {
			l.Add("pager_time_zone", 0, "unknown time zone %q: use an IANA name such as Europe/Paris", o.PagerTimeZone)
		}
	}
	return l
}

func validHHMMSS(v int) bool {
	return v >= 0 && v <= 235959 && v%100 < 60 && v/100%100 < 60
}

// OnDuty reports whether the operator's pager is on duty at t: its day is in pager_days and the
// time of day is within that day's start and end (inclusive, in PagerTimeZone). An end before
// the start spans midnight, as SQL Agent's does. Call Normalize first.
func (o Operator) OnDuty(t time.Time) bool {
	loc := time.UTC
	if o.PagerTimeZone != "" {
		if l, err := time.LoadLocation(o.PagerTimeZone); err == nil {
			loc = l
		}
	}
	t = t.In(loc)
	if o.PagerDays&(1<<int(t.Weekday())) == 0 {
		return false
	}
	start, end := o.WeekdayPagerStartTime, o.WeekdayPagerEndTime
	switch t.Weekday() {
	case time.Saturday:
		start, end = o.SaturdayPagerStartTime, o.SaturdayPagerEndTime
	case time.Sunday:
		start, end = o.SundayPagerStartTime, o.SundayPagerEndTime
	}
	if start == nil || end == nil {
		return false
	}
	now := t.Hour()*10000 + t.Minute()*100 + t.Second()
	if *start <= *end {
		return now >= *start && now <= *end
	}
	return now >= *start || now <= *end
}

// Redacted returns the operator with the webhook URL's path and query hidden: Slack and Teams
// webhook URLs are secrets.
func (o Operator) Redacted() Operator {
	if o.WebhookURL != "" {
		if u, err := url.Parse(o.WebhookURL); err == nil && (u.Path != "" || u.RawQuery != "") {
			o.WebhookURL = u.Scheme + "://" + u.Host + "/…(redacted)"
		}
	}
	return o
}

// AlertNotification is one operator an alert notifies (sp_add_notification).
type AlertNotification struct {
	OperatorName string `json:"operator_name"`
	// NotificationMethod is a bitmask: 1 e-mail, 2 pager, 4 webhook.
	NotificationMethod int `json:"notification_method"`
}

// Alert is one alert on forwarded events; field names are sp_add_alert's parameters in snake
// case, plus the servers and groups it is scoped to and its notifications.
type Alert struct {
	Name    string `json:"name"`
	Enabled *bool  `json:"enabled,omitempty"` // default true
	// MessageID matches the event's error number; Severity its severity (1..25);
	// PerformanceCondition ("object|counter|instance|comparator|value", SQL Agent's format) is
	// evaluated on the targets in scope with a SQL Server (see ParsePerfCondition). Exactly one
	// is set.
	MessageID            int    `json:"message_id,omitempty"`
	Severity             int    `json:"severity,omitempty"`
	PerformanceCondition string `json:"performance_condition,omitempty"`
	// DatabaseName is sp_add_alert's @database_name: refused for now, since forwarded events do
	// not say which database they happened in.
	DatabaseName string `json:"database_name,omitempty"`
	// EventDescriptionKeyword, when set, must occur in the event's message (case-insensitive).
	EventDescriptionKeyword string `json:"event_description_keyword,omitempty"`
	// Servers and Groups scope the alert; both empty means every server.
	Servers []string `json:"servers,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	// DelayBetweenResponses is the least number of seconds between two responses of the
	// alert; events in between are counted, not answered.
	DelayBetweenResponses int    `json:"delay_between_responses,omitempty"`
	NotificationMessage   string `json:"notification_message,omitempty"`
	// IncludeEventDescriptionIn is a bitmask of the channels whose message carries the event's
	// text: 1 e-mail, 2 pager, 4 webhook (default 5: e-mail and webhook).
	IncludeEventDescriptionIn *int `json:"include_event_description_in,omitempty"`
	// JobName, when set, is started on the server where the event happened.
	JobName       string              `json:"job_name,omitempty"`
	Notifications []AlertNotification `json:"notifications,omitempty"`
}

// IsEnabled reports whether the alert is enabled (absent means enabled).
func (a Alert) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// Normalize fills the defaults.
func (a *Alert) Normalize() {
	a.Name = strings.TrimSpace(a.Name)
	if a.IncludeEventDescriptionIn == nil {
		v := MethodEmail | MethodWebhook
		a.IncludeEventDescriptionIn = &v
	}
}

// Validate returns every problem with the alert, nil when there is none.
func (a Alert) Validate() problem.List {
	var l problem.List
	checkName(&l, "name", "alert", a.Name)
	switch {
	case a.PerformanceCondition != "":
		a.validatePerf(&l)
	case a.MessageID == 0 && a.Severity == 0:
		l.Add("message_id", codeAlertWhat, "Supply either a non-zero message_id, a non-zero severity or a performance_condition")
	case a.MessageID != 0 && a.Severity != 0:
		l.Add("severity", codeAlertWhat, "Supply either a non-zero message_id or a non-zero severity, not both")
	}
	if a.DatabaseName != "" {
		l.Add("database_name", 0, "alerts by database are not supported yet: forwarded events do not carry their database; use event_description_keyword to match the database name in the message")
	}
	if a.Severity < 0 || a.Severity > 25 {
		l.Add("severity", codeInvalidValue, "The specified 'severity' (%d) is invalid (valid values are: 1..25)", a.Severity)
	}
	if a.MessageID < 0 {
		l.Add("message_id", codeInvalidValue, "The specified 'message_id' (%d) is invalid (valid values are: positive error numbers)", a.MessageID)
	}
	if a.DelayBetweenResponses < 0 || a.DelayBetweenResponses > 86400 {
		l.Add("delay_between_responses", codeInvalidValue, "The specified 'delay_between_responses' (%d) is invalid (valid values are: 0..86400 seconds)", a.DelayBetweenResponses)
	}
	if n := utf8.RuneCountInString(a.NotificationMessage); n > 512 {
		l.Add("notification_message", 0, "the notification message is %d characters long; the limit is 512", n)
	}
	if v := a.IncludeEventDescriptionIn; v != nil && (*v < 0 || *v > 7) {
		l.Add("include_event_description_in", codeInvalidValue, "The specified 'include_event_description_in' (%d) is invalid (valid values are: 0..7, the sum of 1 e-mail, 2 pager, 4 webhook)", *v)
	}
	for i, n := range a.Notifications {
		path := fmt.Sprintf("notifications[%d]", i)
		checkName(&l, path+".operator_name", "operator", n.OperatorName)
		if n.NotificationMethod < 1 || n.NotificationMethod > 7 {
			l.Add(path+".notification_method", codeInvalidValue, "The specified 'notification_method' (%d) is invalid (valid values are: 1..7, the sum of 1 e-mail, 2 pager, 4 webhook)", n.NotificationMethod)
		}
	}
	if len(a.Notifications) == 0 && a.JobName == "" {
		l.Add("notifications", 0, "the alert does nothing: name an operator to notify (notifications) or a job to start (job_name)")
	}
	return l
}

// Matches reports whether an event of the given severity, error number and message is one the
// alert answers (scope by server is checked by the caller, who knows the groups). A
// performance-condition alert matches no event: see MatchesPerf.
func (a Alert) Matches(severity, messageID int, message string) bool {
	if !a.IsEnabled() || a.PerformanceCondition != "" {
		return false
	}
	if a.MessageID != 0 && a.MessageID != messageID {
		return false
	}
	if a.Severity != 0 && a.Severity != severity {
		return false
	}
	return a.EventDescriptionKeyword == "" || strings.Contains(strings.ToLower(message), strings.ToLower(a.EventDescriptionKeyword))
}

// MatchesPerf reports whether an event of source SourcePerformance naming alert is one this
// (enabled, performance-condition) alert answers.
func (a Alert) MatchesPerf(source, alert string) bool {
	return a.IsEnabled() && a.PerformanceCondition != "" && source == SourcePerformance && strings.EqualFold(a.Name, alert)
}

// Silence holds back the notifications of a server, a job or both until it ends.
type Silence struct {
	ID      string    `json:"id"`
	Server  string    `json:"server,omitempty"`
	Job     string    `json:"job,omitempty"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created"`
}

// Covers reports whether the silence holds back a notification of job on server at t.
func (s Silence) Covers(server, job string, t time.Time) bool {
	if !t.Before(s.Until) {
		return false
	}
	if s.Server != "" && !strings.EqualFold(s.Server, server) {
		return false
	}
	return s.Job == "" || strings.EqualFold(s.Job, job)
}

// Delivery results.
const (
	ResultSent     = "sent"
	ResultFailed   = "failed"
	ResultSilenced = "silenced"
	ResultOffDuty  = "off_duty"
	ResultNoTarget = "no_address"
	ResultDisabled = "operator_disabled"
	ResultUnknown  = "unknown_operator"
)

// Delivery is one record of the delivery log: one message (or one decision not to send it) to
// one operator on one channel.
type Delivery struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // failure, success, completion, recovery, alert, test
	Job      string    `json:"job,omitempty"`
	Alert    string    `json:"alert,omitempty"`
	Servers  []string  `json:"servers,omitempty"`
	Operator string    `json:"operator"`
	Channel  string    `json:"channel"`
	To       string    `json:"to,omitempty"`
	Subject  string    `json:"subject"`
	Result   string    `json:"result"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	// IDs are the notification ids the message carried (run id, operator, channel).
	IDs []string `json:"ids,omitempty"`
	// Resent says the message was sent again by a new leader that could not know whether its
	// predecessor's send had gone out (see master/notify's package doc).
	Resent bool   `json:"resent,omitempty"`
	Master string `json:"master,omitempty"`
}

func checkName(l *problem.List, path, what, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		l.Add(path, 0, "a %s needs a name", what)
	case utf8.RuneCountInString(name) > maxNameLen:
		l.Add(path, 0, "the %s name is %d characters long; the limit is %d", what, utf8.RuneCountInString(name), maxNameLen)
	case strings.ContainsAny(name, "\r\n\x00"):
		l.Add(path, 0, "the %s name holds a line break or NUL: remove it", what)
	}
}
