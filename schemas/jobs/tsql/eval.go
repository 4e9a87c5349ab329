package tsql

import (
	"cmp"
	"regexp"
	"strings"
)

// The expression evaluator reads an expression at p.pos and returns its value, consuming its
// tokens. What it cannot evaluate (a function it does not know, a column outside a query, a
// conversion SQL Server would refuse) gives an unknown value that says why; a token that cannot
// be part of an expression sets p.efail, and expr skips what is left of the expression.

// exprWords end an operand: keywords of the clauses and operators around expressions.
var exprWords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IS": true, "IN": true, "LIKE": true, "BETWEEN": true, "ESCAPE": true,
	"AS": true, "ASC": true, "DESC": true, "THEN": true, "WHEN": true, "ELSE": true, "END": true, "FROM": true,
	"WHERE": true, "INTO": true, "GROUP": true, "ORDER": true, "HAVING": true, "UNION": true, "EXCEPT": true,
	"INTERSECT": true, "OPTION": true, "OUTPUT": true, "OUT": true, "ON": true, "JOIN": true, "INNER": true,
	"OUTER": true, "CROSS": true, "FULL": true, "COLLATE": true, "WITH": true, "FOR": true, "VALUES": true,
	"DEFAULT": true, "TOP": true, "DISTINCT": true, "ALL": true, "BY": true,
}

// isExprWord reports whether t ends an operand. LEFT and RIGHT are functions when a parenthesis
// follows and join keywords otherwise.
func (p *parser) isExprWord(t token, next token) bool {
	if t.kind != kindIdent {
		return false
	}
	w := strings.ToUpper(t.value)
	if (w == "LEFT" || w == "RIGHT") && !next.isPunct("(") {
		return true
	}
	return exprWords[w] || statementWords[w]
}

// expr reads an expression. One that cannot be read to its end is skipped and has an unknown
// value.
func (p *parser) expr() value {
	start := p.peek()
	saved := p.efail
	p.efail = false
	v := p.orExpr()
	fail := p.efail
	p.efail = saved
	if !fail && p.atExprEnd() {
		return v
	}
	p.skipExpr()
	return unknown("the value is set at line %d by an expression Import does not evaluate", start.line)
}

func (p *parser) orExpr() value {
	if !p.enter() {
		return unknown("the expression at line %d is nested too deeply", p.peek().line)
	}
	defer p.leave()
	v := p.andExpr()
	for !p.efail && p.peek().is("OR") {
		p.next()
		w := p.andExpr()
		v = or(v, w)
	}
	return v
}

func (p *parser) andExpr() value {
	v := p.notExpr()
	for !p.efail && p.peek().is("AND") {
		p.next()
		w := p.notExpr()
		v = and(v, w)
	}
	return v
}

func (p *parser) notExpr() value {
	if p.peek().is("NOT") {
		p.next()
		if !p.enter() {
			return unknown("the expression at line %d is nested too deeply", p.peek().line)
		}
		defer p.leave()
		return not(p.notExpr())
	}
	return p.predicate()
}

// enter counts one more level of nesting, refusing past maxNest so that a hostile script cannot
// exhaust the stack; leave undoes it.
func (p *parser) enter() bool {
	if p.nest >= maxNest {
		p.efail = true
		return false
	}
	p.nest++
	return true
}

func (p *parser) leave() { p.nest-- }

var compareOps = map[string]bool{"=": true, "<>": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true, "!<": true, "!>": true}

// predicate reads EXISTS (query), or an operand with a comparison, IS [NOT] NULL, [NOT] IN,
// [NOT] LIKE or [NOT] BETWEEN after it.
func (p *parser) predicate() value {
	if p.peek().is("EXISTS") && p.peekAt(1).isPunct("(") && p.peekAt(2).is("SELECT") {
		t := p.next()
		p.next()
		v := p.exists(t.line)
		if !p.peek().isPunct(")") {
			p.efail = true
			return v
		}
		p.next()
		return v
	}
	a := p.additive()
	if p.efail {
		return a
	}
	t := p.peek()
	line := t.line
	switch {
	case t.kind == kindPunct && compareOps[t.text]:
		p.next()
		return compare(t.text, a, p.additive(), line)
	case t.is("IS"):
		p.next()
		neg := false
		if p.peek().is("NOT") {
			p.next()
			neg = true
		}
		if !p.peek().is("NULL") {
			p.efail = true
			return a
		}
		p.next()
		if a.kind == valUnknown {
			return a
		}
		return boolean((a.kind == valNull) != neg)
	}
	neg := false
	if t.is("NOT") && (p.peekAt(1).is("IN") || p.peekAt(1).is("LIKE") || p.peekAt(1).is("BETWEEN")) {
		p.next()
		neg = true
		t = p.peek()
	}
	var v value
	switch {
	case t.is("IN"):
		p.next()
		v = p.inList(a, line)
	case t.is("LIKE"):
		p.next()
		pat := p.additive()
		esc := value{kind: valNone}
		if p.peek().is("ESCAPE") {
			p.next()
			esc = p.additive()
		}
		v = like(a, pat, esc, line)
	case t.is("BETWEEN"):
		p.next()
		lo := p.additive()
		if !p.peek().is("AND") {
			p.efail = true
			return a
		}
		p.next()
		hi := p.additive()
		v = and(compare(">=", a, lo, line), compare("<=", a, hi, line))
	default:
		return a
	}
	if neg {
		return not(v)
	}
	return v
}

// exprList reads expressions separated by commas: the values of IN (...) or the arguments of
// a function. It stops at the first that cannot be read (p.efail).
func (p *parser) exprList() []value {
	var list []value
	for !p.efail {
		list = append(list, p.orExpr())
		if !p.peek().isPunct(",") {
			break
		}
		p.next()
	}
	return list
}

// inList reads (v, v, ...) or (SELECT ...) after IN.
func (p *parser) inList(a value, line int) value {
	if !p.peek().isPunct("(") {
		p.efail = true
		return a
	}
	p.next()
	var list []value
	if p.peek().is("SELECT") {
		rows, why := p.subquery(line)
		if why.kind == valUnknown {
			list = []value{why}
		}
		for _, r := range rows {
			if len(r) > 0 {
				list = append(list, r[0])
			}
		}
	} else {
		list = p.exprList()
	}
	if !p.peek().isPunct(")") {
		p.efail = true
		return a
	}
	p.next()
	res := boolean(false)
	for _, w := range list {
		c := compare("=", a, w, line)
		switch {
		case isTrue(c):
			return c
		case c.kind != valBool:
			res = c
		}
	}
	return res
}

func (p *parser) additive() value {
	v := p.multiplicative()
	for !p.efail {
		t := p.peek()
		if !(t.isPunct("+") || t.isPunct("-") || t.isPunct("&") || t.isPunct("|") || t.isPunct("^")) {
			return v
		}
		p.next()
		w := p.multiplicative()
		if t.text == "+" {
			v = p.plus(v, w, t.line)
		} else {
			v = arith(t.text, v, w, t.line)
		}
	}
	return v
}

func (p *parser) multiplicative() value {
	v := p.unary()
	for !p.efail {
		t := p.peek()
		if !(t.isPunct("*") || t.isPunct("/") || t.isPunct("%")) {
			return v
		}
		p.next()
		v = arith(t.text, v, p.unary(), t.line)
	}
	return v
}

func (p *parser) unary() value {
	t := p.peek()
	if t.isPunct("-") || t.isPunct("+") || t.isPunct("~") {
		p.next()
		if !p.enter() {
			return unknown("the expression at line %d is nested too deeply", t.line)
		}
		defer p.leave()
		v := p.unary()
		switch {
		case t.text == "+":
			return v
		case t.text == "-" && v.kind == valNumber:
			if strings.HasPrefix(v.s, "-") {
				return value{kind: valNumber, s: v.s[1:]}
			}
			return value{kind: valNumber, s: "-" + v.s}
		case v.kind == valNull || v.kind == valUnknown:
			return v
		}
		return unknown("the value at line %d applies %s to %s, which Import does not evaluate", t.line, t.text, v.text())
	}
	return p.primary()
}

// primary reads a literal, a variable, a function call, CASE, a parenthesised expression, a
// scalar subquery or a column of the row being read.
func (p *parser) primary() value {
	t := p.peek()
	switch {
	case t.kind == kindString:
		p.next()
		return str(t.value)
	case t.kind == kindNumber:
		p.next()
		return value{kind: valNumber, s: t.text}
	case t.kind == kindVariable:
		p.next()
		return p.lookup(t)
	case t.is("NULL"):
		p.next()
		return value{kind: valNull}
	case t.is("CASE"):
		return p.caseExpr()
	case t.isPunct("("):
		if !p.enter() {
			return unknown("the expression at line %d is nested too deeply", t.line)
		}
		defer p.leave()
		p.next()
		var v value
		if p.peek().is("SELECT") {
			v = p.scalarSubquery(t.line)
		} else {
			v = p.orExpr()
		}
		if !p.peek().isPunct(")") {
			p.efail = true
			return v
		}
		p.next()
		return v
	case t.kind == kindQuoted || (t.kind == kindIdent && !p.isExprWord(t, p.peekAt(1))):
		parts := p.dottedName()
		if p.peek().isPunct("(") {
			return p.function(parts, t.line)
		}
		return p.column(parts, t.line)
	}
	p.efail = true
	return unknown("the expression at line %d cannot be read", t.line)
}

// dottedName reads name[.name...] (a column, a table or a function), with empty parts for "..".
func (p *parser) dottedName() []string {
	var parts []string
	for {
		t := p.peek()
		if t.kind != kindIdent && t.kind != kindQuoted && t.kind != kindVariable {
			if t.isPunct(".") && len(parts) > 0 {
				parts = append(parts, "")
				p.next()
				continue
			}
			return parts
		}
		p.next()
		parts = append(parts, t.value)
		if !p.peek().isPunct(".") || len(parts) > 8 {
			return parts
		}
		p.next()
	}
}

// caseExpr reads CASE [input] WHEN ... THEN ... [ELSE ...] END.
func (p *parser) caseExpr() value {
	t := p.next()
	if !p.enter() {
		return unknown("the expression at line %d is nested too deeply", t.line)
	}
	defer p.leave()
	var input *value
	if !p.peek().is("WHEN") {
		v := p.orExpr()
		input = &v
	}
	var result *value
	pending := value{kind: valNone} // an unknown WHEN before any match makes the result unknown
	for !p.efail && p.peek().is("WHEN") {
		p.next()
		w := p.orExpr()
		if !p.peek().is("THEN") {
			p.efail = true
			break
		}
		p.next()
		r := p.orExpr()
		if input != nil {
			w = compare("=", *input, w, t.line)
		}
		if result != nil || pending.kind == valUnknown {
			continue
		}
		switch {
		case w.kind == valUnknown:
			pending = w
		case isTrue(w):
			result = &r
		}
	}
	els := value{kind: valNull}
	if !p.efail && p.peek().is("ELSE") {
		p.next()
		els = p.orExpr()
	}
	if !p.peek().is("END") {
		p.efail = true
		return unknown("the CASE at line %d cannot be read", t.line)
	}
	p.next()
	switch {
	case pending.kind == valUnknown:
		return pending
	case result != nil:
		return *result
	}
	return els
}

// column returns the value of a column of the rows being read (innermost query first).
func (p *parser) column(parts []string, line int) value {
	name := strings.ToLower(parts[len(parts)-1])
	qual := ""
	if len(parts) > 1 {
		qual = strings.ToLower(parts[len(parts)-2])
	}
	for i := len(p.rows) - 1; i >= 0; i-- {
		r := p.rows[i]
		if qual != "" && qual != r.alias && qual != r.table {
			continue
		}
		if v, ok := r.vals[name]; ok {
			return v
		}
	}
	if len(p.rows) == 0 {
		return unknown("%s at line %d is a name outside a query, which Import does not evaluate", strings.Join(parts, "."), line)
	}
	return unknown("%s at line %d is not a column of the table read", strings.Join(parts, "."), line)
}

// Three-valued logic: a condition is true, false, or NULL (neither); unknown values (that
// Import cannot evaluate) stay unknown unless the other side decides.
func isTrue(v value) bool  { return v.kind == valBool && v.s == "1" }
func isFalse(v value) bool { return v.kind == valBool && v.s == "0" }

func and(a, b value) value {
	switch {
	case isFalse(a) || isFalse(b):
		return boolean(false)
	case a.kind == valUnknown:
		return a
	case b.kind == valUnknown:
		return b
	case isTrue(a) && isTrue(b):
		return boolean(true)
	case (isTrue(a) || a.kind == valNull) && (isTrue(b) || b.kind == valNull):
		return value{kind: valNull}
	}
	return unknown("AND of %s and %s is not a condition", a.text(), b.text())
}

func or(a, b value) value {
	switch {
	case isTrue(a) || isTrue(b):
		return boolean(true)
	case a.kind == valUnknown:
		return a
	case b.kind == valUnknown:
		return b
	case isFalse(a) && isFalse(b):
		return boolean(false)
	case (isFalse(a) || a.kind == valNull) && (isFalse(b) || b.kind == valNull):
		return value{kind: valNull}
	}
	return unknown("OR of %s and %s is not a condition", a.text(), b.text())
}

func not(a value) value {
	switch a.kind {
	case valBool:
		return boolean(a.s == "0")
	case valNull, valUnknown:
		return a
	}
	return unknown("NOT %s is not a condition", a.text())
}

// compare compares two values as SQL Server does with a case-insensitive collation: strings
// ignoring case and trailing spaces, a string and a number as numbers.
func compare(op string, a, b value, line int) value {
	switch {
	case a.kind == valUnknown:
		return a
	case b.kind == valUnknown:
		return b
	case a.kind == valNull || b.kind == valNull:
		return value{kind: valNull}
	}
	var c int
	switch {
	case a.kind == valString && b.kind == valString:
		x := strings.ToLower(strings.TrimRight(a.s, " "))
		y := strings.ToLower(strings.TrimRight(b.s, " "))
		c = strings.Compare(x, y)
	case (a.kind == valJob && b.kind == valJob) || (a.kind == valSchedule && b.kind == valSchedule):
		if op != "=" && op != "<>" && op != "!=" {
			return unknown("ids are compared with = and <> only (line %d)", line)
		}
		if a.ref != b.ref {
			c = 1
		}
	default:
		x, okx := toNumber(a)
		y, oky := toNumber(b)
		if !okx || !oky {
			return unknown("the comparison at line %d of %s with %s is not evaluated", line, a.text(), b.text())
		}
		switch {
		case x.isInt && y.isInt:
			c = cmp.Compare(x.i, y.i)
		case x.f < y.f:
			c = -1
		case x.f > y.f:
			c = 1
		}
	}
	switch op {
	case "=":
		return boolean(c == 0)
	case "<>", "!=":
		return boolean(c != 0)
	case "<":
		return boolean(c < 0)
	case ">":
		return boolean(c > 0)
	case "<=", "!>":
		return boolean(c <= 0)
	case ">=", "!<":
		return boolean(c >= 0)
	}
	return unknown("the operator %s at line %d is not evaluated", op, line)
}

// like evaluates a LIKE pattern: % any text, _ one character, [abc] and [^abc] sets; the
// comparison ignores case.
func like(a, pat, esc value, line int) value {
	for _, v := range []value{a, pat, esc} {
		if v.kind == valUnknown || v.kind == valNull {
			return v
		}
	}
	s, ok1 := text(a)
	ps, ok2 := text(pat)
	if !ok1 || !ok2 {
		return unknown("LIKE at line %d compares %s with %s, which Import does not evaluate", line, a.text(), pat.text())
	}
	escape := rune(-1)
	if esc.kind == valString {
		if r := []rune(esc.s); len(r) == 1 {
			escape = r[0]
		}
	}
	var b strings.Builder
	b.WriteString("(?is)^")
	rs := []rune(ps)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == escape && i+1 < len(rs):
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case r == '%':
			b.WriteString(".*")
		case r == '_':
			b.WriteString(".")
		case r == '[':
			end := i + 1
			for end < len(rs) && rs[end] != ']' {
				end++
			}
			if end >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			set := rs[i+1 : end]
			b.WriteString("[")
			for j, c := range set {
				switch {
				case j == 0 && c == '^':
					b.WriteString("^")
				case c == '-' && j > 0 && j < len(set)-1:
					b.WriteString("-")
				default:
					b.WriteString(regexp.QuoteMeta(string(c)))
				}
			}
			b.WriteString("]")
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return unknown("the LIKE pattern at line %d is not evaluated: %v", line, err)
	}
	return boolean(re.MatchString(strings.TrimRight(s, " ")) || re.MatchString(s))
}

// text returns a value as a string, as CAST(v AS nvarchar(max)) would.
func text(v value) (string, bool) {
	switch v.kind {
	case valString, valNumber, valBool:
		return v.s, true
	}
	return "", false
}

// atExprEnd reports whether an expression may end here.
func (p *parser) atExprEnd() bool {
	t := p.peek()
	if p.eof() || t.kind == kindGo || t.isPunct(",") || t.isPunct(";") || t.isPunct(")") || isStatementWord(t) || p.atLabel() {
		return true
	}
	if t.kind == kindIdent && (clauseWords[strings.ToUpper(t.value)] || t.is("OUTPUT") || t.is("OUT") || t.is("ASC") || t.is("DESC")) {
		return true
	}
	return false
}

// skipExpr skips to the end of an expression.
func (p *parser) skipExpr() {
	var n nesting
	for !p.eof() {
		if n.top() && p.atExprEnd() {
			return
		}
		if n.step(p.next()) {
			return
		}
		if p.peek().kind == kindGo {
			return
		}
	}
}
