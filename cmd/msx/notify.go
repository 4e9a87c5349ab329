package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/master/notify"
	model "github.com/msx-project/msx/schemas/notify"
)

// notifyFlags are the notification flags of `msx master` and `msx up`.
type notifyFlags struct {
	smtp, from, passwordFile string
	storm                    time.Duration
	webhookAllow             []string
}

func (f *notifyFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.smtp, "smtp", "", "SMTP server for notifications: smtp://[user@]host[:port] (STARTTLS when offered) or smtps://[user@]host[:port] (TLS); the password comes from MSX_SMTP_PASSWORD or --smtp-password-file, never the URL")
	cmd.Flags().StringVar(&f.from, "smtp-from", "", "sender address of notification e-mail (with --smtp)")
	cmd.Flags().StringVar(&f.passwordFile, "smtp-password-file", "", "file holding the SMTP password (default: env MSX_SMTP_PASSWORD)")
	cmd.Flags().StringSliceVar(&f.webhookAllow, "webhook-allow", nil, "destinations webhooks may be posted to, comma separated: public (any public address), CIDRs (10.0.0.0/8), addresses, host names (hooks.corp, *.corp.example), each with an optional :port; a list replaces the default, add public to keep it (default public: loopback, private and link-local addresses such as 169.254.169.254 are refused)")
	cmd.Flags().DurationVar(&f.storm, "notify-window", 0, "how long a job's first notification waits for the same from other targets, so that many failing targets make one message (default 1m; a negative value sends at once)")
}

// config returns the master's notification configuration; the password is read here and
// never printed.
func (f *notifyFlags) config() (notify.Config, error) {
	pw := os.Getenv("MSX_SMTP_PASSWORD")
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return notify.Config{}, fmt.Errorf("--smtp-password-file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	cfg := notify.Config{SMTP: notify.SMTP{URL: f.smtp, From: f.from, Password: pw}, StormWindow: f.storm, WebhookAllow: f.webhookAllow}
	if err := notify.CheckWebhookAllow(f.webhookAllow); err != nil {
		return cfg, err
	}
	return cfg, cfg.SMTP.Check()
}

// field maps a CLI flag to a JSON field of an operator or alert.
type field struct {
	flag, json, kind, usage string // kind: string, int, bool
}

var operatorFields = []field{
	{"email", "email_address", "string", "e-mail address (several separated by ';')"},
	{"pager", "pager_address", "string", "pager address (pages are sent by e-mail)"},
	{"webhook", "webhook_url", "string", "webhook URL (http:// or https://)"},
	{"webhook-format", "webhook_format", "string", "webhook body: json, slack or teams"},
	{"pager-days", "pager_days", "int", "on-duty days bitmask: 1 Sun, 2 Mon, 4 Tue, 8 Wed, 16 Thu, 32 Fri, 64 Sat (62 = weekdays)"},
	{"weekday-pager-start", "weekday_pager_start_time", "int", "weekday on-duty start, hhmmss (default 090000)"},
	{"weekday-pager-end", "weekday_pager_end_time", "int", "weekday on-duty end, hhmmss (default 180000)"},
	{"saturday-pager-start", "saturday_pager_start_time", "int", "Saturday on-duty start, hhmmss"},
	{"saturday-pager-end", "saturday_pager_end_time", "int", "Saturday on-duty end, hhmmss"},
	{"sunday-pager-start", "sunday_pager_start_time", "int", "Sunday on-duty start, hhmmss"},
	{"sunday-pager-end", "sunday_pager_end_time", "int", "Sunday on-duty end, hhmmss"},
	{"pager-time-zone", "pager_time_zone", "string", "IANA time zone of the pager times (default UTC)"},
	{"enabled", "enabled", "bool", "enabled (default true)"},
}

var alertFields = []field{
	{"severity", "severity", "int", "severity of the events (1..25); or --message-id"},
	{"message-id", "message_id", "int", "error number of the events; or --severity"},
	{"performance-condition", "performance_condition", "string", "object|counter|instance|comparator|value, evaluated every 20 s on targets with a SQL Server; or --severity"},
	{"keyword", "event_description_keyword", "string", "text the event's message must contain"},
	{"delay", "delay_between_responses", "int", "least seconds between two responses"},
	{"message", "notification_message", "string", "text added to the notification"},
	{"include-event-description-in", "include_event_description_in", "int", "channels that carry the event's text: 1 e-mail, 2 pager, 4 webhook (default 5)"},
	{"job", "job_name", "string", "job to start on the server where the event happened"},
	{"enabled", "enabled", "bool", "enabled (default true)"},
}

func bindFields(cmd *cobra.Command, fs []field) {
	for _, f := range fs {
		switch f.kind {
		case "int":
			cmd.Flags().Int(f.flag, 0, f.usage)
		case "bool":
			cmd.Flags().Bool(f.flag, true, f.usage)
		default:
			cmd.Flags().String(f.flag, "", f.usage)
		}
	}
}

// changed returns the JSON fields of the flags given on the command line.
func changed(cmd *cobra.Command, fs []field) map[string]any {
	out := map[string]any{}
	for _, f := range fs {
		if !cmd.Flags().Changed(f.flag) {
			continue
		}
		switch f.kind {
		case "int":
			out[f.json], _ = cmd.Flags().GetInt(f.flag)
		case "bool":
			out[f.json], _ = cmd.Flags().GetBool(f.flag)
		default:
			out[f.json], _ = cmd.Flags().GetString(f.flag)
		}
	}
	return out
}

func newOperator(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "operator", Short: "Operators: who is notified, by e-mail, pager and webhook (sp_add_operator)"}
	show := func(cmd *cobra.Command) func([]model.Operator) error {
		return func(rows []model.Operator) error {
			return print(g, cmd.OutOrStdout(), rows, []column[model.Operator]{
				{"name", func(o model.Operator) string { return o.Name }},
				{"enabled", func(o model.Operator) string { return strconv.FormatBool(o.IsEnabled()) }},
				{"email_address", func(o model.Operator) string { return dash(o.EmailAddress) }},
				{"pager_address", func(o model.Operator) string { return dash(o.PagerAddress) }},
				{"pager_days", func(o model.Operator) string { return strconv.Itoa(o.PagerDays) }},
				{"webhook", func(o model.Operator) string { return dash(o.WebhookURL) }},
			})
		}
	}
	add, update := addUpdate[model.Operator](g, "operator", "Add an operator (MSXOperator receives the notifications of jobs that name none)",
		func(cmd *cobra.Command) (map[string]any, error) { return changed(cmd, operatorFields), nil },
		func(cmd *cobra.Command) { bindFields(cmd, operatorFields) })
	cmd.AddCommand(add, update, &cobra.Command{
		Use: "list", Short: "List operators", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/operators", nil, show(cmd))
		},
	}, &cobra.Command{
		Use: "show NAME", Short: "Show an operator", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call[model.Operator](cmd, g, http.MethodGet, "/api/v1/operators/"+client.Path(args[0]), nil, nil)
		},
	}, &cobra.Command{
		Use: "delete NAME", Short: "Delete an operator", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodDelete, "/api/v1/operators/"+client.Path(args[0]), nil, func(struct{}) error { return nil })
		},
	}, &cobra.Command{
		Use: "test NAME", Short: "Send a test notification on each of the operator's channels now", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodPost, "/api/v1/operators/"+client.Path(args[0])+"/test", nil, showDeliveries(g, cmd))
		},
	})
	return cmd
}

// addUpdate returns the add and update commands of operators or alerts: add posts the flags
// given with the name, update patches only the flags given.
func addUpdate[T any](g *globals, noun, short string, body func(*cobra.Command) (map[string]any, error), bind func(*cobra.Command)) (add, update *cobra.Command) {
	add = &cobra.Command{Use: "add NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := body(cmd)
			if err != nil {
				return err
			}
			b["name"] = args[0]
			return call[T](cmd, g, http.MethodPost, "/api/v1/"+noun+"s", b, nil)
		}}
	update = &cobra.Command{Use: "update NAME", Short: "Change the given fields of an " + noun, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := body(cmd)
			if err != nil {
				return err
			}
			if len(b) == 0 {
				return fmt.Errorf("nothing to change: give at least one flag (see msx %s update --help)", noun)
			}
			return call[T](cmd, g, http.MethodPatch, "/api/v1/"+noun+"s/"+client.Path(args[0]), b, nil)
		}}
	bind(add)
	bind(update)
	return add, update
}

// parseNotify reads --notify OPERATOR=METHODS, METHODS a number or words joined by '+'
// (email+pager+webhook).
func parseNotify(specs []string) ([]model.AlertNotification, error) {
	var out []model.AlertNotification
	for _, s := range specs {
		name, methods, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--notify %q: use OPERATOR=email, OPERATOR=email+webhook or OPERATOR=5", s)
		}
		n, err := strconv.Atoi(methods)
		if err != nil {
			for m := range strings.SplitSeq(methods, "+") {
				bit := map[string]int{"email": model.MethodEmail, "pager": model.MethodPager, "webhook": model.MethodWebhook}[strings.ToLower(m)]
				if bit == 0 {
					return nil, fmt.Errorf("--notify %q: unknown method %q (email, pager, webhook)", s, m)
				}
				n |= bit
			}
		}
		out = append(out, model.AlertNotification{OperatorName: name, NotificationMethod: n})
	}
	return out, nil
}

func alertBody(cmd *cobra.Command) (map[string]any, error) {
	body := changed(cmd, alertFields)
	for _, f := range []struct{ flag, json string }{{"server", "servers"}, {"group", "groups"}} {
		if cmd.Flags().Changed(f.flag) {
			body[f.json], _ = cmd.Flags().GetStringSlice(f.flag)
		}
	}
	if cmd.Flags().Changed("notify") {
		specs, _ := cmd.Flags().GetStringArray("notify")
		ns, err := parseNotify(specs)
		if err != nil {
			return nil, err
		}
		body["notifications"] = ns
	}
	return body, nil
}

func bindAlert(cmd *cobra.Command) {
	bindFields(cmd, alertFields)
	cmd.Flags().StringSlice("server", nil, "servers the alert watches (default: all)")
	cmd.Flags().StringSlice("group", nil, "target server groups the alert watches")
	cmd.Flags().StringArray("notify", nil, "operator to notify: OPERATOR=email, OPERATOR=email+pager+webhook (repeatable; replaces the list)")
}

func newAlert(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "Alerts on forwarded events (sp_add_alert, sp_add_notification)"}
	show := func(cmd *cobra.Command) func([]model.Alert) error {
		return func(rows []model.Alert) error {
			return print(g, cmd.OutOrStdout(), rows, []column[model.Alert]{
				{"name", func(a model.Alert) string { return a.Name }},
				{"enabled", func(a model.Alert) string { return strconv.FormatBool(a.IsEnabled()) }},
				{"severity", func(a model.Alert) string { return strconv.Itoa(a.Severity) }},
				{"message_id", func(a model.Alert) string { return strconv.Itoa(a.MessageID) }},
				{"keyword", func(a model.Alert) string { return dash(a.EventDescriptionKeyword) }},
				{"scope", func(a model.Alert) string { return dash(strings.Join(append(a.Servers, a.Groups...), ",")) }},
				{"operators", func(a model.Alert) string { return strconv.Itoa(len(a.Notifications)) }},
				{"job", func(a model.Alert) string { return dash(a.JobName) }},
			})
		}
	}
	add, update := addUpdate[model.Alert](g, "alert", "Add an alert", alertBody, bindAlert)
	cmd.AddCommand(add, update, &cobra.Command{
		Use: "list", Short: "List alerts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/alerts", nil, show(cmd))
		},
	}, &cobra.Command{
		Use: "show NAME", Short: "Show an alert", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call[model.Alert](cmd, g, http.MethodGet, "/api/v1/alerts/"+client.Path(args[0]), nil, nil)
		},
	}, &cobra.Command{
		Use: "delete NAME", Short: "Delete an alert", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodDelete, "/api/v1/alerts/"+client.Path(args[0]), nil, func(struct{}) error { return nil })
		},
	})
	return cmd
}

func newSilence(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "silence", Short: "Hold back the notifications of a server or a job for a while"}
	var server, job, reason string
	var d time.Duration
	add := &cobra.Command{Use: "add", Short: "Silence a server (--server), a job (--job) or a job on a server, --for a while", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call[model.Silence](cmd, g, http.MethodPost, "/api/v1/silences",
				map[string]string{"server": server, "job": job, "for": d.String(), "reason": reason}, nil)
		}}
	add.Flags().StringVar(&server, "server", "", "target server to silence")
	add.Flags().StringVar(&job, "job", "", "job to silence")
	add.Flags().DurationVar(&d, "for", 0, "how long, e.g. 2h")
	add.Flags().StringVar(&reason, "reason", "", "why (shown in msx silence list)")
	cmd.AddCommand(add, &cobra.Command{
		Use: "list", Short: "List the silences in force", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/silences", nil, func(rows []model.Silence) error {
				return print(g, cmd.OutOrStdout(), rows, []column[model.Silence]{
					{"id", func(s model.Silence) string { return s.ID }},
					{"server", func(s model.Silence) string { return dash(s.Server) }},
					{"job", func(s model.Silence) string { return dash(s.Job) }},
					{"until", func(s model.Silence) string { return ts(&s.Until) }},
					{"reason", func(s model.Silence) string { return dash(s.Reason) }},
					{"by", func(s model.Silence) string { return dash(s.By) }},
				})
			})
		},
	}, &cobra.Command{
		Use: "delete ID", Short: "End a silence now", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, g, http.MethodDelete, "/api/v1/silences/"+client.Path(args[0]), nil, func(struct{}) error { return nil })
		},
	})
	return cmd
}

func showDeliveries(g *globals, cmd *cobra.Command) func([]model.Delivery) error {
	return func(rows []model.Delivery) error {
		return print(g, cmd.OutOrStdout(), rows, []column[model.Delivery]{
			{"time", func(d model.Delivery) string { return ts(&d.Time) }},
			{"kind", func(d model.Delivery) string { return d.Kind }},
			{"job_or_alert", func(d model.Delivery) string { return dash(d.Job + d.Alert) }},
			{"servers", func(d model.Delivery) string { return dash(strings.Join(d.Servers, ",")) }},
			{"operator", func(d model.Delivery) string { return d.Operator }},
			{"channel", func(d model.Delivery) string { return d.Channel }},
			{"to", func(d model.Delivery) string { return dash(d.To) }},
			{"result", func(d model.Delivery) string { return d.Result }},
			{"error", func(d model.Delivery) string { return dash(firstLine(d.Error)) }},
		})
	}
}

func newNotifications(g *globals) *cobra.Command {
	var last int
	cmd := &cobra.Command{Use: "notifications", Short: "The delivery log: what was sent to whom, when, and the result", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, g, http.MethodGet, "/api/v1/notifications?last="+strconv.Itoa(last), nil, showDeliveries(g, cmd))
		}}
	cmd.Flags().IntVar(&last, "last", 100, "how many of the newest records")
	return cmd
}

// newNotifyCommands returns the notification commands for the root.
func newNotifyCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newOperator(g), newAlert(g), newSilence(g), newNotifications(g)}
}

// applyImportedNotify creates the operators and then the alerts a job script holds (`msx job
// import`). One that exists already is kept as it is, and said so.
func applyImportedNotify(cmd *cobra.Command, g *globals, ops []model.Operator, alerts []model.Alert) error {
	if len(ops) == 0 && len(alerts) == 0 {
		return nil
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	post := func(kind, name, path string, body any) error {
		err := c.Do(cmd.Context(), http.MethodPost, path, body, nil)
		var ce *client.Error
		switch {
		case errors.As(err, &ce) && ce.Code == 14261:
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %q exists: kept as it is (msx %s update to change it)\n", kind, name, kind)
		case err != nil:
			return fmt.Errorf("%s %q: %w", kind, name, err)
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %q created\n", kind, name)
		}
		return nil
	}
	for _, o := range ops {
		if err := post("operator", o.Name, "/api/v1/operators", o); err != nil {
			return err
		}
	}
	for _, a := range alerts {
		if err := post("alert", a.Name, "/api/v1/alerts", a); err != nil {
			return err
		}
	}
	return nil
}
