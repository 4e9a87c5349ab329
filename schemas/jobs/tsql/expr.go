package tsql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// valueKind is what a value holds.
type valueKind int

const (
	valNone     valueKind = iota // DEFAULT, or a parameter not given
	valNull                      // NULL
	valString                    // text in s
	valNumber                    // a number; s is its text
	valJob                       // the job created by sp_add_job ... @job_id = @v OUTPUT; ref is its index
	valSchedule                  // the schedule of sp_add_schedule ... @schedule_id = @v OUTPUT; ref is its index
	valLocal                     // @@SERVERNAME: the server the script runs on
	valUnknown                   // a value Import cannot work out; s says why
)

// value is the value of a variable, an expression or a procedure argument.
type value struct {
	kind valueKind
	s    string
	ref  int
}

func str(s string) value { return value{kind: valString, s: s} }

func unknown(format string, args ...any) value {
	return value{kind: valUnknown, s: fmt.Sprintf(format, args...)}
}

// isEmpty reports whether v stands for "nothing": not given, DEFAULT, NULL, 0 or the empty string.
func (v value) isEmpty() bool {
	switch v.kind {
	case valNone, valNull:
		return true
	case valString:
		return v.s == ""
	case valNumber:
		f, err := strconv.ParseFloat(v.s, 64)
		return err == nil && f == 0
	}
	return false
}

// text returns v as SQL would show it in a message.
func (v value) text() string {
	switch v.kind {
	case valString:
		return "'" + clip(v.s) + "'"
	case valNumber:
		return v.s
	case valNull:
		return "NULL"
	case valLocal:
		return "@@SERVERNAME"
	case valJob:
		return "a job id"
	case valSchedule:
		return "a schedule id"
	}
	return "an unknown value"
}

// variable is a T-SQL variable of the current batch.
type variable struct {
	name  string // as declared, with @
	class typeClass
	size  int // characters for string types; -1 for (max)
	val   value
	depth int // len(parser.frames) where it was declared
}

// typeClass groups the declared types by how assignment converts values.
type typeClass int

const (
	classOther  typeClass = iota // kept as assigned
	classString                  // char, varchar, nchar, nvarchar, sysname: truncated to size
	classInt                     // int, bigint, smallint, tinyint, bit: strings converted
)

// declare reads DECLARE @v type [= expr], ...
func (p *parser) declare() {
	t := p.next()
	if p.peek().kind != kindVariable {
		p.skipRest(false)
		p.problem(t.line, "DECLARE of a cursor not imported: Import does not evaluate cursors")
		return
	}
	for p.peek().kind == kindVariable {
		vt := p.next()
		v := &variable{name: vt.value, val: value{kind: valNull}, depth: len(p.frames)}
		if p.peek().is("AS") {
			p.next()
		}
		if p.peek().is("TABLE") {
			p.next()
			p.skipParens()
			v.val = unknown("%s is a table variable", vt.value)
		} else {
			p.declareType(v)
		}
		p.vars[strings.ToLower(vt.value)] = v
		if p.peek().isPunct("=") {
			p.next()
			p.assign(vt, p.expr(), false)
		}
		if !p.peek().isPunct(",") {
			break
		}
		p.next()
	}
}

// declareType reads a type name and its (size).
func (p *parser) declareType(v *variable) {
	name := ""
	for p.peek().kind == kindIdent || p.peek().kind == kindQuoted {
		if isStatementWord(p.peek()) {
			break
		}
		name = strings.ToLower(p.next().value)
		if !p.peek().isPunct(".") {
			break
		}
		p.next()
	}
	size := 1 // char(n) and friends without a size are one character long in DECLARE
	if p.peek().isPunct("(") {
		if p.peekAt(1).is("MAX") {
			size = -1
		} else if n, err := strconv.Atoi(p.peekAt(1).text); err == nil {
			size = n
		}
		p.skipParens()
	}
	switch name {
	case "char", "varchar", "nchar", "nvarchar":
		v.class, v.size = classString, size
	case "sysname":
		v.class, v.size = classString, 128
	case "text", "ntext":
		v.class, v.size = classString, -1
	case "int", "bigint", "smallint", "tinyint", "bit":
		v.class = classInt
	}
}

// skipParens skips a parenthesised group, if one is next.
func (p *parser) skipParens() {
	if !p.peek().isPunct("(") {
		return
	}
	depth := 0
	for !p.eof() && p.peek().kind != kindGo {
		t := p.next()
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			depth--
			if depth == 0 {
				return
			}
		}
	}
}

// set reads SET @v = expr (or +=), and SET options such as SET NOCOUNT ON, which create
// nothing.
func (p *parser) set() {
	p.next()
	if p.peek().kind != kindVariable {
		p.skipRest(false)
		return
	}
	vt := p.next()
	switch op := p.peek(); {
	case op.isPunct("="):
		p.next()
		p.assign(vt, p.expr(), false)
	case op.isPunct("+="):
		p.next()
		p.assign(vt, p.expr(), true)
	default:
		p.next()
		p.assign(vt, unknown("%s is set at line %d with %s, which Import does not evaluate", vt.value, vt.line, op.text), false)
		p.skipRest(false)
	}
}

// selectStatement reads SELECT @a = expr, @b = expr [FROM ...]. A SELECT that assigns no
// variable is a query, which creates nothing Import translates.
func (p *parser) selectStatement() {
	t := p.next()
	if p.peek().kind != kindVariable || !(p.peekAt(1).isPunct("=") || p.peekAt(1).isPunct("+=")) {
		p.skipRest(false)
		p.problem(t.line, "SELECT statement not imported: Import reads the msdb job procedures and the variables they use")
		return
	}
	var assigned []token
	for p.peek().kind == kindVariable && (p.peekAt(1).isPunct("=") || p.peekAt(1).isPunct("+=")) {
		vt := p.next()
		add := p.next().text == "+="
		p.assign(vt, p.expr(), add)
		assigned = append(assigned, vt)
		if !p.peek().isPunct(",") {
			break
		}
		p.next()
	}
	if p.peek().is("FROM") || p.peek().is("WHERE") {
		p.skipRest(false)
		for _, vt := range assigned {
			p.assign(vt, unknown("%s is set at line %d from a query, which Import does not run", vt.value, vt.line), false)
		}
	}
}

// assign sets a variable (add: appends, for +=).
func (p *parser) assign(vt token, val value, add bool) {
	v := p.vars[strings.ToLower(vt.value)]
	if v == nil {
		p.problem(vt.line, "%s is not declared in this batch (SQL Server error 137): the assignment is ignored", vt.value)
		return
	}
	if p.discard != "" {
		v.val = unknown("%s is changed at line %d, where %s", v.name, vt.line, p.discard)
		return
	}
	if add {
		val = p.plus(v.val, val, vt.line)
	}
	v.val = p.convert(v, val, vt.line)
	for _, f := range p.frames[min(v.depth, len(p.frames)):] {
		f.assigned = append(f.assigned, v)
	}
}

// convert converts a value assigned to v the way SQL Server does for simple types.
func (p *parser) convert(v *variable, val value, line int) value {
	switch v.class {
	case classString:
		if val.kind == valNumber {
			val = str(val.s)
		}
		if val.kind == valString && v.size > 0 && utf8.RuneCountInString(val.s) > v.size {
			val.s = string([]rune(val.s)[:v.size])
			p.problem(line, "%s holds at most %s: the value assigned is cut to %q, as SQL Server does",
				v.name, plural(v.size, "character"), clip(val.s))
		}
	case classInt:
		if val.kind == valString {
			if _, err := strconv.ParseInt(strings.TrimSpace(val.s), 10, 64); err != nil {
				return unknown("%s is an integer, and '%s' assigned at line %d is not one", v.name, clip(val.s), line)
			}
			val = value{kind: valNumber, s: strings.TrimSpace(val.s)}
		}
	}
	return val
}

// expr reads an expression: terms joined by +. Other expressions (functions, CASE, queries,
// arithmetic besides +) are skipped and give an unknown value.
func (p *parser) expr() value {
	start := p.peek()
	v, ok := p.term()
	for ok && p.peek().isPunct("+") {
		op := p.next()
		var w value
		w, ok = p.term()
		if ok {
			v = p.plus(v, w, op.line)
		}
	}
	if ok && p.atExprEnd() {
		return v
	}
	p.skipExpr()
	return unknown("the value is set at line %d by an expression Import does not evaluate", start.line)
}

// atExprEnd reports whether an expression may end here.
func (p *parser) atExprEnd() bool {
	t := p.peek()
	if p.eof() || t.kind == kindGo || t.isPunct(",") || t.isPunct(";") || t.isPunct(")") || isStatementWord(t) || p.atLabel() {
		return true
	}
	for _, w := range []string{"FROM", "WHERE", "INTO", "GROUP", "ORDER", "HAVING", "UNION", "OPTION", "OUTPUT", "OUT"} {
		if t.is(w) {
			return true
		}
	}
	return false
}

// skipExpr skips to the end of an expression.
func (p *parser) skipExpr() {
	depth, cases := 0, 0
	for !p.eof() {
		if depth == 0 && cases == 0 && p.atExprEnd() {
			return
		}
		t := p.next()
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			depth--
		case t.is("CASE"):
			cases++
		case t.is("END") && cases > 0:
			cases--
		}
		if depth < 0 {
			return
		}
		if p.peek().kind == kindGo {
			return
		}
	}
}

// term reads a literal, a variable, CHAR(n) or NCHAR(n), or a parenthesised expression.
func (p *parser) term() (value, bool) {
	t := p.peek()
	switch {
	case t.kind == kindString:
		p.next()
		return str(t.value), true
	case t.kind == kindNumber:
		p.next()
		return value{kind: valNumber, s: t.text}, true
	case (t.isPunct("-") || t.isPunct("+")) && p.peekAt(1).kind == kindNumber:
		p.next()
		n := p.next()
		if t.text == "-" {
			return value{kind: valNumber, s: "-" + n.text}, true
		}
		return value{kind: valNumber, s: n.text}, true
	case t.is("NULL"):
		p.next()
		return value{kind: valNull}, true
	case t.kind == kindVariable:
		p.next()
		return p.lookup(t), true
	case (t.is("CHAR") || t.is("NCHAR")) && p.peekAt(1).isPunct("(") && p.peekAt(2).kind == kindNumber && p.peekAt(3).isPunct(")"):
		n, err := strconv.Atoi(p.peekAt(2).text)
		if err != nil || n < 0 || (t.is("CHAR") && n > 255) || n > utf8.MaxRune {
			return value{}, false
		}
		p.pos += 4
		return str(string(rune(n))), true
	case t.isPunct("(") && p.nest < maxNest:
		save := p.pos
		p.next()
		p.nest++
		defer func() { p.nest-- }()
		v, ok := p.term()
		for ok && p.peek().isPunct("+") {
			op := p.next()
			var w value
			if w, ok = p.term(); ok {
				v = p.plus(v, w, op.line)
			}
		}
		if ok && p.peek().isPunct(")") {
			p.next()
			return v, true
		}
		p.pos = save
	}
	return value{}, false
}

// lookup returns the value of a variable.
func (p *parser) lookup(t token) value {
	if strings.HasPrefix(t.value, "@@") {
		if strings.EqualFold(t.value, "@@SERVERNAME") {
			return value{kind: valLocal}
		}
		return unknown("%s is a system function Import does not evaluate", t.value)
	}
	v := p.vars[strings.ToLower(t.value)]
	if v == nil {
		return unknown("%s is not declared in this batch (SQL Server error 137)", t.value)
	}
	return v.val
}

// plus evaluates a + b: strings concatenate, integers add, NULL gives NULL.
func (p *parser) plus(a, b value, line int) value {
	switch {
	case a.kind == valUnknown:
		return a
	case b.kind == valUnknown:
		return b
	case a.kind == valNull || b.kind == valNull:
		return value{kind: valNull}
	case a.kind == valString && b.kind == valString:
		if p.budget -= len(a.s) + len(b.s); p.budget < 0 {
			return unknown("the script builds strings longer than Import evaluates (line %d)", line)
		}
		return str(a.s + b.s)
	case a.kind == valNumber && b.kind == valNumber:
		x, err1 := strconv.ParseInt(a.s, 10, 64)
		y, err2 := strconv.ParseInt(b.s, 10, 64)
		if err1 != nil || err2 != nil || (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
			return unknown("the sum at line %d is not an integer Import evaluates", line)
		}
		return value{kind: valNumber, s: strconv.FormatInt(x+y, 10)}
	case a.kind == valLocal || b.kind == valLocal:
		return unknown("the value at line %d depends on the server name (@@SERVERNAME)", line)
	}
	return unknown("the value at line %d adds %s to %s, which Import does not evaluate", line, a.text(), b.text())
}

// plural returns "1 character" or "n characters".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
