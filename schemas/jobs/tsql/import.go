package tsql

import (
	"github.com/msx-project/msx/schemas/notify"

	"cmp"
	"fmt"
	"slices"

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
}

// Import reads a T-SQL script that creates SQL Server Agent jobs, as SQL Server Management
// Studio's "Script Job as CREATE" and maintenance solutions such as Ola Hallengren's
// MaintenanceSolution.sql write them, and returns the jobs as msx job documents. See the
// package documentation for what it reads and how each parameter is mapped.
//
// Anything Import cannot translate is listed in Result.Problems with its line; nothing is
// dropped silently. Import returns an error wrapping ErrSyntax, with an empty Result, when a
// string, identifier or comment is not closed, and an error wrapping ErrNoJob, with the
// Result's problems, when the script creates no job.
func Import(script []byte) (Result, error) {
	src := decodeScript(script)
	all, err := tokenize(src)
	if err != nil {
		return Result{}, err
	}
	toks := make([]token, 0, len(all))
	for _, t := range all {
		if t.kind != kindComment {
			toks = append(toks, t)
		}
	}
	p := &parser{
		toks:   toks,
		vars:   map[string]*variable{},
		byName: map[string]*jobState{},
		budget: 16<<20 + 4*len(src),
	}
	p.run()
	p.finish()

	var res Result
	for _, js := range p.jobs {
		res.Jobs = append(res.Jobs, js.job)
	}
	res.Operators, res.Alerts = p.operators, p.alerts
	res.Problems = p.problems
	slices.SortStableFunc(res.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	if len(res.Jobs) == 0 && len(res.Operators) == 0 && len(res.Alerts) == 0 {
		return res, fmt.Errorf("%w: no sp_add_job call was translated", ErrNoJob)
	}
	return res, nil
}

// jobState is a job being built.
type jobState struct {
	job  jobs.Job
	line int // the sp_add_job call
	// ids are the job ids given as literals (@job_id = N'...'), by which later calls may
	// refer to the job; msx does not keep them.
	ids []string
}

// schedState is a schedule made by sp_add_schedule, waiting for sp_attach_schedule.
type schedState struct {
	s        schedule.Schedule
	line     int
	attached bool
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
