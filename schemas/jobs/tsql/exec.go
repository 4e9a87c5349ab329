package tsql

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// arg is one argument of a procedure call.
type arg struct {
	name   string // lower case, without @; the parameter it was matched to
	val    value
	line   int
	output bool
	varTok token // the variable given, for OUTPUT parameters
	used   bool
}

// call is one EXEC of a known procedure, with its arguments matched to parameters.
type call struct {
	p    *parser
	proc string // e.g. sp_add_job
	line int
	args map[string]*arg
}

// exec reads EXEC [@rc =] [db.][schema.]procedure arguments.
func (p *parser) exec() {
	t := p.next()
	var rc token
	if p.peek().kind == kindVariable && p.peekAt(1).isPunct("=") {
		rc = p.next() // the return code variable: job scripts test it to roll back
		p.next()
	}
	if p.peek().isPunct("(") {
		p.execString(t)
		return
	}
	if p.peek().kind == kindVariable || p.peek().kind == kindString {
		p.skipRest(false)
		p.problem(t.line, "EXEC of a procedure named by a string or variable not imported: write EXEC (@sql) to run a statement, or name the procedure")
		return
	}
	if rc.kind == kindVariable && p.discard == "" {
		if v := p.vars[strings.ToLower(rc.value)]; v != nil {
			v.val = number(0) // the procedures Import runs succeed
		}
	}
	var parts []string
	for {
		n := p.peek()
		if n.kind != kindIdent && n.kind != kindQuoted {
			if n.isPunct(".") { // msdb..sp_add_job
				parts = append(parts, "")
				p.next()
				continue
			}
			break
		}
		p.next()
		parts = append(parts, n.value)
		if !p.peek().isPunct(".") {
			break
		}
		p.next()
	}
	if len(parts) == 0 {
		p.skipRest(false)
		p.problem(t.line, "EXEC without a procedure name: not imported")
		return
	}
	full := strings.Join(parts, ".")
	name := strings.ToLower(parts[len(parts)-1])
	if len(parts) == 3 && parts[0] != "" && !strings.EqualFold(parts[0], "msdb") && name != "sp_executesql" {
		name = "" // a procedure of another database: not SQL Server Agent's
	}
	args, ok := p.args()
	if !ok {
		p.skipRest(false)
		p.problem(t.line, "the arguments of %s could not be read (a procedure argument is a constant or a variable): not imported", full)
		return
	}
	if p.discard != "" {
		p.problem(t.line, "EXEC %s not imported: %s", full, p.discard)
		return
	}
	if name == "sp_executesql" {
		p.executeSQL(t, args)
		return
	}
	p.runProc(t.line, full, name, args)
}

// runProc runs a procedure call whose arguments are read: full is the name as written, name
// the lower-case procedure name ("" for one of another database).
func (p *parser) runProc(line int, full, name string, args []*arg) {
	t := token{line: line}
	proc, known := procedures[name]
	if !known {
		if why, ok := unsupportedProcedures[name]; ok {
			p.problem(t.line, "%s not imported: %s", full, why)
		} else {
			p.problem(t.line, "unknown procedure %s not imported: Import translates the msdb job procedures (sp_add_job, sp_add_jobstep, "+
				"sp_add_jobschedule, sp_add_schedule, sp_attach_schedule, sp_update_job, sp_add_jobserver, sp_apply_job_to_targets, sp_add_category)", full)
		}
		return
	}
	c := &call{p: p, proc: name, line: t.line, args: map[string]*arg{}}
	named := false
	for i, a := range args {
		switch {
		case a.name == "" && named:
			p.problem(a.line, "%s: an argument without a name after named ones (SQL Server error 119) is ignored", name)
			continue
		case a.name == "":
			if i >= len(proc.params) {
				p.problem(a.line, "%s: too many arguments (SQL Server error 8144): %s is ignored", name, a.val.text())
				continue
			}
			a.name = proc.params[i]
		default:
			named = true
			if !slices.Contains(proc.params, a.name) {
				p.problem(a.line, "@%s ignored: %s has no parameter @%s (SQL Server error 8145)", a.name, name, a.name)
				continue
			}
		}
		if _, dup := c.args[a.name]; dup {
			p.problem(a.line, "@%s ignored: it is given twice (SQL Server error 8143)", a.name)
			continue
		}
		c.args[a.name] = a
	}
	proc.run(c)
	for _, pn := range proc.params {
		if a := c.args[pn]; a != nil && !a.used && !a.val.isEmpty() {
			p.problem(a.line, "@%s ignored: Import does not translate it", a.name)
		}
	}
}

// args reads a procedure's argument list. It returns false when an argument is not a
// constant, a variable or DEFAULT.
func (p *parser) args() ([]*arg, bool) {
	var out []*arg
	if p.atStatementEnd() {
		return nil, true
	}
	for {
		a := &arg{line: p.peek().line}
		if p.peek().kind == kindVariable && p.peekAt(1).isPunct("=") {
			a.name = strings.ToLower(strings.TrimPrefix(p.next().value, "@"))
			p.next()
			a.line = p.peek().line
		}
		t := p.next()
		switch {
		case t.kind == kindString:
			a.val = str(t.value)
		case t.kind == kindNumber:
			a.val = value{kind: valNumber, s: t.text}
		case (t.isPunct("-") || t.isPunct("+")) && p.peek().kind == kindNumber:
			n := p.next()
			a.val = value{kind: valNumber, s: strings.TrimPrefix(t.text, "+") + n.text}
		case t.is("NULL"):
			a.val = value{kind: valNull}
		case t.is("DEFAULT"):
			a.val = value{kind: valNone}
		case t.kind == kindVariable:
			a.val, a.varTok = p.lookup(t), t
		case (t.kind == kindIdent && !isStatementWord(t)) || t.kind == kindQuoted:
			a.val = str(t.value) // a bare word is a string argument
		default:
			return nil, false
		}
		if p.peek().is("OUTPUT") || p.peek().is("OUT") {
			p.next()
			a.output = true
		}
		out = append(out, a)
		if !p.peek().isPunct(",") {
			return out, p.atStatementEnd()
		}
		p.next()
	}
}

// get returns the argument for a parameter and marks it used; nil when it is not given (or
// given as DEFAULT).
func (c *call) get(name string) *arg {
	a := c.args[name]
	if a == nil {
		return nil
	}
	a.used = true
	if a.val.kind == valNone {
		return nil
	}
	return a
}

// known returns the argument for a parameter when its value is known, reporting an unknown
// one; nil when it is not given or unknown.
func (c *call) known(name string) *arg {
	a := c.get(name)
	if a == nil {
		return nil
	}
	if a.val.kind == valUnknown {
		c.p.problem(a.line, "@%s ignored: its value is not known: %s", name, a.val.s)
		return nil
	}
	return a
}

// str sets *dst to a string parameter when it is given and not NULL.
func (c *call) str(name string, dst *string) bool {
	a := c.known(name)
	if a == nil || a.val.kind == valNull {
		return false
	}
	switch a.val.kind {
	case valString, valNumber:
		*dst = a.val.s
		return true
	}
	c.p.problem(a.line, "@%s ignored: %s is not a string", name, a.val.text())
	return false
}

// num sets *dst to an integer parameter when it is given and not NULL.
func (c *call) num(name string, dst *int) bool {
	a := c.known(name)
	if a == nil || a.val.kind == valNull {
		return false
	}
	if a.val.kind == valString || a.val.kind == valNumber {
		n, err := strconv.ParseInt(strings.TrimSpace(a.val.s), 10, 64)
		if err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
			*dst = int(n)
			return true
		}
	}
	c.p.problem(a.line, "@%s ignored: %s is not an integer", name, a.val.text())
	return false
}

// numPtr is num for a field where nil means not set.
func (c *call) numPtr(name string, dst **int) {
	var n int
	if c.num(name, &n) {
		*dst = &n
	}
}

// boolPtr sets *dst from a 0/1 parameter (any non-zero number is true, as for bit).
func (c *call) boolPtr(name string, dst **bool) {
	var n int
	if c.num(name, &n) {
		b := n != 0
		*dst = &b
	}
}

// unsupported reports a parameter msx does not model when its value is not empty (see
// value.isEmpty) and not one of the defaults given: an empty value loses nothing.
func (c *call) unsupported(name, why string, defaults ...string) {
	a := c.get(name)
	if a == nil || a.val.isEmpty() {
		return
	}
	if (a.val.kind == valString || a.val.kind == valNumber) && containsFold(defaults, a.val.s) {
		return
	}
	c.p.problem(a.line, "@%s ignored: %s", name, why)
}

// bind sets the variable given for an OUTPUT parameter to v. The binding is not tied to the
// IF body it may be in: the body is imported as if it ran, and what it creates exists only
// then.
func (c *call) bind(name string, v value) bool {
	a := c.get(name)
	if a == nil || !a.output || a.varTok.kind != kindVariable {
		return false
	}
	if vr := c.p.vars[strings.ToLower(a.varTok.value)]; vr != nil {
		vr.val = v
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
