package tsql

import (
	"fmt"
	"strconv"
	"strings"
)

func itoa(n int) string { return strconv.Itoa(n) }

// ptrKey identifies a row (a map) by its address.
func ptrKey(m map[string]value) string { return fmt.Sprintf("%p", m) }

// category is a job category of msdb: the defaults of a new server and those sp_add_category
// creates.
type category struct {
	name       string
	class, typ int // category_class 1 (job), 2 (alert), 3 (operator); category_type 1 local, 2 multiserver, 3 none
}

func defaultCategories() []category {
	c := []category{{"[Uncategorized (Local)]", 1, 1}, {"[Uncategorized (Multi-Server)]", 1, 2}, {"[Uncategorized]", 2, 3},
		{"[Uncategorized]", 3, 3}}
	for _, n := range []string{"Jobs from MSX", "Full-Text", "Database Maintenance", "Web Assistant", "Log Shipping",
		"Database Engine Tuning Advisor", "Data Collector", "REPL-Distribution", "REPL-Distribution Cleanup",
		"REPL-History Cleanup", "REPL-LogReader", "REPL-Merge", "REPL-Snapshot", "REPL-Checkup",
		"REPL-Subscription Cleanup", "REPL-Alert Response", "REPL-QueueReader"} {
		c = append(c, category{n, 1, 1})
	}
	return c
}

// changed records that a table's rows were changed: where Import does not evaluate (an ELSE
// branch or loop it reads without running) the rows become unknown; inside an IF whose
// condition is unknown they become unknown when the IF ends.
func (p *parser) changed(t *table, line int) {
	if p.discard != "" {
		t.unknown = t.name + " is changed at line " + itoa(line) + ", where " + p.discard
		return
	}
	if n := len(p.frames); n > 0 {
		p.frames[n-1].tables = append(p.frames[n-1].tables, t)
	}
}

// dmlTarget reads the table an INSERT, UPDATE or DELETE changes. It reports and skips the
// statement when the table is not a table variable or a temporary table.
func (p *parser) dmlTarget(stmt token) (*table, string, bool) {
	parts := p.dottedName()
	if len(parts) == 0 {
		p.skipRest(true)
		p.problem(stmt.line, "%s statement not imported: it names no table", strings.ToUpper(stmt.value))
		return nil, "", false
	}
	name := parts[len(parts)-1]
	if strings.HasPrefix(name, "@") || strings.HasPrefix(name, "#") {
		t, why := p.resolveTable(parts, stmt.line)
		if t == nil {
			p.skipRest(true)
			p.problem(stmt.line, "%s statement not imported: %s", strings.ToUpper(stmt.value), why.s)
			return nil, "", false
		}
		return t, strings.ToLower(name), true
	}
	return nil, strings.ToLower(name), true
}

// dmlFrom reads the FROM clause of UPDATE or DELETE (p.pos at FROM) into q, and returns the
// table changed: t, or, when the target named (name) is an alias or the name of the FROM's
// table, that table.
func (p *parser) dmlFrom(q *query, t *table, name string) *table {
	p.next()
	p.from(q)
	if t == nil && q.from != nil && (q.alias == name || strings.ToLower(q.from.name) == name) {
		return q.from
	}
	return t
}

// insert reads INSERT [INTO] @t|#t [(columns)] VALUES (...), ... | SELECT ...
func (p *parser) insert() {
	stmt := p.next()
	if p.peek().is("INTO") {
		p.next()
	}
	t, _, ok := p.dmlTarget(stmt)
	if !ok {
		return
	}
	if t == nil {
		p.skipRest(true)
		p.problem(stmt.line, "INSERT statement not imported: Import reads the msdb job procedures and the variables and table variables they use")
		return
	}
	var cols []string
	if p.peek().isPunct("(") {
		p.next()
		for !p.eof() && !p.peek().isPunct(")") && p.peek().kind != kindGo {
			c := p.next()
			if c.kind == kindIdent || c.kind == kindQuoted {
				cols = append(cols, strings.ToLower(c.value))
			}
		}
		if p.peek().isPunct(")") {
			p.next()
		}
	} else {
		for _, c := range t.cols {
			if !c.identity {
				cols = append(cols, c.name)
			}
		}
	}
	var rows [][]value
	why := value{}
	switch {
	case p.peek().is("VALUES"):
		p.next()
		for p.peek().isPunct("(") && p.halted == nil {
			p.next()
			var r []value
			for !p.eof() {
				r = append(r, p.expr())
				if !p.peek().isPunct(",") {
					break
				}
				p.next()
			}
			if !p.peek().isPunct(")") {
				p.skipRest(true)
				why = unknown("the VALUES at line %d cannot be read", stmt.line)
				break
			}
			p.next()
			rows = append(rows, r)
			if !p.peek().isPunct(",") {
				break
			}
			p.next()
		}
	case p.peek().is("SELECT"):
		rows, why = p.subquery(stmt.line)
		if p.efail {
			p.efail = false
			p.skipRest(true)
		}
	case p.peek().is("DEFAULT") && p.peekAt(1).is("VALUES"):
		p.pos += 2
		cols = nil
		rows = [][]value{nil}
	default:
		what := clip(p.peek().text)
		p.skipRest(true)
		why = unknown("INSERT at line %d is filled by %s, which Import does not evaluate", stmt.line, what)
	}
	if why.kind == valUnknown {
		t.unknown = why.s
		p.problem(stmt.line, "INSERT into %s not evaluated: %s; what reads %s after it has an unknown value", t.name, why.s, t.name)
		return
	}
	for _, r := range rows {
		if len(r) != len(cols) {
			t.unknown = t.name + " was given rows of the wrong size at line " + itoa(stmt.line)
			p.problem(stmt.line, "INSERT into %s not evaluated: %d columns are named and a row has %d values (SQL Server error 110)", t.name, len(cols), len(r))
			return
		}
	}
	p.lim.rows += len(rows)
	if p.lim.rows > p.opt.MaxRows {
		p.halt(stmt.line, "the script puts more than %d rows into its tables", p.opt.MaxRows)
		return
	}
	for _, r := range rows {
		row := make(map[string]value, len(t.cols))
		for _, c := range t.cols {
			switch {
			case c.identity:
				t.ident++
				row[c.name] = number(t.ident)
			default:
				row[c.name] = c.def
			}
		}
		for i, c := range cols {
			cd := t.col(c)
			if cd == nil {
				t.unknown = t.name + " has no column " + c
				p.problem(stmt.line, "INSERT into %s not evaluated: it has no column %s (SQL Server error 207)", t.name, c)
				return
			}
			row[c] = p.store(cd, r[i])
		}
		t.rows = append(t.rows, row)
	}
	p.rowcount = len(rows)
	p.changed(t, stmt.line)
}

// col returns the column of the name (lower case), or nil.
func (t *table) col(name string) *colDef {
	for i := range t.cols {
		if t.cols[i].name == name {
			return &t.cols[i]
		}
	}
	return nil
}

// store converts a value put into a column to the column's type.
func (p *parser) store(c *colDef, v value) value {
	if c.typ.name == "" {
		return v
	}
	switch c.typ.name {
	case "char", "varchar", "nchar", "nvarchar", "sysname", "int", "bigint", "smallint", "tinyint", "bit", "numeric", "decimal":
		t := c.typ
		if t.size == 0 && (t.name == "char" || t.name == "varchar" || t.name == "nchar" || t.name == "nvarchar") {
			t.size = 1
		}
		if v.kind == valString || v.kind == valNumber || v.kind == valBool {
			return p.castTo(v, t, 0, false)
		}
	}
	return v
}

// update reads UPDATE target SET col = expr, ... [FROM @t [alias]] [WHERE condition].
func (p *parser) update() {
	stmt := p.next()
	t, name, ok := p.dmlTarget(stmt)
	if !ok {
		return
	}
	if !p.peek().is("SET") {
		p.skipRest(true)
		p.problem(stmt.line, "UPDATE statement not imported: it has no SET")
		return
	}
	p.next()
	type set struct {
		col string
		pos int
	}
	var sets []set
	for !p.eof() {
		parts := p.dottedName()
		if len(parts) == 0 || !p.peek().isPunct("=") {
			p.skipRest(true)
			p.problem(stmt.line, "UPDATE statement not imported: its SET list cannot be read")
			return
		}
		p.next()
		sets = append(sets, set{strings.ToLower(parts[len(parts)-1]), p.pos})
		p.skipExpr()
		if !p.peek().isPunct(",") {
			break
		}
		p.next()
	}
	q := &query{line: stmt.line, top: -1, whereStart: -1, why: value{kind: valNone}}
	if p.peek().is("FROM") {
		t = p.dmlFrom(q, t, name)
	} else {
		q.from = t
	}
	p.where(q)
	q.end = p.pos
	if t == nil || (q.from != nil && q.from != t) {
		p.problem(stmt.line, "UPDATE statement not imported: Import reads the msdb job procedures and the variables and table variables they use")
		return
	}
	q.from = t
	rows, why := p.evalQuery(q)
	if why.kind == valUnknown {
		t.unknown = why.s
		p.problem(stmt.line, "UPDATE of %s not evaluated: %s; what reads %s after it has an unknown value", t.name, why.s, t.name)
		return
	}
	// Every SET reads the row as it was before the UPDATE.
	news := make([]map[string]value, len(rows))
	for i, r := range rows {
		news[i] = map[string]value{}
		for _, s := range sets {
			cd := t.col(s.col)
			if cd == nil {
				t.unknown = t.name + " has no column " + s.col
				p.problem(stmt.line, "UPDATE of %s not evaluated: it has no column %s (SQL Server error 207)", t.name, s.col)
				p.pos = q.end
				return
			}
			p.pos = s.pos
			p.withRow(r, func() { news[i][s.col] = p.store(cd, p.expr()) })
		}
	}
	for i, r := range rows {
		for c, v := range news[i] {
			r.vals[c] = v
		}
	}
	p.pos = q.end
	p.rowcount = len(rows)
	p.changed(t, stmt.line)
}

// deleteStatement reads DELETE [FROM] target [FROM @t [alias]] [WHERE condition].
func (p *parser) deleteStatement() {
	stmt := p.next()
	if p.peek().is("FROM") {
		p.next()
	}
	t, name, ok := p.dmlTarget(stmt)
	if !ok {
		return
	}
	q := &query{line: stmt.line, top: -1, whereStart: -1, why: value{kind: valNone}, from: t}
	if p.peek().is("FROM") {
		t = p.dmlFrom(q, t, name)
	} else if a := p.peek(); t != nil && (a.kind == kindQuoted || (a.kind == kindIdent && !p.isExprWord(a, p.peekAt(1)))) {
		q.alias = strings.ToLower(p.next().value)
	}
	p.where(q)
	q.end = p.pos
	if t == nil || q.from != t {
		p.problem(stmt.line, "DELETE statement not imported: Import reads the msdb job procedures and the variables and table variables they use")
		return
	}
	rows, why := p.evalQuery(q)
	if why.kind == valUnknown {
		t.unknown = why.s
		p.problem(stmt.line, "DELETE from %s not evaluated: %s; what reads %s after it has an unknown value", t.name, why.s, t.name)
		return
	}
	del := make(map[string]bool, len(rows))
	for _, r := range rows {
		del[ptrKey(r.vals)] = true
	}
	kept := t.rows[:0]
	for _, r := range t.rows {
		if !del[ptrKey(r)] {
			kept = append(kept, r)
		}
	}
	clear(t.rows[len(kept):])
	t.rows = kept
	p.rowcount = len(rows)
	p.changed(t, stmt.line)
}
