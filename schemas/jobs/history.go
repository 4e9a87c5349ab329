package jobs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// RunStatus is the run_status of a history row, with SQL Server Agent's codes
// (msdb.dbo.sysjobhistory.run_status). The list is append-only.
type RunStatus int

// Run statuses.
const (
	RunFailed     RunStatus = 0
	RunSucceeded  RunStatus = 1
	RunRetry      RunStatus = 2 // a failed attempt that will be retried
	RunCanceled   RunStatus = 3
	RunInProgress RunStatus = 4
)

// String returns the name SQL Server Management Studio shows for the status.
func (s RunStatus) String() string {
	switch s {
	case RunFailed:
		return "Failed"
	case RunSucceeded:
		return "Succeeded"
	case RunRetry:
		return "Retry"
	case RunCanceled:
		return "Canceled"
	case RunInProgress:
		return "In Progress"
	}
	return "RunStatus(" + strconv.Itoa(int(s)) + ")"
}

// RunOutcome is a job's last_run_outcome (msdb.dbo.sysjobservers), with SQL Server Agent's
// codes. It has the values of RunStatus plus OutcomeUnknown for a job that has not reported yet.
// The list is append-only.
type RunOutcome int

// Last run outcomes.
const (
	OutcomeFailed     RunOutcome = 0
	OutcomeSucceeded  RunOutcome = 1
	OutcomeRetry      RunOutcome = 2
	OutcomeCanceled   RunOutcome = 3
	OutcomeInProgress RunOutcome = 4
	OutcomeUnknown    RunOutcome = 5
)

// String returns the name SQL Server Management Studio shows for the outcome.
func (o RunOutcome) String() string {
	if o == OutcomeUnknown {
		return "Unknown"
	}
	return RunStatus(o).String()
}

// Outcome returns the last_run_outcome a job has after a run that ended with status s.
func (s RunStatus) Outcome() RunOutcome { return RunOutcome(s) }

// JobOutcomeStepName is the step_name of the job outcome row (step_id 0).
const JobOutcomeStepName = "(Job outcome)"

// HistoryRow is one row of job history, the msx form of msdb.dbo.sysjobhistory: step_id 0 is the
// job outcome, named "(Job outcome)"; every other row is one attempt of one step. Targets send
// rows to the master, which stores them and assigns InstanceID.
type HistoryRow struct {
	// InstanceID is the row's id in the master's history store; 0 until stored.
	InstanceID int64 `json:"instance_id"`
	// RunID identifies the run the row belongs to, so that rows of one run can be grouped
	// without comparing times (msx addition). Empty when the caller gave none.
	RunID    string `json:"run_id,omitempty"`
	JobID    string `json:"job_id"`
	JobName  string `json:"job_name"`
	StepID   int    `json:"step_id"` // 0 for the job outcome
	StepName string `json:"step_name"`
	// RunStatus is the result of the attempt, or of the job for step 0.
	RunStatus RunStatus `json:"run_status"`
	// Message is SQL Server Agent's history message ("The step succeeded.", "The job failed.
	// The Job was invoked by ...").
	Message string `json:"message"`
	// RunDate (yyyymmdd) and RunTime (hhmmss) give when the attempt or the job started, in the
	// target's local time, as SQL Server Agent stores them.
	RunDate int `json:"run_date"`
	RunTime int `json:"run_time"`
	// RunStarted is the same instant as RunDate and RunTime, in UTC (msx addition).
	RunStarted time.Time `json:"run_started"`
	// RunDuration is the elapsed time in SQL Server Agent's form: hhmmss as an integer
	// (1h02m03s is 10203). DurationMS is the same in milliseconds (msx addition).
	RunDuration      int   `json:"run_duration"`
	DurationMS       int64 `json:"duration_ms"`
	RetriesAttempted int   `json:"retries_attempted"`
	// Server is the target the row was produced on.
	Server string `json:"server"`
	// SQLMessageID and SQLSeverity are the SQL Server error number and severity of a failed
	// T-SQL step; 0 otherwise.
	SQLMessageID int `json:"sql_message_id"`
	SQLSeverity  int `json:"sql_severity"`
	// Output is the text the step produced, bounded by the target's output limit; a truncated
	// output says so with "[output truncated: N bytes omitted]". Empty for step 0.
	Output string `json:"output,omitempty"`
}

// DateInt returns t's date as SQL Server Agent's yyyymmdd integer, in t's location.
func DateInt(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }

// TimeInt returns t's time of day as SQL Server Agent's hhmmss integer, in t's location.
func TimeInt(t time.Time) int { return t.Hour()*10000 + t.Minute()*100 + t.Second() }

// DurationInt returns d in SQL Server Agent's run_duration form: hhmmss as an integer, whole
// seconds, hours not wrapped at 24 (25h is 250000). A negative d counts as 0.
func DurationInt(d time.Duration) int {
	if d < 0 {
		return 0
	}
	s := int(d / time.Second)
	return s/3600*10000 + s/60%60*100 + s%60
}

// MaxRowsBytes bounds the encoded history rows of one run report: a NATS server's default
// max_payload is 1 MiB, and the report's other fields need room too.
const MaxRowsBytes = 768 << 10

// EncodeRows returns the rows as JSON documents whose total size stays under budget: when they
// do not fit, each row's output keeps its start and its end with a truncation marker, and if
// that is not enough the step rows after the first step are dropped, oldest first (the job
// outcome row, the first step and the last steps say the most).
func EncodeRows(rows []HistoryRow, budget int) []json.RawMessage {
	out, size := encodeAll(rows)
	if size <= budget {
		return out
	}
	rows = slices.Clone(rows)
	bare := size
	for _, b := range out {
		bare -= len(b)
	}
	for i := range rows {
		o := rows[i].Output
		rows[i].Output = ""
		b, _ := json.Marshal(rows[i])
		bare += len(b)
		rows[i].Output = o
	}
	share := 0
	if bare < budget {
		share = (budget - bare) / len(rows)
	}
	for i := range rows {
		if o := rows[i].Output; len(o) > share {
			half := share / 2
			rows[i].Output = o[:half] + fmt.Sprintf("\n[output truncated: %d bytes omitted to fit the run report]\n", len(o)-2*half) + o[len(o)-half:]
		}
	}
	out, size = encodeAll(rows)
	for len(out) > 2 && size > budget {
		size -= len(out[2]) + 1
		out = append(out[:2], out[3:]...)
	}
	return out
}

func encodeAll(rows []HistoryRow) ([]json.RawMessage, int) {
	out := make([]json.RawMessage, len(rows))
	size := 0
	for i, r := range rows {
		out[i], _ = json.Marshal(r)
		size += len(out[i]) + 1
	}
	return out, size
}
