package tsql

import "strings"

// cursor is a cursor declared over a query: OPEN runs the query, FETCH NEXT assigns its rows
// one by one and sets @@FETCH_STATUS (0, or -1 after the last row).
type cursor struct {
	name  string
	query int // the position of its SELECT
	line  int
	rows  [][]value
	next  int
	open  bool
	why   string // when not empty, why the rows are not known
}

// declareCursor reads DECLARE name [INSENSITIVE] [SCROLL] CURSOR [options] FOR SELECT ...
func (p *parser) declareCursor(t token) {
	n := p.peek()
	if (n.kind != kindIdent && n.kind != kindQuoted) || isStatementWord(n) {
		p.skipRest(false)
		p.problem(t.line, "DECLARE statement not imported: it declares neither a variable nor a cursor")
		return
	}
	p.next()
	for !p.eof() && !p.peek().is("FOR") && !p.peek().is("CURSOR") && p.peek().kind == kindIdent && !isStatementWord(p.peek()) {
		p.next() // INSENSITIVE, SCROLL
	}
	if !p.peek().is("CURSOR") {
		p.skipRest(false)
		p.problem(t.line, "DECLARE %s statement not imported: write DECLARE name CURSOR FOR SELECT ...", n.value)
		return
	}
	p.next()
	for !p.eof() && !p.peek().is("FOR") && p.peek().kind == kindIdent && !isStatementWord(p.peek()) {
		p.next() // LOCAL, FAST_FORWARD, READ_ONLY, ...
	}
	if !p.peek().is("FOR") || !p.peekAt(1).is("SELECT") {
		p.skipRest(false)
		p.problem(t.line, "DECLARE CURSOR %s not imported: Import reads cursors FOR SELECT ...", n.value)
		return
	}
	p.next()
	c := &cursor{name: n.value, query: p.pos, line: t.line}
	p.parseQuery() // passed over: OPEN runs it
	for p.peek().is("UNION") {
		p.next()
		if p.peek().is("ALL") {
			p.next()
		}
		if p.peek().is("SELECT") {
			p.parseQuery()
		}
	}
	p.cursors[strings.ToLower(n.value)] = c
}

// cursorStatement reads OPEN, FETCH, CLOSE and DEALLOCATE of a cursor.
func (p *parser) cursorStatement(t token) {
	word := strings.ToUpper(p.next().value)
	if word == "FETCH" {
		for _, w := range []string{"NEXT", "FROM"} {
			if p.peek().is(w) {
				p.next()
			}
		}
		if p.peek().is("PRIOR") || p.peek().is("FIRST") || p.peek().is("LAST") || p.peek().is("ABSOLUTE") || p.peek().is("RELATIVE") {
			p.skipRest(false)
			p.problem(t.line, "FETCH other than NEXT is not evaluated")
			p.fetchStatus = -2
			return
		}
	}
	if p.peek().is("GLOBAL") {
		p.next()
	}
	n := p.next()
	c := p.cursors[strings.ToLower(n.value)]
	if c == nil || (n.kind != kindIdent && n.kind != kindQuoted) {
		p.skipRest(false)
		p.problem(t.line, "%s of the cursor %s, which is not declared (SQL Server error 16916): ignored", word, clip(n.text))
		return
	}
	switch word {
	case "OPEN":
		end := p.pos
		p.pos = c.query
		rows, why := p.subquery(c.line)
		p.efail = false
		p.pos = end
		c.rows, c.next, c.open, c.why = rows, 0, true, ""
		if why.kind == valUnknown {
			c.why = why.s
		}
		if p.discard != "" {
			c.why = "it is opened where " + p.discard
		}
	case "FETCH":
		var into []token
		if p.peek().is("INTO") {
			p.next()
			for p.peek().kind == kindVariable {
				into = append(into, p.next())
				if !p.peek().isPunct(",") {
					break
				}
				p.next()
			}
		}
		switch {
		case !c.open:
			p.problem(t.line, "FETCH of the cursor %s, which is not open (SQL Server error 16917): ignored", c.name)
			p.fetchStatus = -1
		case c.why != "":
			for _, vt := range into {
				p.assign(vt, unknown("%s is fetched at line %d from the cursor %s, whose rows Import does not know: %s", vt.value, t.line, c.name, c.why), false)
			}
			p.fetchStatus = -1
			p.problem(t.line, "FETCH from the cursor %s not evaluated: %s", c.name, c.why)
		case c.next >= len(c.rows):
			p.fetchStatus = -1
		default:
			row := c.rows[c.next]
			c.next++
			if len(row) != len(into) {
				p.problem(t.line, "FETCH INTO %d variables a row of %d columns (SQL Server error 16924): ignored", len(into), len(row))
				p.fetchStatus = -1
				return
			}
			for i, vt := range into {
				p.assign(vt, row[i], false)
			}
			p.fetchStatus = 0
		}
	case "CLOSE":
		c.open, c.rows = false, nil
	case "DEALLOCATE":
		delete(p.cursors, strings.ToLower(c.name))
	}
}
