// Package notify is the master's notification service (issue 12): SQL Server Agent's operators
// and alerts, job notifications by e-mail, pager (by e-mail, within the operator's on-duty
// hours) and webhook, silences, storm grouping, N failures in a row, recovery and missed runs.
// The model (operators, alerts, silences, the delivery record) is schemas/notify.
//
// # State
//
// Everything lives in JetStream, made with the layout's replica count, so every master sees the
// same and a failover loses nothing:
//
//	msx_operators      KV   operators, by a hash of the upper-case name
//	msx_alerts         KV   alerts
//	msx_silences       KV   silences, by id (ended ones are deleted when listed)
//	msx_notify         KV   s.<job>.<server>  failures in a row, last run handled, what it raised
//	                        o.<id>            the outbox: a notification waiting to be sent
//	                        a.<alert>         an alert's last response (delay_between_responses)
//	                        m.<job>.<server>  missed-run state (since when, streak notified)
//	msx_notify_claims  KV   c.<id>  one create-only claim per notification id (TTL 7 days)
//	                        j.<id>  one per alert job start
//	MSX_NOTIFY         stream msx.notify.log: the delivery log (90 days, 1 GiB)
//	msx_notify, msx_notify_events   durable consumers on MSX_RESULTS and MSX_EVENTS
//
// A notification id is the run id (or event id, or missed due time), the operator and the
// channel: "RUNID/MSXOperator/email". It is sent in the X-MSX-Notification-ID header and the
// webhook body's ids, so a receiver can drop repeats too.
//
// # Who sends, and exactly once
//
// Every master runs the service (and its API); only the master holding the leader lease pulls
// from the two durable consumers and sends. For each finished run the leader updates the job's
// state on that target (compare-and-set; a redelivered run reuses what it decided the first
// time), then for each notification creates its claim c.<id> (create-only: a second attempt
// finds it) and its outbox entry o.<id>, and only then acknowledges the result. Every tick the
// leader sends each group of outbox entries whose oldest has waited the storm window: it marks
// the entries "sending" with compare-and-set on the revision it read (an entry another master
// marked is left to it), sends one message with retries (cenkalti/backoff), appends the result
// to the delivery log, writes the result into the claims and deletes the outbox entries.
//
// What happens if the leader dies:
//
//   - before the claim: the result is not acknowledged; JetStream redelivers it to the next
//     leader after the consumers' AckWait (Config.AckWait, 20 s; it was 2 min), which claims and
//     queues it. Nothing is lost. A live leader marks the rest of a batch it is still handling
//     "in progress" every AckWait/4, so a slow pass is not redelivered under it; a message
//     handled again is logged ("handling a message again", with its delivery count and age).
//   - between the claim and the outbox entry: the redelivered result finds the claim still
//     "queued" and creates the missing outbox entry. Nothing is lost, nothing doubled.
//   - after queueing, before marking: the next leader sends it. Once.
//   - between marking and the send: the entry stays marked for SendLease (5 min, longer than a
//     send with its retries); then the next leader sends it, flagged resent ("may be a
//     repeat" in the text, "resent": true in the body and the log). Not lost; not a repeat,
//     since it was never sent. Such entries go in a message of their own: notifications of the
//     same group queued since are sent apart, unflagged.
//   - after the SMTP server or webhook accepted the message, before the log and claims are
//     written: the same resend happens, and this is the one case where a message arrives
//     twice; the second copy says it may be a repeat and carries the same notification id.
//     No protocol can close this window: SMTP has no idempotency key.
//
// Messages go out in parallel, at most Config.SendParallel (4) at once per channel; the
// parts of one group one after the other. Each message still goes through the same steps, so
// the cases above hold per message: at a crash, every message under way is in one of them
// (those marked and not yet received arrive once, from the next leader, flagged "may be a
// repeat"; those accepted and not yet recorded arrive twice, the second flagged).
//
// A master that stops cleanly finishes (or hands back, unmarked) the send under way before it
// releases the lease, so a planned failover repeats nothing (TestFailoverNoLossNoRepeat).
//
// TestHardKillMidSend shows the crash: two masters on their own connections, targets failing
// round after round, and the leader cut off (its NATS connection and its connections to the
// SMTP server or webhook receiver, no Shutdown) while a receiver holds the message it has just
// accepted. Every failed run is notified on both channels and logged once; only the ids of the
// held message arrive twice, the second copy flagged. A takeover costs the lease TTL plus
// SendLease for the held message (the test logs both). TestUnackedResultGoesToNextLeader shows
// a fetched, unacknowledged result reaching the next leader after AckWait.
//
// # Decisions
//
// notify_level_email, notify_level_page and notify_level_webhook are SQL Agent's levels (0 never,
// 1 on success, 2 on failure, 3 on completion) and go to notify_email_operator_name,
// notify_page_operator_name and notify_webhook_operator_name, or MSXOperator when the job names
// none. notify_after_failures N: failure notifications go out at the Nth failure in a row on a
// target and every Nth after it. notify_on_recovery: the first success after a notified failure
// is a "recovery" to the operators of the failure levels. notify_missed_run_grace G: when a target
// has not started a scheduled run G after its time (the schedule code of `msx schedule next`, in
// the target's time zone), one "missed" notification, and no other until the target runs the job
// again. Pages outside the operator's pager_days and hours are logged as off_duty, not sent.
// Silences (server, job or both, until a time) log the notifications they hold back as silenced.
//
// Performance-condition alerts match no event by severity or number: they answer the events a
// target raises (source "performance", schemas.Event.Alert naming the alert) when it finds the
// condition true in sys.dm_os_performance_counters (target/perfalert.go). The leader sends
// each target the set in its scope as a SET-ALERTS instruction (master/perfalerts.go).
//
// # Webhook allow-list
//
// Webhooks go only to the destinations Config.WebhookAllow (--webhook-allow) admits, by
// default any public address: checked when an operator is added or updated, and on the address
// each connection is made to, with no redirect followed and no proxy (allow.go).
//
// Storm grouping: notifications of the same kind, job (or alert), operator and channel queued
// within StormWindow (default 1 min, `--notify-window`) are one message listing every server.
//
// # Webhook body
//
// In the json format (default) the body is Message:
//
//	{"version": 1, "kind": "failure", "job": "Backup", "subject": "[msx] Job 'Backup' failed on 2 servers",
//	 "text": "...", "runs": [{"server": "SQL01", "run_id": "...", "outcome": "Failed",
//	 "started": "...", "finished": "...", "duration_seconds": 3.2, "step_id": 2,
//	 "step_name": "copy", "message": "..."}], "events": [...], "dashboard": "http://.../#/jobs/Backup",
//	 "ids": ["RUNID/MSXOperator/webhook"], "resent": false}
//
// kind is failure, success, completion, recovery, missed, alert or test. The slack format posts
// {"text": "*subject*\ntext"} (Slack incoming webhooks, Mattermost, Rocket.Chat); teams posts a
// MessageCard {"@type": "MessageCard", "summary", "title", "text"} (Teams incoming webhooks).
// A 2xx answer is success; 408, 429, 5xx and network errors are retried; other 4xx are not.
//
// # Metrics
//
// Service.Counts returns notifications by "channel/result" (email/sent, pager/off_duty,
// webhook/failed, ...) since the master started, for the metrics endpoint to export.
package notify
