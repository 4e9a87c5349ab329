package msdb

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Held is a job the target holds from its master.
type Held struct {
	JobID   string // as the master wrote it
	Name    string
	Version int
}

// Sink receives harvested runs. The target agent satisfies it with its store and outbox.
type Sink interface {
	// Held returns the jobs the target holds; history of other jobs is not reported.
	Held(ctx context.Context) ([]Held, error)
	// Cursor returns the last sysjobhistory instance_id reported, 0 at first.
	Cursor(ctx context.Context) (int64, error)
	// Report queues finished runs for the master and records cursor as the last instance_id
	// reported. Runs are identified by RunID, so reporting one twice (after a crash between
	// the two) has one effect on the master.
	Report(ctx context.Context, runs []schemas.RunResult, cursor int64) error
}

// batchRows bounds the history rows read in one poll.
const batchRows = 5000

// Harvester reads SQL Server Agent's history of the jobs the target holds and reports finished
// runs. Create it with Client.Harvester.
type Harvester struct {
	c    *Client
	sink Sink

	mu       sync.Mutex
	reported map[int64]bool // step 0 rows above the cursor already reported
}

// Harvester returns a harvester that reports to sink.
func (c *Client) Harvester(sink Sink) *Harvester {
	return &Harvester{c: c, sink: sink, reported: map[int64]bool{}}
}

// Run polls sysjobhistory every Config.PollInterval until ctx ends. Errors are logged and the
// next poll tries again. It returns nil when ctx ends.
func (h *Harvester) Run(ctx context.Context) error {
	t := time.NewTicker(h.c.interval)
	defer t.Stop()
	for {
		if _, err := h.Harvest(ctx); err != nil && ctx.Err() == nil {
			h.c.log.Warn("job history not harvested, will retry", "err", err, "wait", h.c.interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// histRow is one sysjobhistory row.
type histRow struct {
	instance   int64
	jobID      string // upper case
	step       int
	stepName   string
	msgID, sev int
	message    string
	status     int
	date, tod  int
	duration   int
	retries    int
}

// Harvest reads the history rows written since the last poll once, reports the runs that
// ended, and returns how many it reported.
func (h *Harvester) Harvest(ctx context.Context) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := withDefault(ctx)
	defer cancel()
	cursor, err := h.sink.Cursor(ctx)
	if err != nil {
		return 0, err
	}
	held, err := h.sink.Held(ctx)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]Held, len(held))
	for _, j := range held {
		byID[strings.ToUpper(j.JobID)] = j
	}
	rows, err := h.read(ctx, cursor)
	if err != nil {
		return 0, err
	}
	pending := map[string][]histRow{} // step rows of runs not ended, by job
	var runs []schemas.RunResult
	var top []int64
	last := cursor
	for _, r := range rows {
		last = r.instance
		if _, ok := byID[r.jobID]; !ok {
			continue
		}
		if r.step != 0 {
			pending[r.jobID] = append(pending[r.jobID], r)
			continue
		}
		run := append(pending[r.jobID], r)
		delete(pending, r.jobID)
		if h.reported[r.instance] {
			continue
		}
		runs = append(runs, h.result(byID[r.jobID], run))
		top = append(top, r.instance)
	}
	// The cursor stays before the first row of a run still going on, so that its rows are read
	// again with its outcome row; unless the batch was full, when waiting could stall forever.
	next := last
	if len(rows) < batchRows {
		for _, p := range pending {
			next = min(next, p[0].instance-1)
		}
	}
	if len(runs) == 0 && next == cursor {
		return 0, nil
	}
	if err := h.sink.Report(ctx, runs, next); err != nil {
		return 0, err
	}
	for id := range h.reported {
		if id <= next {
			delete(h.reported, id)
		}
	}
	for _, id := range top {
		if id > next {
			h.reported[id] = true
		}
	}
	return len(runs), nil
}

func (h *Harvester) read(ctx context.Context, cursor int64) ([]histRow, error) {
	q, err := h.c.db.QueryContext(ctx, fmt.Sprintf(`SELECT TOP %d h.instance_id, h.job_id, h.step_id, h.step_name,
		h.sql_message_id, h.sql_severity, h.message, h.run_status, h.run_date, h.run_time, h.run_duration,
		h.retries_attempted FROM msdb.dbo.sysjobhistory h JOIN msdb.dbo.sysjobs j ON j.job_id = h.job_id
		JOIN msdb.dbo.syscategories c ON c.category_id = j.category_id
		WHERE c.name = @p1 AND h.instance_id > @p2 ORDER BY h.instance_id`, batchRows), Category, cursor)
	if err != nil {
		return nil, fmt.Errorf("read msdb.dbo.sysjobhistory: %w", err)
	}
	defer q.Close()
	var out []histRow
	for q.Next() {
		var r histRow
		var id mssql.UniqueIdentifier
		var msg *string
		if err := q.Scan(&r.instance, &id, &r.step, &r.stepName, &r.msgID, &r.sev, &msg, &r.status, &r.date, &r.tod,
			&r.duration, &r.retries); err != nil {
			return nil, fmt.Errorf("read msdb.dbo.sysjobhistory: %w", err)
		}
		r.jobID = strings.ToUpper(id.String())
		if msg != nil {
			r.message = *msg
		}
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("read msdb.dbo.sysjobhistory: %w", err)
	}
	return out, nil
}

// invokedRe finds who started a run in SQL Server Agent's outcome message.
var invokedRe = regexp.MustCompile(`The Job was invoked by ([^.]+)\.`)

// result makes the finished RunResult of one run: its step rows, then the step 0 row last.
func (h *Harvester) result(j Held, run []histRow) schemas.RunResult {
	outcome := run[len(run)-1]
	runID := fmt.Sprintf("msdb-%d", outcome.instance)
	hist := make([]jobs.HistoryRow, 0, len(run))
	// SQL Server Agent writes the outcome row last; msx puts it first, as the runner does.
	for _, r := range append([]histRow{outcome}, run[:len(run)-1]...) {
		start := h.c.when(r.date, r.tod)
		hist = append(hist, jobs.HistoryRow{RunID: runID, JobID: j.JobID, JobName: j.Name, StepID: r.step, StepName: r.stepName,
			RunStatus: jobs.RunStatus(r.status), Message: r.message, RunDate: r.date, RunTime: r.tod, RunStarted: start.UTC(),
			RunDuration: r.duration, DurationMS: durationOf(r.duration).Milliseconds(), RetriesAttempted: r.retries,
			Server: h.c.server, SQLMessageID: r.msgID, SQLSeverity: r.sev})
	}
	started := h.c.when(outcome.date, outcome.tod).UTC()
	invoked := "SQL Server Agent"
	if m := invokedRe.FindStringSubmatch(outcome.message); m != nil {
		invoked = strings.TrimSpace(m[1])
	}
	return schemas.RunResult{RunID: runID, Phase: schemas.PhaseFinished, JobID: j.JobID, JobName: j.Name,
		VersionNumber: j.Version, Server: h.c.server, InvokedBy: invoked, Started: started,
		Finished: started.Add(durationOf(outcome.duration)), RunStatus: outcome.status, Message: outcome.message,
		Rows: jobs.EncodeRows(hist, jobs.MaxRowsBytes)}
}

// when returns msdb's yyyymmdd and hhmmss integers as a time in the target's zone.
func (c *Client) when(date, tod int) time.Time {
	return time.Date(date/10000, time.Month(date/100%100), date%100, tod/10000, tod/100%100, tod%100, 0, c.loc)
}

// durationOf reads msdb's hhmmss run_duration.
func durationOf(d int) time.Duration {
	return time.Duration(d/10000)*time.Hour + time.Duration(d/100%100)*time.Minute + time.Duration(d%100)*time.Second
}
