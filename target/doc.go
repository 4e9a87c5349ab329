// Package target is the msx target agent: it enlists one SQL Server instance with a master,
// reads its own instructions from the bus in posting order, applies each exactly once against
// its local database, reports what it did, and sends heartbeats that carry what an MSX poll
// carries plus a digest of the jobs it holds.
//
// Instruction states on a target:
//
//	posted ──delivered──> applying ──commit──> applied ──outbox──> reported
//	                          │                   ▲
//	                          └──error──> failed ─┘ (recorded, reported; later ones go on)
//
// A redelivered instruction (same id) is recognised in the local database and has no effect.
// An instruction reads and changes only the job it names: the jobs held are kept in memory
// (held.go) beside the local database, changed one at a time after each commit, and the
// heartbeat's job digest is computed from memory once per change of the set.
//
// The two agent modes are two implementations of one interface (jobHost, mode.go): runner
// mode (mode_runner.go) and msdb mode (mode_msdb.go). Neither is called inside the local
// database's write transaction.
//
// In the default agent mode ("runner") jobs run on the target itself: package scheduler fires
// them on their schedules in the target's time zone, START and STOP instructions start and stop them, and a run manager keeps
// at most one run per job (SQL Server Agent's 22022 otherwise). A firing while the job runs
// follows the job's overlap policy (overlap.go: skipped and reported, queued, or replacing the
// run); firings missed while the agent was stopped are run late for jobs with a catch-up
// policy (package scheduler, catchup.go); a finished run starts the job its outcome names
// (on_success_start, on_failure_start: chain.go). Each run reports a "started"
// and a "finished" RunResult (with its history rows) on msx.result.<target>.<job>, and failed
// or canceled runs and failed steps raise events on msx.event.<target>.<severity>, all through
// the outbox, so reports made while the bus is away are sent, in order, once it is back. While a
// step runs, its output also goes out live, in bounded chunks on core NATS (liveout.go; best
// effort, never slowing the step; masked as history is). T-SQL
// steps run on the SQL Server of Config.SQLDSN or on an embedded SQLite database (local.db). A
// run that an agent crash interrupted is reported as failed when the agent starts again.
//
// At most one instance of a job runs, across crashes: each CmdExec or PowerShell step runs in a
// process group of its own, recorded in the local database before the agent waits on it. An
// agent that starts after a crash first ends (Config.OrphanPolicy "end": SIGTERM, then SIGKILL
// after Config.OrphanGrace) or waits for ("wait") the groups its previous life left running,
// then reports each interrupted run once, naming the step, and only then schedules. A step's
// outcome is its main process's exit; the children it leaves behind are ended then, unless
// Config.KeepStepChildren.
//
// Reports leave the outbox in windows of asynchronous publishes, in order, each with its
// Nats-Msg-Id; the outbox is bounded by Config.OutboxBytes (what goes first when it is full:
// store.PruneOutbox), and applied instruction ids are kept for Config.AppliedKeep (prune.go).
//
// No report is lost to a full disk. A report the local database refuses is held in memory
// (spool.go: bounded by Config.HoldBytes, with a documented drop order that never drops an
// outcome), sent directly in order behind the outbox, and written to the outbox once the disk
// takes writes again; heartbeats carry the disk state (ok, low, full), free bytes and reports
// held. An agent that cannot open its database at all runs degraded (degraded.go): it
// heartbeats "full" and says what to do, applies and runs nothing, and resumes by itself.
//
// In "msdb" mode (package msdb) the agent writes downloaded jobs into the local SQL Server Agent
// instead, lets it run them, and harvests msdb.dbo.sysjobhistory into the same reports.
//
// Steps that name a proxy run as the OS account the target's own proxies file maps it to
// (proxy.go); SQL Server errors from the error log are forwarded as events (package errorlog).
//
// With a SQL Server, the performance conditions of the alerts the master sends (SET-ALERTS,
// stored in the store: perfalerts_apply.go) and of Config.PerfAlerts (msx target --perf-alerts
// FILE: LoadPerfAlerts) are evaluated every Config.PerfInterval (default 20 s, as SQL Agent)
// from sys.dm_os_performance_counters (perfalert.go), each counter by its cntr_type: raw,
// per second from two samples, or a ratio or average over its base row
// (perfalert_counters.go); a condition that becomes true raises an event of source
// "performance" naming the alert, which the master's alert service answers. The evaluator's
// state is in memory: after a restart a condition still true raises once more (the master's
// delay_between_responses throttles it). Heartbeats carry the digest of the set held
// (alert_digest) for the master's drift repair.
package target
