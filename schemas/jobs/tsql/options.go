package tsql

import (
	"fmt"
	"strings"
	"time"
)

// Options say what server Import evaluates a script for, and bound the evaluation. The zero
// value is a default SQL Server 2022 Enterprise on Windows with the default limits.
type Options struct {
	// Platform is the host the script is evaluated for: "windows" (the default) or "linux".
	// It answers sys.dm_os_host_info, @@VERSION and the log directory.
	Platform string
	// Edition is the edition SERVERPROPERTY('Edition') and ('EngineEdition') report:
	// "enterprise" (the default), "developer", "standard", "web", "express" or
	// "managed-instance" (Azure SQL Managed Instance).
	Edition string
	// ProductVersion is SERVERPROPERTY('ProductVersion'); default "16.0.4135.4" (SQL Server 2022).
	ProductVersion string
	// Vars are SQLCMD variables, as sqlcmd -v gives them: $(NAME) in the script is replaced by
	// the value. A :setvar in the script wins over a value given here, as in sqlcmd.
	Vars map[string]string

	// MaxStatements bounds the statements run, loops and dynamic SQL included; default 1,000,000.
	MaxStatements int
	// MaxIterations bounds the iterations of one WHILE loop; default 100,000.
	MaxIterations int
	// MaxTime bounds the time the evaluation takes; default 10s.
	MaxTime time.Duration
	// MaxString bounds the length in bytes of one string value; default 1 MiB.
	MaxString int
	// MaxRows bounds the rows of all table variables and temporary tables together; default 100,000.
	MaxRows int
	// MaxDepth bounds the nesting of dynamic SQL (EXEC of a string, sp_executesql); default 8.
	MaxDepth int
}

// Platforms and editions Options accept.
var (
	platforms = []string{"windows", "linux"}
	editions  = map[string]struct {
		name   string
		engine int
	}{
		"enterprise":       {"Enterprise Edition (64-bit)", 3},
		"developer":        {"Developer Edition (64-bit)", 3},
		"standard":         {"Standard Edition (64-bit)", 2},
		"web":              {"Web Edition (64-bit)", 2},
		"express":          {"Express Edition (64-bit)", 4},
		"managed-instance": {"SQL Azure", 8},
	}
)

// withDefaults checks o and fills its defaults. The error wraps ErrOptions.
func (o Options) withDefaults() (Options, error) {
	o.Platform = strings.ToLower(strings.TrimSpace(o.Platform))
	if o.Platform == "" {
		o.Platform = "windows"
	}
	if !containsFold(platforms, o.Platform) {
		return o, fmt.Errorf("%w: platform %q: give windows or linux", ErrOptions, o.Platform)
	}
	o.Edition = strings.ToLower(strings.TrimSpace(o.Edition))
	if o.Edition == "" {
		o.Edition = "enterprise"
	}
	if _, ok := editions[o.Edition]; !ok {
		return o, fmt.Errorf("%w: edition %q: give enterprise, developer, standard, web, express or managed-instance", ErrOptions, o.Edition)
	}
	if o.ProductVersion == "" {
		o.ProductVersion = "16.0.4135.4"
	}
	for name, v := range o.Vars {
		if !isSQLCmdName(name) {
			return o, fmt.Errorf("%w: SQLCMD variable %q: a name is letters, digits, _ and -, starting with a letter or _", ErrOptions, name)
		}
		if strings.ContainsAny(v, "\r\n") {
			return o, fmt.Errorf("%w: SQLCMD variable %s: the value holds a line break, which would move the script's line numbers; give a one-line value", ErrOptions, name)
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxStatements, 1_000_000)
	def(&o.MaxIterations, 100_000)
	def(&o.MaxString, 1<<20)
	def(&o.MaxRows, 100_000)
	def(&o.MaxDepth, 8)
	if o.MaxTime <= 0 {
		o.MaxTime = 10 * time.Second
	}
	return o, nil
}

// limits is the evaluation's progress against Options' bounds.
type limits struct {
	statements int
	rowReads   int // rows read by queries, which a statement may repeat (nested subqueries)
	deadline   time.Time
	rows       int
}

// halt stops the evaluation: every statement after it is passed over, and Import returns an
// error wrapping ErrLimit that names the line.
func (p *parser) halt(line int, format string, args ...any) {
	if p.halted != nil {
		return
	}
	p.halted = &Problem{Line: line, Message: "evaluation stopped: " + fmt.Sprintf(format, args...)}
	p.problems = append(p.problems, *p.halted)
}

// count counts a statement against the statement and time limits.
func (p *parser) count(line int) bool {
	if p.halted != nil {
		return false
	}
	p.lim.statements++
	if p.lim.statements > p.opt.MaxStatements {
		p.halt(line, "the script runs more than %d statements (a loop that does not end?)", p.opt.MaxStatements)
		return false
	}
	if p.lim.statements%64 == 0 && time.Now().After(p.lim.deadline) {
		p.halt(line, "the evaluation takes longer than %s", p.opt.MaxTime)
		return false
	}
	return true
}

// readRow counts a row read by a query against the time limit and a bound of 100 rows per
// statement allowed, so that nested subqueries over large tables cannot hang the evaluation.
func (p *parser) readRow(line int) bool {
	if p.halted != nil {
		return false
	}
	p.lim.rowReads++
	if p.lim.rowReads > 100*p.opt.MaxStatements {
		p.halt(line, "the script's queries read more than %d rows (nested subqueries over large tables?)", 100*p.opt.MaxStatements)
		return false
	}
	if p.lim.rowReads%1024 == 0 && time.Now().After(p.lim.deadline) {
		p.halt(line, "the evaluation takes longer than %s", p.opt.MaxTime)
		return false
	}
	return true
}

// checkString stops the evaluation when a string built at line is longer than MaxString.
// It also counts the bytes against the budget of all the strings the evaluation builds, so
// that a loop filling many rows or variables with large strings cannot exhaust memory.
func (p *parser) checkString(n, line int) bool {
	if n > p.opt.MaxString {
		p.halt(line, "a string of %d bytes is built, more than the %d bytes Import evaluates", n, p.opt.MaxString)
		return false
	}
	if p.budget -= n; p.budget < 0 {
		p.halt(line, "the script builds more strings than Import evaluates (a loop that does not end?)")
		return false
	}
	return true
}
