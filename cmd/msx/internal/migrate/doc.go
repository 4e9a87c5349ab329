// Package migrate moves SQL Server Agent jobs to msx: an MSX master's multiserver jobs, target
// servers, target server groups, operators and alerts (msx migrate --from DSN), or a server's
// local jobs (msx job import --from-server DSN).
//
// # Reading
//
// Open connects with github.com/microsoft/go-mssqldb and bounds the wait for the server's
// first answer (the driver does not watch the context then). Read reads msdb with plain
// SELECTs: sysjobs (with syscategories for the category, master.sys.server_principals for the
// owner, sysoperators for the e-mail and pager operators), sysjobsteps (sysproxies for the
// proxy name), sysjobschedules with sysschedules (a shared schedule is copied into each job
// that uses it, since an msx schedule belongs to one job, and noted), sysjobservers
// (server_id 0 is the local server; other ids are systargetservers rows), systargetservers,
// systargetservergroups and systargetservergroupmembers, sysoperators, sysalerts with
// sysnotifications, and sp_get_sqlagent_properties for the job history limits.
//
// Fields map as schemas/jobs/tsql maps sp_add_job, sp_add_jobstep and sp_add_schedule
// parameters: "No description available." and the [Uncategorized ...] categories become
// empty; net send levels and operators, @additional_parameters, @server,
// @database_user_name and @os_run_priority are not modelled by msx and are noted on the job.
//
// # Applying
//
// Migrator.Run compares with what the master holds and applies only differences, through the
// master's HTTP API (master/client): groups, then members, operators, jobs (POST /api/v1/jobs,
// with ?dry_run=true in a dry run: the master compares the job's digest and targets with what
// it holds, changes nothing for an unchanged job, and says what it created or changed), alerts, and an enlistment token bound to each target server not enlisted yet
// (none when an unused one exists). msx only targets enlisted servers, so a job gets the
// servers enlisted so far and a group the members enlisted so far; the others are "pending"
// until a later run. Every object is an Item with an action: create, update, unchanged,
// pending, note, left out (not part of this migration: local jobs of the master), or not
// migrated with the reason (an invalid name, a Snapshot step, an alert on a database...).
// Nothing read is dropped without an item.
package migrate
