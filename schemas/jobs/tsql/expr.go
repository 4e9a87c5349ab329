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
	valBool                      // the result of a condition: s is "1" or "0" (an unknown truth is valNull)
)

// value is the value of a variable, an expression or a procedure argument.
type value struct {
	kind valueKind
	s    string
	ref  int
}

func str(s string) value { return value{kind: valString, s: s} }

func boolean(b bool) value {
	if b {
		return value{kind: valBool, s: "1"}
	}
	return value{kind: valBool, s: "0"}
}

func number(n int64) value { return value{kind: valNumber, s: strconv.FormatInt(n, 10)} }

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
		p.declareCursor(t)
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
			p.tvars[strings.ToLower(vt.value)] = p.tableDef(vt.value)
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
	t := p.readType()
	size := t.size
	if size == 0 {
		size = 1 // char(n) and friends without a size are one character long in DECLARE
	}
	switch t.name {
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

// selectStatement reads SELECT @a = expr, @b = expr [FROM ... WHERE ... ORDER BY ...]: each
// row the query selects assigns the variables in turn, so the last row's values stay (none
// when it selects no row), as in SQL Server. A SELECT that assigns no variable returns rows to
// the client and creates nothing.
func (p *parser) selectStatement() {
	t := p.peek()
	q := p.parseQuery()
	var vars []token
	for i := q.itemsStart; i+1 < q.itemsEnd; i++ {
		if p.toks[i].kind == kindVariable && (p.toks[i+1].isPunct("=") || p.toks[i+1].isPunct("+=")) &&
			(i == q.itemsStart || p.toks[i-1].isPunct(",")) {
			vars = append(vars, p.toks[i])
		}
	}
	if len(vars) == 0 {
		p.pos = q.end
		p.problem(t.line, "SELECT statement not imported: Import reads the msdb job procedures and the variables they use")
		return
	}
	rows, why := p.evalQuery(q)
	if why.kind == valUnknown {
		for _, vt := range vars {
			p.assign(vt, unknown("%s is set at line %d from a query Import does not evaluate: %s", vt.value, t.line, why.s), false)
		}
		p.pos = q.end
		return
	}
	for _, r := range rows {
		p.pos = q.itemsStart
		p.withRow(r, func() {
			for p.pos < q.itemsEnd && p.peek().kind == kindVariable && p.halted == nil {
				vt := p.next()
				add := p.next().text == "+="
				p.assign(vt, p.expr(), add)
				if !p.peek().isPunct(",") {
					break
				}
				p.next()
			}
		})
	}
	p.rowcount = len(rows)
	p.pos = q.end
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

// lookup returns the value of a variable, or of a system function such as @@VERSION.
func (p *parser) lookup(t token) value {
	if strings.HasPrefix(t.value, "@@") {
		return p.systemVariable(t)
	}
	v := p.vars[strings.ToLower(t.value)]
	if v == nil {
		return unknown("%s is not declared in this batch (SQL Server error 137)", t.value)
	}
	return v.val
}

// plus evaluates a + b: strings concatenate, numbers add, NULL gives NULL.
func (p *parser) plus(a, b value, line int) value {
	switch {
	case a.kind == valUnknown:
		return a
	case b.kind == valUnknown:
		return b
	case a.kind == valNull || b.kind == valNull:
		return value{kind: valNull}
	case a.kind == valString && b.kind == valString:
		if !p.checkString(len(a.s)+len(b.s), line) {
			return unknown("the evaluation was stopped at line %d", line)
		}
		return str(a.s + b.s)
	case a.kind == valNumber && b.kind == valNumber,
		a.kind == valNumber && b.kind == valString, a.kind == valString && b.kind == valNumber:
		return arith("+", a, b, line)
	case a.kind == valLocal || b.kind == valLocal:
		return unknown("the value at line %d depends on the server name (@@SERVERNAME)", line)
	}
	return unknown("the value at line %d adds %s to %s, which Import does not evaluate", line, a.text(), b.text())
}

// arith evaluates a number operation; a string operand is converted to a number as SQL Server
// does, and one that is not a number gives an unknown value (SQL Server error 245).
func arith(op string, a, b value, line int) value {
	if a.kind == valUnknown {
		return a
	}
	if b.kind == valUnknown {
		return b
	}
	if a.kind == valNull || b.kind == valNull {
		return value{kind: valNull}
	}
	x, okx := toNumber(a)
	y, oky := toNumber(b)
	if !okx || !oky {
		return unknown("the value at line %d applies %s to %s and %s, which Import does not evaluate", line, op, a.text(), b.text())
	}
	if x.isInt && y.isInt {
		i, j := x.i, y.i
		var r int64
		switch op {
		case "+":
			if (j > 0 && i > math.MaxInt64-j) || (j < 0 && i < math.MinInt64-j) {
				return unknown("the sum at line %d is not an integer Import evaluates", line)
			}
			r = i + j
		case "-":
			if (j < 0 && i > math.MaxInt64+j) || (j > 0 && i < math.MinInt64+j) {
				return unknown("the difference at line %d is not an integer Import evaluates", line)
			}
			r = i - j
		case "*":
			r = i * j
			if i != 0 && (r/i != j || (i == -1 && j == math.MinInt64)) {
				return unknown("the product at line %d is not an integer Import evaluates", line)
			}
		case "/", "%":
			if j == 0 {
				return unknown("the value at line %d divides by zero (SQL Server error 8134)", line)
			}
			if i == math.MinInt64 && j == -1 {
				return unknown("the quotient at line %d is not an integer Import evaluates", line)
			}
			if op == "/" {
				r = i / j
			} else {
				r = i % j
			}
		case "&":
			r = i & j
		case "|":
			r = i | j
		case "^":
			r = i ^ j
		}
		return number(r)
	}
	f, g := x.f, y.f
	var r float64
	switch op {
	case "+":
		r = f + g
	case "-":
		r = f - g
	case "*":
		r = f * g
	case "/":
		if g == 0 {
			return unknown("the value at line %d divides by zero (SQL Server error 8134)", line)
		}
		r = f / g
	default:
		return unknown("the value at line %d applies %s to numbers with a fraction, which Import does not evaluate", line, op)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return unknown("the value at line %d is out of range (SQL Server error 8115)", line)
	}
	return value{kind: valNumber, s: strconv.FormatFloat(r, 'f', -1, 64)}
}

// num is a number parsed from a value: an integer (isInt, i) or another number (f).
type num struct {
	isInt bool
	i     int64
	f     float64
}

// toNumber converts a number, a string holding one, or a condition (bit) to a number.
func toNumber(v value) (num, bool) {
	switch v.kind {
	case valNumber, valString, valBool:
	default:
		return num{}, false
	}
	s := strings.TrimSpace(v.s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		u, err := strconv.ParseUint(s[2:], 16, 63)
		return num{isInt: true, i: int64(u), f: float64(u)}, err == nil && len(s) > 2
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return num{isInt: true, i: i, f: float64(i)}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(s, "xXpP_") {
		return num{}, false
	}
	return num{f: f}, true
}

// plural returns "1 character" or "n characters".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
