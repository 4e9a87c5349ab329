package tsql

import (
	"strings"
)

// Dynamic SQL: EXEC (string expression) and sp_executesql run a statement built by the script.
// Import evaluates the string and runs the statement it holds as a batch of its own (variables
// and table variables of the caller are not visible in it, temporary tables are), nested at
// most Options.MaxDepth deep. Problems in it are reported on the line of the EXEC.

// execString reads EXEC (expr) with p.pos at the parenthesis and runs the statement.
func (p *parser) execString(t token) {
	p.next()
	v := p.expr()
	for p.peek().isPunct(",") { // EXEC (@sql, @p1, ...) AT server: arguments of a linked server
		p.next()
		p.expr()
		v = unknown("EXEC (...) with arguments runs on a linked server")
	}
	if p.peek().isPunct(")") {
		p.next()
	} else {
		p.skipRest(false)
		v = unknown("the EXEC (...) at line %d cannot be read", t.line)
	}
	if p.peek().is("AT") || p.peek().is("AS") {
		p.skipRest(false)
		v = unknown("EXEC (...) AT or AS runs elsewhere or as another user")
	}
	p.runDynamic(t.line, v, nil, nil)
}

// executeSQL runs sp_executesql @stmt [, @params, @p = value ...], whose arguments are read.
func (p *parser) executeSQL(t token, args []*arg) {
	var stmt, params *arg
	var rest []*arg
	for i, a := range args {
		switch {
		case a.name == "stmt" || a.name == "statement" || (a.name == "" && i == 0):
			stmt = a
		case a.name == "params" || (a.name == "" && i == 1):
			params = a
		default:
			rest = append(rest, a)
		}
	}
	if stmt == nil {
		p.problem(t.line, "sp_executesql not run: it has no statement (give @stmt)")
		return
	}
	p.runDynamic(t.line, stmt.val, params, rest)
}

// runDynamic runs the statement held by sql (a string value) as dynamic SQL. params and args
// are sp_executesql's parameter declarations and values; OUTPUT parameters are copied back.
func (p *parser) runDynamic(line int, sql value, params *arg, args []*arg) {
	if p.discard != "" {
		p.problem(line, "dynamic SQL not run: %s", p.discard)
		return
	}
	switch sql.kind {
	case valString:
	case valUnknown:
		p.problem(line, "dynamic SQL not run: its text is not known: %s", sql.s)
		return
	case valNull, valNone:
		return // EXEC (NULL) runs nothing
	default:
		p.problem(line, "dynamic SQL not run: %s is not a statement", sql.text())
		return
	}
	if p.depth >= p.opt.MaxDepth {
		p.halt(line, "dynamic SQL is nested more than %d deep", p.opt.MaxDepth)
		return
	}
	run, err := codeTokens(sql.s)
	if err != nil {
		p.problem(line, "dynamic SQL not run: %v (the line is that of the string)", err)
		return
	}
	for i := range run {
		run[i].line = line
	}
	var decl []token
	if params != nil {
		ps, ok := text(params.val)
		if !ok {
			p.problem(line, "sp_executesql not run: its @params is not known: %s", params.val.s)
			return
		}
		pt, err := tokenize(ps)
		if err != nil {
			p.problem(line, "sp_executesql not run: its @params cannot be read: %v", err)
			return
		}
		decl = append(decl, token{kind: kindIdent, text: "DECLARE", value: "DECLARE", line: line})
		for _, tk := range pt {
			if tk.kind == kindComment || tk.is("OUTPUT") || tk.is("OUT") || tk.is("READONLY") {
				continue
			}
			tk.line = line
			decl = append(decl, tk)
		}
		decl = append(decl, token{kind: kindPunct, text: ";", line: line})
	}

	saved := *p
	p.toks, p.pos = decl, 0
	p.vars = map[string]*variable{}
	p.tvars = map[string]*table{}
	p.frames, p.flow, p.loops, p.rows, p.agg = nil, flowNone, 0, nil, nil
	p.depth++
	if len(decl) > 0 {
		p.declare()
	}
	order := make([]string, 0, len(p.vars))
	for i := 0; i < len(decl); i++ {
		if decl[i].kind == kindVariable && (i == 1 || decl[i-1].isPunct(",")) {
			order = append(order, strings.ToLower(decl[i].value))
		}
	}
	named := false
	for i, a := range args {
		name := "@" + a.name
		if a.name == "" {
			if named || i >= len(order) {
				p.problem(a.line, "sp_executesql: the value %s has no parameter: ignored", a.val.text())
				continue
			}
			name = order[i]
		} else {
			named = true
		}
		v := p.vars[strings.ToLower(name)]
		if v == nil {
			p.problem(a.line, "sp_executesql: %s is not declared in @params (SQL Server error 8178 or 137): ignored", name)
			continue
		}
		v.val = p.convert(v, a.val, a.line)
		a.name = strings.TrimPrefix(strings.ToLower(name), "@")
	}
	p.toks, p.pos = run, 0
	p.run()
	inner := p.vars
	// What the dynamic SQL did to the script's state stays; its scope does not.
	keep := *p
	*p = saved
	p.jobs, p.byName, p.scheds, p.operators, p.alerts = keep.jobs, keep.byName, keep.scheds, keep.operators, keep.alerts
	p.problems, p.halted, p.lim, p.budget, p.temp, p.categories = keep.problems, keep.halted, keep.lim, keep.budget, keep.temp, keep.categories
	p.cursors, p.fetchStatus = keep.cursors, keep.fetchStatus
	p.rowcount = keep.rowcount
	for _, a := range args {
		if !a.output || a.varTok.kind != kindVariable {
			continue
		}
		if iv := inner["@"+a.name]; iv != nil {
			if cv := p.vars[strings.ToLower(a.varTok.value)]; cv != nil {
				cv.val = iv.val
			}
		}
	}
}
