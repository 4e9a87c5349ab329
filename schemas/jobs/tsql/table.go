package tsql

import (
	"slices"
	"strings"
)

// table is a table variable (@t, for its batch) or a temporary table (#t, for the script), or
// one of the msdb tables Import answers from what the script created so far.
type table struct {
	name  string // as declared
	cols  []colDef
	rows  []map[string]value // by lower-case column name
	ident int64              // the last IDENTITY value given
	// unknown, when not empty, says why the rows are not known (the table was changed where
	// Import does not evaluate, or filled from a query it does not run).
	unknown string
}

// colDef is a column of a table.
type colDef struct {
	name     string // lower case
	typ      sqlType
	identity bool
	def      value // DEFAULT, valNull when none
}

// rowCtx is a row being read by a query: its columns are names in expressions.
type rowCtx struct {
	alias, table string // lower case
	vals         map[string]value
	cols         []string // in table order, for *
	agg          *aggCtx  // the group, in the row of an aggregate query
}

// aggCtx is the group an aggregate (COUNT, MAX, ...) reads.
type aggCtx struct{ rows []*rowCtx }

// tableDef reads the ( column definitions ) of DECLARE @t TABLE and CREATE TABLE #t.
func (p *parser) tableDef(name string) *table {
	t := &table{name: name}
	if !p.peek().isPunct("(") {
		t.unknown = name + " has no column list Import reads"
		return t
	}
	p.next()
	for !p.eof() && !p.peek().isPunct(")") && p.peek().kind != kindGo {
		first := p.peek()
		if first.is("CONSTRAINT") || first.is("PRIMARY") || first.is("UNIQUE") || first.is("INDEX") || first.is("CHECK") || first.is("FOREIGN") {
			p.skipColumnRest()
		} else if first.kind == kindIdent || first.kind == kindQuoted {
			p.next()
			c := colDef{name: strings.ToLower(first.value), def: value{kind: valNull}}
			c.typ = p.readType()
			for !p.eof() && !p.peek().isPunct(",") && !p.peek().isPunct(")") && p.peek().kind != kindGo {
				a := p.next()
				switch {
				case a.is("IDENTITY"):
					c.identity = true
					p.skipParens()
				case a.is("DEFAULT"):
					c.def = p.expr()
				case a.isPunct("("):
					p.pos--
					p.skipParens()
				}
			}
			t.cols = append(t.cols, c)
		} else {
			p.next()
		}
		if p.peek().isPunct(",") {
			p.next()
		}
	}
	if p.peek().isPunct(")") {
		p.next()
	}
	return t
}

// skipColumnRest skips a table constraint up to the next , or ) of the column list.
func (p *parser) skipColumnRest() {
	for !p.eof() && !p.peek().isPunct(",") && !p.peek().isPunct(")") && p.peek().kind != kindGo {
		if p.peek().isPunct("(") {
			p.skipParens()
			continue
		}
		p.next()
	}
}

// query is a SELECT being evaluated: positions of its clauses in p.toks.
type query struct {
	line                 int
	top                  int64 // -1: every row
	itemsStart, itemsEnd int
	from                 *table
	alias                string
	whereStart           int // -1: no WHERE
	order                []orderBy
	agg                  bool
	why                  value
	end                  int
}

type orderBy struct {
	pos  int
	desc bool
}

// clauseWords end the select list or a clause of a query.
var clauseWords = map[string]bool{"FROM": true, "WHERE": true, "ORDER": true, "GROUP": true, "HAVING": true, "UNION": true,
	"EXCEPT": true, "INTERSECT": true, "OPTION": true, "FOR": true, "INTO": true}

// scanClause skips to the end of a clause: a clause word, ')', ';', GO or a statement word
// outside parentheses and CASE. Extra words (ASC, DESC, ',') end it too.
func (p *parser) scanClause(extra ...string) {
	depth, cases := 0, 0
	for !p.eof() {
		t := p.peek()
		if t.kind == kindGo {
			return
		}
		if depth == 0 && cases == 0 {
			if t.isPunct(")") || t.isPunct(";") || (t.kind == kindIdent && clauseWords[strings.ToUpper(t.value)]) ||
				isStatementWord(t) {
				return
			}
			for _, w := range extra {
				if t.is(w) || t.isPunct(w) {
					return
				}
			}
		}
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
		p.next()
	}
}

// parseQuery reads a SELECT (p.pos at SELECT) without evaluating it.
func (p *parser) parseQuery() *query {
	t := p.next()
	q := &query{line: t.line, top: -1, whereStart: -1, why: value{kind: valNone}}
	if p.peek().is("ALL") {
		p.next()
	}
	if p.peek().is("DISTINCT") {
		p.next()
		q.why = unknown("SELECT DISTINCT at line %d is not evaluated", t.line)
	}
	if p.peek().is("TOP") {
		p.next()
		var n value
		if p.peek().isPunct("(") {
			p.next()
			n = p.orExpr()
			if p.peek().isPunct(")") {
				p.next()
			}
		} else if p.peek().kind == kindNumber {
			n = value{kind: valNumber, s: p.next().text}
		}
		if x, ok := toNumber(n); ok && x.isInt && x.i >= 0 {
			q.top = x.i
		} else {
			q.why = unknown("the TOP of the query at line %d is not a number Import evaluates", t.line)
		}
		if p.peek().is("PERCENT") || p.peek().is("WITH") {
			q.why = unknown("TOP PERCENT or WITH TIES at line %d is not evaluated", t.line)
			p.next()
			if p.peek().is("TIES") {
				p.next()
			}
		}
	}
	q.itemsStart = p.pos
	p.scanClause()
	q.itemsEnd = p.pos
	for i := q.itemsStart; i+1 < q.itemsEnd; i++ {
		if w := p.toks[i]; p.toks[i+1].isPunct("(") && (w.is("COUNT") || w.is("MAX") || w.is("MIN") || w.is("SUM")) {
			q.agg = true
		}
	}
	if p.peek().is("INTO") {
		q.why = unknown("SELECT INTO at line %d creates a table, which Import does not evaluate", t.line)
		p.next()
		p.scanClause()
	}
	if p.peek().is("FROM") {
		p.next()
		p.from(q)
	}
	p.where(q)
	if p.peek().is("GROUP") || p.peek().is("HAVING") {
		q.why = unknown("GROUP BY and HAVING at line %d are not evaluated", t.line)
		for p.peek().is("GROUP") || p.peek().is("HAVING") {
			p.next()
			p.scanClause()
		}
	}
	if p.peek().is("ORDER") && p.peekAt(1).is("BY") {
		p.pos += 2
		for !p.eof() {
			o := orderBy{pos: p.pos}
			p.scanClause(",", "ASC", "DESC")
			if p.peek().is("DESC") {
				o.desc = true
				p.next()
			} else if p.peek().is("ASC") {
				p.next()
			}
			q.order = append(q.order, o)
			if !p.peek().isPunct(",") {
				break
			}
			p.next()
		}
	}
	if p.peek().is("OPTION") || p.peek().is("FOR") {
		p.next()
		p.scanClause()
	}
	q.end = p.pos
	return q
}

// where reads the WHERE clause of q, if one is next, without evaluating it.
func (p *parser) where(q *query) {
	if p.peek().is("WHERE") {
		p.next()
		q.whereStart = p.pos
		p.scanClause()
	}
}

// from reads the FROM clause: one table with an optional alias and hints. Joins are not
// evaluated.
func (p *parser) from(q *query) {
	parts := p.dottedName()
	if len(parts) == 0 {
		q.why = unknown("the FROM at line %d is not a table Import reads", q.line)
		p.scanClause()
		return
	}
	tab, why := p.resolveTable(parts, q.line)
	if p.peek().is("AS") {
		p.next()
	}
	if a := p.peek(); a.kind == kindQuoted || (a.kind == kindIdent && !p.isExprWord(a, p.peekAt(1))) {
		q.alias = strings.ToLower(p.next().value)
	}
	if p.peek().is("WITH") && p.peekAt(1).isPunct("(") {
		p.next()
		p.skipParens()
	}
	if n := p.peek(); n.isPunct(",") || n.is("JOIN") || n.is("INNER") || n.is("LEFT") || n.is("RIGHT") || n.is("FULL") || n.is("CROSS") || n.is("OUTER") {
		why = unknown("the query at line %d joins tables, which Import does not evaluate", q.line)
		for !p.eof() && p.peek().kind != kindGo && !p.peek().is("WHERE") && !p.peek().is("ORDER") && !p.peek().is("GROUP") &&
			!p.peek().isPunct(")") && !p.peek().isPunct(";") && !isStatementWord(p.peek()) {
			if p.peek().isPunct("(") {
				p.skipParens()
				continue
			}
			p.next()
		}
	}
	if why.kind == valUnknown && q.why.kind != valUnknown {
		q.why = why
	}
	q.from = tab
}

// resolveTable finds the table a name refers to.
func (p *parser) resolveTable(parts []string, line int) (*table, value) {
	name := parts[len(parts)-1]
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(name, "@"):
		if t := p.tvars[lower]; t != nil {
			return t, value{}
		}
		return nil, unknown("the table variable %s is not declared in this batch (SQL Server error 1087)", name)
	case strings.HasPrefix(name, "#"):
		if t := p.temp[lower]; t != nil {
			return t, value{}
		}
		return nil, unknown("the temporary table %s is not created in this script (SQL Server error 208)", name)
	}
	db, schema := p.db, ""
	if len(parts) >= 2 {
		schema = strings.ToLower(parts[len(parts)-2])
	}
	if len(parts) >= 3 && parts[len(parts)-3] != "" {
		db = parts[len(parts)-3]
	}
	if schema == "sys" {
		switch lower {
		case "dm_os_host_info":
			platform := "Windows"
			if p.opt.Platform == "linux" {
				platform = "Linux"
			}
			return p.virtual("sys.dm_os_host_info", []string{"host_platform", "host_distribution"},
				[][]value{{str(platform), str(platform)}}), value{}
		case "dm_os_server_diagnostics_log_configurations":
			return p.virtual("sys.dm_os_server_diagnostics_log_configurations", []string{"path"},
				[][]value{{str(p.logDirectory())}}), value{}
		}
	}
	if strings.EqualFold(db, "msdb") && (schema == "" || schema == "dbo") {
		var rows [][]value
		switch lower {
		case "sysjobs", "sysjobs_view":
			for i, js := range p.jobs {
				if js.deleted {
					continue
				}
				enabled := int64(1)
				if js.job.Enabled != nil && !*js.job.Enabled {
					enabled = 0
				}
				rows = append(rows, []value{str(js.job.Name), {kind: valJob, ref: i}, number(enabled), str(js.job.Description)})
			}
			return p.virtual("msdb.dbo."+lower, []string{"name", "job_id", "enabled", "description"}, rows), value{}
		case "syscategories":
			for i, c := range p.categories {
				rows = append(rows, []value{str(c.name), number(int64(c.class)), number(int64(c.typ)), number(int64(i + 100))})
			}
			return p.virtual("msdb.dbo.syscategories", []string{"name", "category_class", "category_type", "category_id"}, rows), value{}
		case "sysoperators":
			for _, o := range p.operators {
				rows = append(rows, []value{str(o.Name), str(o.EmailAddress)})
			}
			return p.virtual("msdb.dbo.sysoperators", []string{"name", "email_address"}, rows), value{}
		case "sysalerts":
			for _, a := range p.alerts {
				rows = append(rows, []value{str(a.Name)})
			}
			return p.virtual("msdb.dbo.sysalerts", []string{"name"}, rows), value{}
		case "sysschedules":
			for i, s := range p.scheds {
				rows = append(rows, []value{str(s.s.Name), {kind: valSchedule, ref: i}})
			}
			return p.virtual("msdb.dbo.sysschedules", []string{"name", "schedule_id"}, rows), value{}
		}
	}
	return nil, unknown("%s is not a table Import reads: it answers table variables, temporary tables, msdb's sysjobs, "+
		"sysjobs_view, syscategories, sysoperators, sysalerts and sysschedules (from what the script creates), "+
		"sys.dm_os_host_info and sys.dm_os_server_diagnostics_log_configurations", clip(strings.Join(parts, ".")))
}

// virtual builds a table answered from the evaluation's state.
func (p *parser) virtual(name string, cols []string, rows [][]value) *table {
	t := &table{name: name}
	for _, c := range cols {
		t.cols = append(t.cols, colDef{name: c})
	}
	for _, r := range rows {
		m := make(map[string]value, len(cols))
		for i, c := range cols {
			m[c] = r[i]
		}
		t.rows = append(t.rows, m)
	}
	return t
}

// rowCtxs returns the rows of the table of a query as rows to read.
func (t *table) rowCtxs(alias string) []*rowCtx {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = c.name
	}
	name := strings.ToLower(t.name)
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	out := make([]*rowCtx, len(t.rows))
	for i, r := range t.rows {
		out[i] = &rowCtx{alias: alias, table: name, vals: r, cols: cols}
	}
	return out
}

// evalQuery returns the rows a parsed query selects (WHERE, ORDER BY and TOP applied), or an
// unknown value saying why it cannot. p.pos is left at the end of the query.
func (p *parser) evalQuery(q *query) ([]*rowCtx, value) {
	defer func() { p.pos = q.end }()
	if q.why.kind == valUnknown {
		return nil, q.why
	}
	var rows []*rowCtx
	switch {
	case q.from == nil:
		rows = []*rowCtx{{vals: map[string]value{}}}
	case q.from.unknown != "":
		return nil, unknown("%s", q.from.unknown)
	default:
		rows = q.from.rowCtxs(q.alias)
	}
	if q.whereStart >= 0 {
		kept := rows[:0:0]
		for _, r := range rows {
			if !p.readRow(q.line) {
				return nil, unknown("the evaluation was stopped")
			}
			p.pos = q.whereStart
			p.rows = append(p.rows, r)
			v := p.expr()
			p.rows = p.rows[:len(p.rows)-1]
			if v.kind == valUnknown {
				return nil, v
			}
			if isTrue(v) {
				kept = append(kept, r)
			}
			if p.halted != nil {
				return nil, unknown("the evaluation was stopped")
			}
		}
		rows = kept
	}
	if len(q.order) > 0 && len(rows) > 1 {
		keys := make(map[*rowCtx][]value, len(rows))
		for _, r := range rows {
			if !p.readRow(q.line) {
				return nil, unknown("the evaluation was stopped")
			}
			p.rows = append(p.rows, r)
			for _, o := range q.order {
				p.pos = o.pos
				v := p.expr()
				if v.kind == valUnknown {
					p.rows = p.rows[:len(p.rows)-1]
					return nil, v
				}
				keys[r] = append(keys[r], v)
			}
			p.rows = p.rows[:len(p.rows)-1]
		}
		slices.SortStableFunc(rows, func(a, b *rowCtx) int {
			for i, o := range q.order {
				x, y := keys[a][i], keys[b][i]
				c := 0
				switch {
				case x.kind == valNull && y.kind != valNull:
					c = -1
				case y.kind == valNull && x.kind != valNull:
					c = 1
				case isTrue(compare("<", x, y, q.line)):
					c = -1
				case isTrue(compare(">", x, y, q.line)):
					c = 1
				}
				if o.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if q.agg {
		rows = []*rowCtx{{vals: map[string]value{}, agg: &aggCtx{rows: rows}}}
	}
	if q.top >= 0 && int64(len(rows)) > q.top {
		rows = rows[:q.top]
	}
	return rows, value{}
}

// withRow reads at p.pos with r's columns (and its group, for aggregates) in scope.
func (p *parser) withRow(r *rowCtx, read func()) {
	p.rows = append(p.rows, r)
	saved := p.agg
	p.agg = r.agg
	read()
	p.agg = saved
	p.rows = p.rows[:len(p.rows)-1]
}

// project evaluates the select list of a query on each row.
func (p *parser) project(q *query, rows []*rowCtx) [][]value {
	var out [][]value
	for _, r := range rows {
		if !p.readRow(q.line) {
			break
		}
		var vals []value
		p.pos = q.itemsStart
		p.withRow(r, func() {
			for p.pos < q.itemsEnd && p.halted == nil {
				if p.peek().isPunct("*") {
					p.next()
					for _, c := range r.cols {
						vals = append(vals, r.vals[c])
					}
				} else {
					vals = append(vals, p.expr())
					if p.peek().is("AS") {
						p.next()
					}
					if a := p.peek(); p.pos < q.itemsEnd && (a.kind == kindQuoted || a.kind == kindIdent || a.kind == kindString) && !a.isPunct(",") {
						p.next() // a column alias
					}
				}
				if !p.peek().isPunct(",") {
					break
				}
				p.next()
			}
		})
		out = append(out, vals)
	}
	p.pos = q.end
	return out
}

// subquery reads SELECT ... [UNION [ALL] SELECT ...] and returns the rows it selects, or an
// unknown value.
func (p *parser) subquery(line int) ([][]value, value) {
	var all [][]value
	var why value
	dedupe := false
	for {
		q := p.parseQuery()
		rows, w := p.evalQuery(q)
		if w.kind == valUnknown && why.kind != valUnknown {
			why = w
		}
		if w.kind != valUnknown {
			all = append(all, p.project(q, rows)...)
		}
		p.pos = q.end
		if !p.peek().is("UNION") {
			break
		}
		p.next()
		if p.peek().is("ALL") {
			p.next()
		} else {
			dedupe = true
		}
		if !p.peek().is("SELECT") {
			p.efail = true
			return nil, unknown("UNION at line %d is not followed by SELECT", line)
		}
	}
	if why.kind == valUnknown {
		return nil, why
	}
	if dedupe {
		seen := map[string]bool{}
		kept := all[:0]
		for _, r := range all {
			k := ""
			for _, v := range r {
				k += strings.ToLower(v.s) + "\x00" + string(rune('0'+v.kind)) + "\x00"
			}
			if !seen[k] {
				seen[k] = true
				kept = append(kept, r)
			}
		}
		all = kept
	}
	return all, value{}
}

// exists reads the query of EXISTS (p.pos at SELECT).
func (p *parser) exists(line int) value {
	q := p.parseQuery()
	rows, why := p.evalQuery(q)
	if why.kind == valUnknown {
		return why
	}
	return boolean(len(rows) > 0)
}

// scalarSubquery reads (SELECT ...) used as a value: NULL when it selects no row.
func (p *parser) scalarSubquery(line int) value {
	rows, why := p.subquery(line)
	switch {
	case why.kind == valUnknown:
		return why
	case len(rows) == 0:
		return value{kind: valNull}
	case len(rows) > 1:
		return unknown("the subquery at line %d returns more than 1 value (SQL Server error 512)", line)
	case len(rows[0]) == 0:
		return value{kind: valNull}
	}
	return rows[0][0]
}
