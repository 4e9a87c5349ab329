// Package msdb runs a target's downloaded jobs in SQL Server Agent ("msdb" agent mode) instead
// of the target agent's own scheduler and runner ("runner" mode, the default).
//
// Client writes each job into the local msdb through go-mssqldb, the way a SQL Server Agent
// target (TSX) holds its master's jobs: sp_add_job with @job_id set to the master's job id and
// @category_name = N'Jobs from MSX', sp_add_jobstep for each step, sp_add_jobschedule for each
// schedule and sp_add_jobserver @server_name = N'(local)', in one transaction. A job already in
// msdb (by job_id) is deleted, keeping its history, and added again, so the steps and schedules
// in msdb are always exactly the snapshot's. START and STOP call sp_start_job and sp_stop_job,
// which only queue the request: SQL Server Agent runs the job.
//
// Harvester polls msdb.dbo.sysjobhistory for rows of the jobs the target holds, newer than the
// last instance_id it reported (kept by its Sink, in the agent's store), groups each job's step
// rows with the step 0 "(Job outcome)" row that ends the run, and hands the runs to the Sink as
// finished RunResults (run_status from step 0). Runs still going on are left for the next poll.
//
//	sysjobhistory rows ──poll──► step rows wait per job ──step 0 row──► RunResult "finished"
//	                                                                      │
//	                               Sink.Report(runs, cursor) ◄────────────┘
//
// What SQL Server Agent cannot express is refused rather than dropped: a job with a cron
// schedule, or a schedule in a time zone other than the target's, fails its INSERT with
// CodeNotExpressible. Step timeouts (an msx addition) are not enforced by SQL Server Agent; the
// job is written without them and a warning is logged.
//
// # Local edits
//
// The category "Jobs from MSX" marks the jobs msx wrote; msx relies on it and on the master's
// snapshots, not on a lock: SQL Server refuses local edits of downloaded jobs (14274) only for
// jobs whose originating server is a SQL Server MSX, which jobs written through sp_add_job are
// not. A DBA can therefore change such a job locally; the next INSERT from the master (any change
// of the job, or a resync) replaces it with the master's definition.
//
// # Limits
//
//   - No "started" RunResult: sysjobhistory has a row only when a step ends.
//   - A DELETE removes the job's history with it (as MSX does on defection), so a run that ended
//     less than one poll interval before the DELETE is not reported.
//   - delete_level is passed to SQL Server Agent, which deletes the job itself after the run; the
//     agent's store still holds it until the master sends the next snapshot or DELETE.
package msdb
