package tsql

import (
	"github.com/msx-project/msx/schemas/notify"

	"fmt"
	"strings"
)

// parser walks the tokens of a script (comments removed) statement by statement. It is a small
// interpreter: it keeps the values of variables, runs the msdb job procedures against the jobs
// it builds, and treats control flow the way job scripts use it (see the package
// documentation).
type parser struct {
	toks     []token
	pos      int
	problems []Problem

	vars map[string]*variable // by lower-case name, for the current batch
	// frames are the IF bodies being read, innermost last: a variable declared outside one and
	// assigned inside it has no certain value once the body ends.
	frames []*frame
	// discard, when not empty, says why the statements being read are not imported (an ELSE
	// branch, a loop body, a CATCH block): procedure calls there are reported, not run.
	discard string

	jobs   []*jobState
	byName map[string]*jobState // the jobs by upper-case trimmed name
	// operators and alerts the script creates (sp_add_operator, sp_add_alert)
	operators []notify.Operator
	alerts    []notify.Alert
	scheds    []*schedState
	// nest is how deeply statements and parentheses are nested, bounded by maxNest so that a
	// hostile script cannot exhaust the stack.
	nest int
	// budget is how many more bytes of strings expressions may build, so that a script
	// doubling a string in a loop of statements cannot exhaust memory.
	budget int

	opt    Options
	lim    limits
	halted *Problem // set when a limit stopped the evaluation
	efail  bool     // the expression being read has a token that cannot be part of it
	flow   flow     // BREAK, CONTINUE or RETURN unwinding
	loops  int      // WHILE loops being run
	depth  int      // dynamic SQL being run
	db     string   // the current database (USE)
	// rows are the rows being read by queries, innermost last; agg is the group an aggregate reads.
	rows     []*rowCtx
	agg      *aggCtx
	rowcount int               // @@ROWCOUNT
	tvars    map[string]*table // table variables of the batch, by lower-case name
	temp     map[string]*table // temporary tables of the script, by lower-case name
	// categories are msdb's job categories: the defaults and those the script adds.
	categories []category
	// cursors are the cursors declared, by lower-case name; fetchStatus is @@FETCH_STATUS.
	cursors     map[string]*cursor
	fetchStatus int
	label       string // the label GOTO goes to, upper case
}

// flow is how control leaves the statements being run.
type flow int

const (
	flowNone     flow = iota
	flowBreak         // BREAK: leave the innermost WHILE
	flowContinue      // CONTINUE: start the next iteration of the innermost WHILE
	flowReturn        // RETURN: leave the batch
	flowGoto          // GOTO: pass over statements up to the label p.label
)

// frame is one IF body being read whose condition Import could not evaluate.
type frame struct {
	line     int
	assigned []*variable
	tables   []*table
}

func (p *parser) problem(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) eof() bool { return p.pos >= len(p.toks) }

// peek returns the token n places ahead, or a zero token (kindPunct with no text) at the end.
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return token{kind: kindPunct, line: p.lastLine()}
}

func (p *parser) peek() token { return p.peekAt(0) }

func (p *parser) next() token {
	t := p.peek()
	if !p.eof() {
		p.pos++
	}
	return t
}

func (p *parser) lastLine() int {
	if len(p.toks) == 0 {
		return 1
	}
	return p.toks[len(p.toks)-1].line
}

// statementWords start a statement; an expression or a condition ends before one of them.
var statementWords = map[string]bool{
	"BEGIN": true, "END": true, "ELSE": true, "EXEC": true, "EXECUTE": true, "DECLARE": true,
	"SET": true, "SELECT": true, "IF": true, "WHILE": true, "GOTO": true, "RETURN": true,
	"PRINT": true, "RAISERROR": true, "THROW": true, "USE": true, "COMMIT": true, "ROLLBACK": true,
	"SAVE": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "CREATE": true,
	"ALTER": true, "DROP": true, "TRUNCATE": true, "BREAK": true, "CONTINUE": true, "WAITFOR": true,
	"GRANT": true, "DENY": true, "REVOKE": true, "OPEN": true, "CLOSE": true, "FETCH": true,
	"DEALLOCATE": true, "BACKUP": true, "RESTORE": true, "DBCC": true,
}

func isStatementWord(t token) bool {
	return t.kind == kindIdent && statementWords[strings.ToUpper(t.value)]
}

// atLabel reports whether the next tokens are a label ("QuitWithRollback:").
func (p *parser) atLabel() bool {
	return p.peek().kind == kindIdent && p.peekAt(1).isPunct(":") && !isStatementWord(p.peek())
}

// atStatementEnd reports whether a statement may end here: the next token starts another
// statement, or is ';' or GO, or there is none.
func (p *parser) atStatementEnd() bool {
	t := p.peek()
	return p.eof() || t.kind == kindGo || t.isPunct(";") || isStatementWord(t) || p.atLabel()
}

// run reads every statement of the script.
func (p *parser) run() {
	for !p.eof() && p.halted == nil {
		p.statement()
	}
}

// maxNest bounds the nesting of blocks, IF bodies and parentheses.
const maxNest = 100

// statement reads one statement and runs it. Unless at the end, it consumes at least one token.
// While BREAK, CONTINUE or RETURN unwinds, or after a limit stopped the evaluation, the
// statement is passed over.
func (p *parser) statement() {
	if p.eof() {
		return
	}
	t := p.peek()
	if p.flow == flowGoto && p.atLabel() && strings.EqualFold(t.value, p.label) {
		p.flow, p.label = flowNone, ""
	}
	if p.flow != flowNone || p.halted != nil {
		p.skipStatement()
		return
	}
	if p.nest >= maxNest {
		p.next()
		p.problem(t.line, "statements nested more than %d deep are not imported", maxNest)
		return
	}
	if !p.count(t.line) {
		p.skipStatement()
		return
	}
	p.nest++
	defer func() { p.nest-- }()
	switch {
	case t.kind == kindGo:
		p.next()
		p.endBatch(t)
		return
	case t.isPunct(";"):
		p.next()
		return
	case p.atLabel():
		p.pos += 2 // GOTO is not followed: see the package documentation
		return
	case t.kind != kindIdent:
		p.next()
		p.skipRest(false)
		p.problem(t.line, "unexpected %s %q: the statement is not imported", t.kind, clip(t.text))
		return
	}
	switch word := strings.ToUpper(t.value); word {
	case "USE":
		p.next()
		if n := p.next(); n.kind == kindIdent || n.kind == kindQuoted {
			p.db = n.value
		}
	case "BEGIN":
		p.begin()
	case "COMMIT", "ROLLBACK", "SAVE":
		p.next()
		p.transactionTail()
	case "DECLARE":
		p.declare()
	case "SET":
		p.set()
	case "SELECT":
		p.selectStatement()
	case "IF":
		p.ifStatement()
	case "WHILE":
		p.while()
	case "GOTO":
		p.next()
		label := p.next()
		p.gotoLabel(t, label)
	case "BREAK", "CONTINUE":
		p.next()
		switch {
		case p.loops == 0:
			p.problem(t.line, "%s outside a WHILE loop (SQL Server error 135): ignored", word)
		case p.discard != "" || len(p.frames) > 0:
			// In a loop or branch Import reads without running, or under a condition it could
			// not evaluate: the loop goes on as if the condition did not hold.
		case word == "BREAK":
			p.flow = flowBreak
		default:
			p.flow = flowContinue
		}
	case "RETURN":
		p.next()
		if !p.atStatementEnd() {
			p.expr()
		}
		if p.discard == "" && len(p.frames) == 0 {
			p.flow = flowReturn
		}
	case "PRINT", "RAISERROR", "THROW":
		// Messages and error exits: they create nothing.
		p.next()
		p.skipRest(false)
	case "EXEC", "EXECUTE":
		p.exec()
	case "OPEN", "FETCH", "CLOSE", "DEALLOCATE":
		p.cursorStatement(t)
	case "INSERT":
		p.insert()
	case "UPDATE":
		p.update()
	case "DELETE":
		p.deleteStatement()
	case "END", "ELSE":
		p.next()
		p.problem(t.line, "%s without a matching %s: ignored", word, map[string]string{"END": "BEGIN", "ELSE": "IF"}[word])
	case "DROP":
		p.next()
		if p.peek().is("TABLE") {
			n, ifExists := 1, false
			if p.peekAt(1).is("IF") && p.peekAt(2).is("EXISTS") {
				n, ifExists = 3, true
			}
			if name := p.peekAt(n).value; strings.HasPrefix(name, "#") && p.peekAt(n).kind == kindIdent {
				p.pos += n + 1
				if p.temp[strings.ToLower(name)] == nil && !ifExists {
					p.problem(t.line, "DROP TABLE %s: the table does not exist (SQL Server error 3701)", name)
				}
				delete(p.temp, strings.ToLower(name))
				p.skipRest(true)
				return
			}
		}
		p.skipRest(true)
		p.problem(t.line, "DROP statement not imported: Import reads the msdb job procedures and the variables they use")
	case "CREATE", "ALTER":
		p.next()
		obj := strings.ToUpper(p.peek().value)
		if obj == "OR" { // CREATE OR ALTER
			p.pos += 2
			obj = strings.ToUpper(p.peek().value)
		}
		if word == "CREATE" && obj == "TABLE" && strings.HasPrefix(p.peekAt(1).value, "#") {
			p.next()
			name := p.next().value
			tab := p.tableDef(name)
			p.temp[strings.ToLower(name)] = tab
			p.skipRest(true)
			return
		}
		switch obj {
		case "PROCEDURE", "PROC", "FUNCTION", "TRIGGER", "VIEW":
			// The body runs to the end of the batch.
			for !p.eof() && p.peek().kind != kindGo {
				p.next()
			}
		default:
			p.skipRest(true)
		}
		p.problem(t.line, "%s %s statement not imported: Import reads the msdb job procedures and the variables they use", word, obj)
	default:
		p.next()
		p.skipRest(true)
		p.problem(t.line, "%s statement not imported: Import reads the msdb job procedures and the variables they use", word)
	}
}

// skipStatement passes over one statement without running it: a block, an IF with its ELSE,
// a WHILE with its body, or a simple statement. Unless at the end, it consumes at least one
// token.
func (p *parser) skipStatement() {
	if p.eof() {
		return
	}
	if p.nest >= maxNest {
		p.next()
		return
	}
	p.nest++
	defer func() { p.nest-- }()
	t := p.peek()
	switch {
	case t.kind == kindGo:
		if p.flow == flowGoto {
			p.problem(t.line, "the label %s of a GOTO is not found before GO (SQL Server error 133): the statements after the GOTO are not imported", p.label)
			p.flow = flowReturn
		}
		if p.flow == flowReturn && p.halted == nil {
			// RETURN ends at the end of the batch: GO is read as a statement.
			p.flow = flowNone
			p.next()
			p.endBatch(t)
			return
		}
		p.next()
		return
	case t.isPunct(";"):
		p.next()
	case p.atLabel():
		p.pos += 2
	case t.is("BEGIN"):
		p.next()
		if p.beginTransaction() {
			return
		}
		kind := ""
		if p.peek().is("TRY") || p.peek().is("CATCH") {
			kind = strings.ToUpper(p.next().value)
		}
		p.block(kind, p.skipStatement)
	case t.is("IF"):
		p.next()
		p.skipCondition()
		p.skipStatement()
		if p.atElse() {
			p.next()
			p.skipStatement()
		}
	case t.is("WHILE"):
		p.next()
		p.skipCondition()
		p.skipStatement()
	case t.is("CREATE") || t.is("ALTER"):
		p.next()
		obj := p.peek()
		if obj.is("OR") {
			p.pos += 2
			obj = p.peek()
		}
		if obj.is("PROCEDURE") || obj.is("PROC") || obj.is("FUNCTION") || obj.is("TRIGGER") || obj.is("VIEW") {
			for !p.eof() && p.peek().kind != kindGo {
				p.next()
			}
			return
		}
		p.skipRest(true)
	case t.is("INSERT") || t.is("UPDATE") || t.is("DELETE") || t.is("MERGE") || t.is("DROP"):
		p.next()
		p.skipRest(true)
	case t.is("END") || t.is("ELSE"):
		p.next()
	default:
		p.next()
		p.skipRest(false)
	}
}

// gotoLabel follows GOTO label forward: the statements up to the label are passed over. A
// GOTO under a condition Import could not evaluate, or in a branch it does not run, is not
// followed (job scripts jump to their error exit there); one back to an earlier label is
// reported and not followed, as loops are written with WHILE.
func (p *parser) gotoLabel(t, label token) {
	if p.discard != "" || len(p.frames) > 0 {
		return
	}
	for i := p.pos; i+1 < len(p.toks) && p.toks[i].kind != kindGo; i++ {
		if p.toks[i].kind == kindIdent && strings.EqualFold(p.toks[i].value, label.value) && p.toks[i+1].isPunct(":") {
			p.flow, p.label = flowGoto, label.value
			return
		}
	}
	p.problem(t.line, "GOTO %s not followed: Import follows GOTO forward to a label of the same batch", clip(label.text))
}

// endBatch ends a batch at GO: variables go out of scope.
func (p *parser) endBatch(goTok token) {
	clear(p.vars)
	clear(p.tvars)
	p.flow, p.label = flowNone, ""
	p.frames = nil
	p.discard = ""
	if n := goTok.value; n != "" && strings.TrimLeft(n, "0") != "1" {
		p.problem(goTok.line, "GO %s: the batch before it is imported once, not repeated", n)
	}
}

// skipRest skips to the end of the current statement: the next statement word, ';' or GO
// outside parentheses and CASE expressions. With dml set (the statement is INSERT, UPDATE and
// the like, where SELECT and SET are clauses), SELECT and SET end the statement only when a
// variable follows them.
func (p *parser) skipRest(dml bool) {
	var n nesting
	for !p.eof() {
		t := p.peek()
		if t.kind == kindGo {
			return // a batch separator ends any statement
		}
		if n.top() {
			if t.isPunct(";") || p.atLabel() {
				return
			}
			if isStatementWord(t) {
				if !dml || !(t.is("SELECT") || t.is("SET")) || p.peekAt(1).kind == kindVariable {
					return
				}
			}
		}
		n.step(t)
		p.next()
	}
}

// nesting is where a scan over tokens is: how many parentheses and CASE expressions it is in.
type nesting struct{ depth, cases int }

// top reports whether the scan is outside any parenthesis and CASE it entered.
func (n nesting) top() bool { return n.depth == 0 && n.cases == 0 }

// step accounts for t. A ')' that closes no parenthesis the scan entered is not counted: step
// reports it (unmatched), and the scan may stop there.
func (n *nesting) step(t token) (unmatched bool) {
	switch {
	case t.isPunct("("):
		n.depth++
	case t.isPunct(")"):
		if n.depth == 0 {
			return true
		}
		n.depth--
	case t.is("CASE"):
		n.cases++
	case t.is("END") && n.cases > 0:
		n.cases--
	}
	return false
}

// skipCondition skips the condition of IF or WHILE: everything up to the statement word that
// starts the body, outside parentheses and CASE expressions.
func (p *parser) skipCondition() {
	var n nesting
	for !p.eof() {
		t := p.peek()
		if t.kind == kindGo {
			return
		}
		if n.top() && isStatementWord(t) {
			return
		}
		n.step(t)
		p.next()
	}
}

// begin reads BEGIN TRANSACTION, or a BEGIN ... END, BEGIN TRY ... END TRY or
// BEGIN CATCH ... END CATCH block.
func (p *parser) begin() {
	t := p.next()
	if p.beginTransaction() {
		return
	}
	switch {
	case p.peek().is("TRY"):
		p.next()
		p.block("TRY", p.statement)
	case p.peek().is("CATCH"):
		p.next()
		p.withDiscard(fmt.Sprintf("it is in the CATCH block at line %d, which runs only after an error", t.line), func() { p.block("CATCH", p.statement) })
	default:
		p.block("", p.statement)
	}
}

// beginTransaction reads the rest of BEGIN [DISTRIBUTED] TRAN[SACTION] [name], p.pos after
// BEGIN. It reports false, reading nothing, when the BEGIN starts a block.
func (p *parser) beginTransaction() bool {
	switch {
	case p.peek().is("DISTRIBUTED"):
		p.next()
	case !p.peek().is("TRAN") && !p.peek().is("TRANSACTION"):
		return false
	}
	p.transactionTail()
	return true
}

// block reads statements with each (statement, or skipStatement to pass over them) up to END
// (and the word after it, TRY or CATCH). A GO inside a block ends it: T-SQL does not allow one
// there, and the batch must end.
func (p *parser) block(kind string, each func()) {
	for !p.eof() && !p.peek().is("END") && p.peek().kind != kindGo {
		each()
	}
	if p.peek().is("END") {
		p.next()
		if kind != "" && p.peek().is(kind) {
			p.next()
		}
	}
}

// transactionTail skips TRAN, TRANSACTION or WORK and a transaction name or variable.
func (p *parser) transactionTail() {
	if p.peek().is("TRAN") || p.peek().is("TRANSACTION") || p.peek().is("WORK") {
		p.next()
	}
	if t := p.peek(); t.kind == kindVariable || (t.kind == kindIdent && !isStatementWord(t) && !p.atLabel() && !t.is("WITH")) || t.kind == kindQuoted {
		p.next()
	}
	if p.peek().is("WITH") { // WITH MARK 'description'
		p.next()
		p.skipRest(false)
	}
}

// ifStatement reads IF condition statement [ELSE statement]. A condition Import evaluates
// runs the branch it selects. One it cannot evaluate (a query of a user table, a function it
// does not know) is read as if it held, which is what job scripts mean by IF NOT EXISTS (job or
// category) and what their error checks leave alone: the ELSE branch is not imported, and a
// variable assigned in the IF branch has no certain value after it.
func (p *parser) ifStatement() {
	t := p.next()
	c := p.condition()
	switch {
	case isTrue(c):
		p.statement()
		if p.atElse() {
			p.next()
			p.skipStatement()
		}
		return
	case isFalse(c) || c.kind == valNull:
		p.skipStatement()
		if p.atElse() {
			p.next()
			p.statement()
		}
		return
	}
	p.frames = append(p.frames, &frame{line: t.line})
	p.statement()
	p.popFrame()
	if p.atElse() {
		e := p.next()
		p.withDiscard(fmt.Sprintf("it is in the ELSE branch at line %d of an IF whose condition Import does not evaluate (%s)", e.line, c.s), p.statement)
	}
}

// atElse reports whether ELSE follows, passing over the semicolons before it.
func (p *parser) atElse() bool {
	for p.peek().isPunct(";") && p.peekAt(1).is("ELSE") {
		p.next()
	}
	return p.peek().is("ELSE")
}

// condition reads the condition of IF or WHILE, up to the statement that follows it. One that
// cannot be read to there is skipped and unknown.
func (p *parser) condition() value {
	start := p.peek()
	c := p.expr()
	if p.atStatementEnd() && !p.peek().isPunct(";") {
		switch c.kind {
		case valBool, valNull, valUnknown:
			return c
		}
		return unknown("%s at line %d is not a condition", c.text(), start.line)
	}
	p.skipCondition()
	return unknown("the condition at line %d is not one Import evaluates", start.line)
}

// while runs WHILE condition statement, at most MaxIterations times. A condition Import cannot
// evaluate is not run: the body is read without running it, its procedure calls reported.
func (p *parser) while() {
	t := p.next()
	condPos := p.pos
	for i := 0; ; i++ {
		p.pos = condPos
		c := p.condition()
		if c.kind == valUnknown {
			p.withDiscard(fmt.Sprintf("it is in the WHILE loop at line %d, whose condition Import does not evaluate (%s)", t.line, c.s), p.statement)
			return
		}
		if !isTrue(c) || p.halted != nil {
			p.skipStatement()
			return
		}
		if i >= p.opt.MaxIterations {
			p.halt(t.line, "the WHILE loop at line %d runs more than %d times", t.line, p.opt.MaxIterations)
			p.skipStatement()
			return
		}
		p.loops++
		p.statement()
		p.loops--
		switch p.flow {
		case flowBreak:
			p.flow = flowNone
			return
		case flowContinue:
			p.flow = flowNone
		case flowReturn, flowGoto:
			return
		}
	}
}

func (p *parser) popFrame() {
	if len(p.frames) == 0 {
		return
	}
	f := p.frames[len(p.frames)-1]
	p.frames = p.frames[:len(p.frames)-1]
	for _, t := range f.tables {
		t.unknown = fmt.Sprintf("%s is changed inside the IF at line %d, so its rows depend on a condition Import does not evaluate", t.name, f.line)
	}
	for _, v := range f.assigned {
		if v.depth <= len(p.frames) && v.val.kind != valUnknown {
			v.val = unknown("%s is set inside the IF at line %d, so its value depends on a condition Import does not evaluate", v.name, f.line)
		}
	}
}

// withDiscard runs read with discard set to reason (the outermost reason wins).
func (p *parser) withDiscard(reason string, read func()) {
	saved := p.discard
	if p.discard == "" {
		p.discard = reason
	}
	read()
	p.discard = saved
}

// clip shortens text for a message.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "..."
	}
	return s
}
