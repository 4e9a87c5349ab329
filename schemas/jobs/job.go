// Package jobs is the msx job model: SQL Server Agent's job, steps and schedules with its
// parameter names, defaults, codes and validation, plus msx's additions (cron schedules, step
// timeouts, live targeting by server and group, run policies (policy.go) and per-target
// variables used as $(VAR:NAME) (vars.go)).
package jobs

import (
	"github.com/msx-project/msx/schemas/schedule"
)

// Subsystems.
const (
	SubsystemTSQL       = "TSQL"
	SubsystemCmdExec    = "CmdExec"
	SubsystemPowerShell = "PowerShell"
)

// Step actions (on_success_action, on_fail_action).
const (
	ActionQuitSuccess = 1
	ActionQuitFailure = 2
	ActionNextStep    = 3
	ActionGoToStep    = 4
)

// Notification and delete levels.
const (
	LevelNever     = 0
	LevelOnSuccess = 1
	LevelOnFailure = 2
	LevelAlways    = 3
)

// MaxNotifyAfterFailures bounds notify_after_failures.
const MaxNotifyAfterFailures = 10000

// Job is one multiserver job. Field names are sp_add_job's parameters in snake case.
// JobID and VersionNumber are assigned by the master; a document being applied omits them.
type Job struct {
	JobID               string `json:"job_id,omitempty"`
	VersionNumber       int    `json:"version_number,omitempty"`
	Name                string `json:"name"`
	Description         string `json:"description,omitempty"`
	Enabled             *bool  `json:"enabled,omitempty"` // default true
	Category            string `json:"category,omitempty"`
	Owner               string `json:"owner,omitempty"`
	StartStepID         int    `json:"start_step_id,omitempty"`         // default 1
	NotifyLevelEventlog *int   `json:"notify_level_eventlog,omitempty"` // default 2
	NotifyLevelEmail    int    `json:"notify_level_email,omitempty"`
	NotifyLevelPage     int    `json:"notify_level_page,omitempty"`
	NotifyEmailOperator string `json:"notify_email_operator_name,omitempty"`
	NotifyPageOperator  string `json:"notify_page_operator_name,omitempty"`
	// NotifyLevelWebhook and NotifyWebhookOperator (msx) notify an operator's webhook, as
	// notify_level_email does its e-mail address (SQL Agent's net send, retired).
	NotifyLevelWebhook    int    `json:"notify_level_webhook,omitempty"`
	NotifyWebhookOperator string `json:"notify_webhook_operator_name,omitempty"`
	// NotifyAfterFailures (msx): failure notifications go out at the Nth failure in a row on a
	// target and every Nth after it (default 1: every failure).
	NotifyAfterFailures int `json:"notify_after_failures,omitempty"`
	// NotifyOnRecovery (msx): the first success after a notified failure on a target notifies
	// the operators of the failure levels.
	NotifyOnRecovery bool `json:"notify_on_recovery,omitempty"`
	// NotifyMissedRunGrace (msx), when set, notifies the operators of the failure levels when a
	// target has not started a scheduled run this long after its time (offline, disk full,
	// agent stopped): one notification until the target runs the job again.
	NotifyMissedRunGrace Duration            `json:"notify_missed_run_grace,omitempty"`
	DeleteLevel          int                 `json:"delete_level,omitempty"`
	Steps                []Step              `json:"steps"`
	Schedules            []schedule.Schedule `json:"schedules,omitempty"`
	Targets              Targets             `json:"targets,omitzero"`

	// Variables (msx) are the per-target variables the steps use as $(VAR:NAME) (vars.go).
	Variables []Variable `json:"variables,omitempty"`

	RunPolicy // msx: overlap, catch-up and chains (policy.go)
}

// Step is one job step. Field names are sp_add_jobstep's parameters in snake case.
type Step struct {
	StepID             int      `json:"step_id,omitempty"`
	StepName           string   `json:"step_name"`
	Subsystem          string   `json:"subsystem,omitempty"` // default TSQL
	Command            string   `json:"command"`
	DatabaseName       string   `json:"database_name,omitempty"` // T-SQL, default master
	CmdExecSuccessCode int      `json:"cmdexec_success_code,omitempty"`
	OnSuccessAction    int      `json:"on_success_action,omitempty"` // default 1
	OnSuccessStepID    int      `json:"on_success_step_id,omitempty"`
	OnFailAction       int      `json:"on_fail_action,omitempty"` // default 2
	OnFailStepID       int      `json:"on_fail_step_id,omitempty"`
	RetryAttempts      int      `json:"retry_attempts,omitempty"`
	RetryInterval      int      `json:"retry_interval,omitempty"` // minutes
	OutputFileName     string   `json:"output_file_name,omitempty"`
	Flags              int      `json:"flags,omitempty"`
	ProxyName          string   `json:"proxy_name,omitempty"`
	Timeout            Duration `json:"timeout,omitempty"` // msx: cancel the step after this long
	// ConnectionProfile (msx, T-SQL steps only) names a SQL Server connection that each target
	// defines in its own configuration; the step runs there instead of on the target's own
	// instance. The job carries the name only, never the connection string.
	ConnectionProfile string `json:"connection_profile,omitempty"`
}

// Targets names the servers and groups a job is applied to. Group membership is live: a server
// added to a group later receives the group's jobs (MSX expands groups once, at apply time).
type Targets struct {
	Servers []string `json:"servers,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// IsEnabled reports whether the job is enabled (absent means enabled).
func (j Job) IsEnabled() bool { return j.Enabled == nil || *j.Enabled }
