package tsql

import (
	"github.com/msx-project/msx/schemas/notify"

	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/schedule"
)

// Problem is one thing in a script that Import did not translate, or translated with a loss:
// a parameter msx does not model, a procedure it does not know, a statement it does not
// evaluate, a value it cannot work out.
type Problem struct {
	// Line is the 1-based line of the script the problem is on: the parameter's own line when
	// the problem is about one parameter.
	Line int `json:"line"`
	// Message says what was not translated and why.
	Message string `json:"message"`
}

// String returns "line N: message".
func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Message) }

// Result is what Import found in a script.
type Result struct {
	// Jobs are the jobs the script creates, in the order of their sp_add_job calls, as the
	// script writes them: defaults are not filled in (call jobs.Job.Normalize) and values are
	// not checked (call jobs.Job.Validate).
	Jobs []jobs.Job `json:"jobs"`
	// Operators and Alerts are those the script creates (sp_add_operator; sp_add_alert with
	// its sp_add_notification calls), as written: call Normalize and Validate.
	Operators []notify.Operator `json:"operators,omitempty"`
	Alerts    []notify.Alert    `json:"alerts,omitempty"`
	// Problems are everything Import did not translate, ordered by line.
	Problems []Problem `json:"problems,omitempty"`
	// JobLines are the lines of the sp_add_job calls of Jobs, in the same order.
	JobLines []int `json:"-"`
}

// NotImported is a job the script creates that cannot be an msx job: a step of a subsystem
// msx does not run (Snapshot, Distribution, SSIS, ...), a value out of msx's range
// (retry_attempts 2147483647, which replication writes for "retry forever", when SQL Server's
// sp_add_jobstep itself allows 0..9999). The other jobs of the script are imported.
type NotImported struct {
	// Job is the job's name.
	Job string `json:"job"`
	// Line is the line of its sp_add_job call.
	Line int `json:"line"`
	// Reason says why, with each problem jobs.Job.Validate found.
	Reason string `json:"reason"`
}

// Import reads a T-SQL script that creates SQL Server Agent jobs, as SQL Server Management
// Studio's "Script Job as CREATE", dbatools' Export-DbaScript and maintenance solutions such as
// Ola Hallengren's MaintenanceSolution.sql write them, and returns the jobs as msx job
// documents. It evaluates the script for the default server of Options; see ImportWith.
func Import(script []byte) (Result, error) { return ImportWith(script, Options{}) }

// ImportWith is Import for the server and limits of opt. See the package documentation for
// what it evaluates and how each parameter is mapped.
//
// Anything Import cannot translate is listed in Result.Problems with its line; nothing is
// dropped silently. The jobs are returned as the script writes them: Result.Partition tells
// the valid msx jobs from those that are not (a Snapshot step, retry_attempts 2147483647).
// ImportWith returns an error wrapping ErrOptions when
// opt is wrong; ErrSyntax, with an empty Result, when a string, identifier or comment is not
// closed; ErrLimit, with the problems but no job, when the script exceeds a bound of opt; and
// ErrNoJob, with the Result's problems, when the script creates no job.
func ImportWith(script []byte, opt Options) (Result, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Result{}, err
	}
	src, pre := preprocess(decodeScript(script), opt.Vars)
	toks, err := codeTokens(src)
	if err != nil {
		return Result{}, err
	}
	p := newParser(opt)
	p.toks = toks
	p.budget = 128<<20 + 4*len(src)
	p.problems = pre
	p.run()
	res := p.collect()
	if p.halted != nil {
		return Result{Problems: res.Problems}, fmt.Errorf("%w: line %d: %s", ErrLimit, p.halted.Line, p.halted.Message)
	}
	if len(res.Jobs) == 0 && len(res.Operators) == 0 && len(res.Alerts) == 0 {
		return res, fmt.Errorf("%w: no sp_add_job call was translated", ErrNoJob)
	}
	return res, nil
}

// newParser returns a parser with no script, for opt (defaults filled).
func newParser(opt Options) *parser {
	return &parser{
		vars:        map[string]*variable{},
		byName:      map[string]*jobState{},
		tvars:       map[string]*table{},
		temp:        map[string]*table{},
		categories:  defaultCategories(),
		cursors:     map[string]*cursor{},
		fetchStatus: -1,
		db:          "master",
		opt:         opt,
		lim:         limits{deadline: time.Now().Add(opt.MaxTime)},
		budget:      64 << 20,
	}
}

// collect reports what the script left unfinished (finish) and returns the jobs, operators
// and alerts made so far with every problem ordered by line. Import and Builder share it.
func (p *parser) collect() Result {
	p.finish()
	res := Result{Operators: p.operators, Alerts: p.alerts}
	res.Problems = slices.Clone(p.problems)
	slices.SortStableFunc(res.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	for _, js := range p.jobs {
		if js.deleted {
			continue
		}
		res.Jobs = append(res.Jobs, js.job)
		res.JobLines = append(res.JobLines, js.line)
	}
	return res
}

// Partition splits the jobs of a Result into those that are valid msx jobs, normalized for
// today (jobs.Job.Normalize), and those that are not, with the reason and the line of their
// sp_add_job: a partial import applies the first and reports the second.
func (r Result) Partition(today time.Time) ([]jobs.Job, []NotImported) {
	var ok []jobs.Job
	var not []NotImported
	for i, j := range r.Jobs {
		c := j.Clone()
		c.Normalize(today)
		line := 0
		if i < len(r.JobLines) {
			line = r.JobLines[i]
		}
		if l := c.Validate(); len(l) > 0 {
			msgs := make([]string, 0, len(l))
			for _, e := range l {
				msgs = append(msgs, e.String())
			}
			for _, s := range c.Steps {
				if s.RetryAttempts > 9999 {
					msgs = append(msgs, fmt.Sprintf("retry_attempts %d is how replication agents say 'retry for ever', which msx does not do; "+
						"give @retry_attempts a count up to 9999 in the script to import the job", s.RetryAttempts))
					break
				}
			}
			not = append(not, NotImported{Job: j.Name, Line: line, Reason: strings.Join(msgs, "; ")})
			continue
		}
		ok = append(ok, c)
	}
	return ok, not
}

// jobState is a job being built.
type jobState struct {
	job  jobs.Job
	line int // the sp_add_job call
	// ids are the job ids given as literals (@job_id = N'...'), by which later calls may
	// refer to the job; msx does not keep them.
	ids []string
	// deleted is set by sp_delete_job (at line deletedAt): the job is not returned.
	deleted   bool
	deletedAt int
}

// schedState is a schedule made by sp_add_schedule, waiting for sp_attach_schedule.
type schedState struct {
	s        schedule.Schedule
	line     int
	attached bool
	uid      string // @schedule_uid, lower case
}

// finish reports what the script left unfinished.
func (p *parser) finish() {
	for _, s := range p.scheds {
		if !s.attached {
			p.problem(s.line, "schedule '%s' is not imported: no sp_attach_schedule attaches it to a job of this script, "+
				"and an msx schedule belongs to a job", s.s.Name)
		}
	}
}
