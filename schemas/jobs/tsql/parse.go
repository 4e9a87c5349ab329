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
}

// frame is one IF body being read.
type frame struct {
	line     int
	assigned []*variable
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
	for !p.eof() {
		p.statement()
	}
}

// maxNest bounds the nesting of blocks, IF bodies and parentheses.
const maxNest = 100

// statement reads one statement. Unless at the end, it consumes at least one token.
func (p *parser) statement() {
	if p.eof() {
		return
	}
	t := p.peek()
	if p.nest >= maxNest {
		p.next()
		p.problem(t.line, "statements nested more than %d deep are not imported", maxNest)
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
		p.next() // the database name
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
		p.next()
		p.skipCondition()
		p.withDiscard(fmt.Sprintf("it is in the WHILE loop at line %d, which Import does not evaluate", t.line), p.statement)
	case "GOTO":
		p.next()
		p.next() // the label
	case "RETURN", "BREAK", "CONTINUE", "PRINT", "RAISERROR", "THROW":
		// Messages and error exits: they create nothing.
		p.next()
		p.skipRest(false)
	case "EXEC", "EXECUTE":
		p.exec()
	case "END", "ELSE":
		p.next()
		p.problem(t.line, "%s without a matching %s: ignored", word, map[string]string{"END": "BEGIN", "ELSE": "IF"}[word])
	case "CREATE", "ALTER":
		p.next()
		obj := strings.ToUpper(p.peek().value)
		if obj == "OR" { // CREATE OR ALTER
			p.pos += 2
			obj = strings.ToUpper(p.peek().value)
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

// endBatch ends a batch at GO: variables go out of scope.
func (p *parser) endBatch(goTok token) {
	clear(p.vars)
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
	depth, cases := 0, 0
	for !p.eof() {
		t := p.peek()
		if depth == 0 && cases == 0 {
			if t.kind == kindGo || t.isPunct(";") || p.atLabel() {
				return
			}
			if isStatementWord(t) {
				if !dml || !(t.is("SELECT") || t.is("SET")) || p.peekAt(1).kind == kindVariable {
					return
				}
			}
		}
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			if depth > 0 {
				depth--
			}
		case t.is("CASE"):
			cases++
		case t.is("END") && cases > 0:
			cases--
		case t.kind == kindGo:
			return // a batch separator ends any statement
		}
		p.next()
	}
}

// skipCondition skips the condition of IF or WHILE: everything up to the statement word that
// starts the body, outside parentheses and CASE expressions.
func (p *parser) skipCondition() {
	depth, cases := 0, 0
	for !p.eof() {
		t := p.peek()
		if t.kind == kindGo {
			return
		}
		if depth == 0 && cases == 0 && isStatementWord(t) {
			return
		}
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			if depth > 0 {
				depth--
			}
		case t.is("CASE"):
			cases++
		case t.is("END") && cases > 0:
			cases--
		}
		p.next()
	}
}

// begin reads BEGIN TRANSACTION, or a BEGIN ... END, BEGIN TRY ... END TRY or
// BEGIN CATCH ... END CATCH block.
func (p *parser) begin() {
	t := p.next()
	switch {
	case p.peek().is("TRAN") || p.peek().is("TRANSACTION"):
		p.transactionTail()
		return
	case p.peek().is("DISTRIBUTED"):
		p.next()
		p.transactionTail()
		return
	case p.peek().is("TRY"):
		p.next()
		p.block("TRY")
	case p.peek().is("CATCH"):
		p.next()
		p.withDiscard(fmt.Sprintf("it is in the CATCH block at line %d, which runs only after an error", t.line), func() { p.block("CATCH") })
	default:
		p.block("")
	}
}

// block reads statements up to END (and the word after it, TRY or CATCH). A GO inside a block
// ends it: T-SQL does not allow one there, and the batch must end.
func (p *parser) block(kind string) {
	for !p.eof() && !p.peek().is("END") && p.peek().kind != kindGo {
		p.statement()
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

// ifStatement reads IF condition statement [ELSE statement]. The condition is not evaluated:
// the statement after it is read as if the condition held, which is what job scripts mean by
// IF NOT EXISTS (job or category) and what their error checks (IF @@ERROR <> 0 GOTO ...) leave
// alone. The ELSE branch is not imported.
func (p *parser) ifStatement() {
	t := p.next()
	p.skipCondition()
	p.frames = append(p.frames, &frame{line: t.line})
	p.statement()
	p.popFrame()
	for p.peek().isPunct(";") && p.peekAt(1).is("ELSE") {
		p.next()
	}
	if p.peek().is("ELSE") {
		e := p.next()
		p.withDiscard(fmt.Sprintf("it is in the ELSE branch at line %d, and Import reads only the IF branch", e.line), p.statement)
	}
}

func (p *parser) popFrame() {
	if len(p.frames) == 0 {
		return
	}
	f := p.frames[len(p.frames)-1]
	p.frames = p.frames[:len(p.frames)-1]
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
