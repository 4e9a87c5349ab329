package mssqltest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errReported means an ERROR token was already written (by a procedure)
// and the batch stops.
var errReported = errors.New("mssqltest: error already reported")

// execBatch runs the statements of a batch in order. Statement DONE tokens
// are doneTok: DONE for a batch, DONEINPROC inside sp_executesql. The first
// error stops the batch; the fake does not continue after statement-level
// errors as SQL Server sometimes does.
func (s *session) execBatch(ctx context.Context, rep *reply, text string, params map[string]any, doneTok byte) error {
	for _, st := range splitStatements(lex(text)) {
		if err := s.execStatement(ctx, rep, st, params, doneTok); err != nil {
			return err
		}
	}
	return nil
}

// writeError writes err as an ERROR token followed by a DONE with the error
// bit, as SQL Server ends a failed statement.
func (s *session) writeError(rep *reply, e *sqlError, doneTok byte) {
	rep.message(tokError, e.Number, e.State, e.Class, e.Msg, s.srv.cfg.ServerName, e.Proc, 1)
	rep.done(doneTok, doneError, cmdOther, 0)
}

func (s *session) info(rep *reply, number int32, class uint8, msg string) {
	rep.message(tokInfo, number, stateDefault, class, msg, s.srv.cfg.ServerName, "", 1)
}

func (s *session) execStatement(ctx context.Context, rep *reply, st []token, params map[string]any, doneTok byte) error {
	sig := significant(st)
	if len(sig) == 0 {
		return nil
	}
	args := sig[1:]
	switch kw := sig[0].upper(); kw {
	case "PRINT":
		vals, err := s.eval(ctx, [][]token{args}, params)
		if err != nil {
			return err
		}
		s.info(rep, 0, severityInformational, formatValue(vals[0]))
		return nil
	case "RAISERROR":
		return s.raiserror(ctx, rep, args, params)
	case "THROW":
		return s.throw(ctx, args, params)
	case "WAITFOR":
		return s.waitfor(ctx, args)
	case "USE":
		if len(args) != 1 {
			return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'USE'.")
		}
		return s.use(rep, args[0].ident())
	case "BEGIN":
		if len(args) > 0 && (args[0].is("TRAN") || args[0].is("TRANSACTION")) {
			return s.beginTran(ctx, rep)
		}
		return unsupported("BEGIN ... END blocks and other control-of-flow language")
	case "COMMIT":
		return s.commitTran(rep)
	case "ROLLBACK":
		if len(args) > 1 || len(args) == 1 && !args[0].is("TRAN") && !args[0].is("TRANSACTION") && !args[0].is("WORK") {
			return unsupported("ROLLBACK to a savepoint")
		}
		return s.rollbackTran(rep)
	case "SET":
		return s.set(args)
	case "EXEC", "EXECUTE":
		return s.execProcStatement(ctx, rep, args, params)
	case "DECLARE":
		return unsupported("DECLARE and local variables")
	case "SAVE":
		return unsupported("SAVE TRANSACTION")
	case "IF", "WHILE", "END", "TRY", "GOTO", "RETURN":
		return unsupported("control-of-flow language (" + kw + ")")
	case "SAVEPOINT", "RELEASE", "ATTACH", "DETACH", "VACUUM":
		return unsupported("the SQLite statement " + kw)
	}
	return s.execSQL(ctx, rep, st, params, doneTok)
}

// eval evaluates T-SQL expressions by letting SQLite run SELECT over them.
func (s *session) eval(ctx context.Context, exprs [][]token, params map[string]any) ([]any, error) {
	var sel []token
	sel = append(sel, token{kind: tkWord, text: "SELECT"}, token{kind: tkSpace, text: " "})
	for i, e := range exprs {
		if len(e) == 0 {
			return nil, sqlErrorf(ErrNumSyntax, "Incorrect syntax: an expression is missing.")
		}
		if i > 0 {
			sel = append(sel, token{kind: tkPunct, text: ","})
		}
		sel = append(sel, token{kind: tkPunct, text: "("})
		sel = append(sel, e...)
		sel = append(sel, token{kind: tkPunct, text: ")"})
	}
	text, args, err := s.rewrite(sel, params)
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(exprs))
	ptrs := make([]any, len(exprs))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := s.conn.QueryRowContext(ctx, text, args...).Scan(ptrs...); err != nil {
		return nil, s.sqliteError(ctx, err)
	}
	return vals, nil
}

// splitArgs splits tokens on commas outside parentheses.
func splitArgs(toks []token) [][]token {
	var out [][]token
	var cur []token
	depth := 0
	for _, t := range toks {
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			depth--
		case t.isPunct(",") && depth == 0:
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	if len(cur) > 0 || len(out) > 0 {
		out = append(out, cur)
	}
	return out
}

// raiserror implements RAISERROR(msg, severity, state [, args]) [WITH ...].
// Severity 10 or less is an informational message and the batch goes on.
func (s *session) raiserror(ctx context.Context, rep *reply, args []token, params map[string]any) error {
	if len(args) < 2 || !args[0].isPunct("(") {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'RAISERROR'.")
	}
	depth, end := 0, -1
	for i, t := range args {
		if t.isPunct("(") {
			depth++
		} else if t.isPunct(")") {
			if depth--; depth == 0 {
				end = i
				break
			}
		}
	}
	if end < 0 {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'RAISERROR'.")
	}
	exprs := splitArgs(args[1:end])
	if len(exprs) < 3 {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'RAISERROR'.")
	}
	vals, err := s.eval(ctx, exprs, params)
	if err != nil {
		return err
	}
	sev, err1 := convert(typInt, vals[1])
	state, err2 := convert(typInt, vals[2])
	if err1 != nil || err2 != nil || sev == nil || state == nil {
		return sqlErrorf(ErrNumSyntax, "RAISERROR severity and state must be integers.")
	}
	e := &sqlError{Number: ErrNumUserDefined, State: uint8(clamp(state.(int64), 0, 255)), Class: uint8(clamp(sev.(int64), 0, 25))}
	switch m := vals[0].(type) {
	case int64:
		e.Msg = fmt.Sprintf("Error %d, severity %d, state %d was raised, but no message with that error number was found in sys.messages. If error is larger than 50000, make sure the user-defined message is added using sp_addmessage.", m, e.Class, e.State)
		e.Number = ErrNumMessageNotFound
	default:
		e.Msg = sqlPrintf(formatValue(m), vals[3:])
	}
	if e.Class <= 10 {
		rep.message(tokInfo, e.Number, e.State, e.Class, e.Msg, s.srv.cfg.ServerName, "", 1)
		return nil
	}
	return e
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// sqlPrintf formats a RAISERROR message: %d %i %u %s %x %X %o with flags,
// width and precision; '*' width or precision is not supported.
func sqlPrintf(format string, args []any) string {
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+0 #.0123456789", format[j]) >= 0 {
			j++
		}
		for j < len(format) && strings.IndexByte("hlI64", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			b.WriteString(format[i:])
			break
		}
		spec, conv := format[i+1:j], format[j]
		spec = strings.TrimRight(spec, "hlI64")
		i = j
		if conv == '%' {
			b.WriteByte('%')
			continue
		}
		var arg any = "(null)"
		if next < len(args) && args[next] != nil {
			arg = args[next]
		}
		next++
		switch conv {
		case 'd', 'i', 'u':
			if n, err := convert(typBigInt, arg); err == nil && n != nil {
				arg = n
			}
			fmt.Fprintf(&b, "%"+spec+"d", arg)
		case 'x', 'X', 'o':
			if n, err := convert(typBigInt, arg); err == nil && n != nil {
				arg = n
			}
			fmt.Fprintf(&b, "%"+spec+string(conv), arg)
		case 's':
			fmt.Fprintf(&b, "%"+spec+"s", formatValue(arg))
		default:
			b.WriteString(format[i-len(spec)-1 : i+1])
		}
	}
	return b.String()
}

// throw implements THROW number, message, state (class 16, ends the batch).
func (s *session) throw(ctx context.Context, args []token, params map[string]any) error {
	exprs := splitArgs(args)
	if len(exprs) != 3 {
		return unsupported("THROW without arguments (there are no CATCH blocks)")
	}
	vals, err := s.eval(ctx, exprs, params)
	if err != nil {
		return err
	}
	num, err1 := convert(typInt, vals[0])
	state, err2 := convert(typInt, vals[2])
	if err1 != nil || err2 != nil || num == nil || state == nil {
		return sqlErrorf(ErrNumSyntax, "THROW number and state must be integers.")
	}
	if n := num.(int64); n < 50000 {
		return sqlErrorf(35100, "Error number %d in the THROW statement is outside the valid range. Specify an error number in the valid range of 50000 to 2147483647.", n)
	}
	return &sqlError{Number: int32(num.(int64)), State: uint8(clamp(state.(int64), 0, 255)), Class: severityUserError, Msg: formatValue(vals[1])}
}

// waitfor implements WAITFOR DELAY 'hh:mm[:ss[.fff]]'. An ATTENTION from
// the client cancels ctx and ends the wait.
func (s *session) waitfor(ctx context.Context, args []token) error {
	if len(args) != 2 || !args[0].is("DELAY") || args[1].kind != tkString {
		return unsupported("WAITFOR other than WAITFOR DELAY 'hh:mm:ss'")
	}
	d, ok := parseDelay(args[1].stringValue())
	if !ok {
		return sqlErrorf(148, "Incorrect time syntax in time string '%s' used with WAITFOR.", args[1].stringValue())
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func parseDelay(s string) (time.Duration, bool) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	var d time.Duration
	units := []time.Duration{time.Hour, time.Minute, time.Second}
	for i, p := range parts {
		if i == 2 {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f >= 60 {
				return 0, false
			}
			d += time.Duration(f * float64(time.Second))
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || i == 0 && n > 23 || i == 1 && n > 59 {
			return 0, false
		}
		d += time.Duration(n) * units[i]
	}
	return d, true
}

// use implements USE db: databases are names only; every one shares the
// single SQLite store.
func (s *session) use(rep *reply, name string) error {
	db, ok := s.srv.database(name)
	if !ok {
		return sqlErrorf(ErrNumDatabaseMissing, "Database '%s' does not exist. Make sure that the name is entered correctly.", name)
	}
	old := s.database
	s.database = db
	rep.envChange(envDatabase, db, old)
	s.info(rep, 5701, severityInformational, fmt.Sprintf("Changed database context to '%s'.", db))
	return nil
}

// set accepts SET options and ignores all but NOCOUNT.
func (s *session) set(args []token) error {
	if len(args) == 0 {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'SET'.")
	}
	if args[0].kind == tkVar {
		return unsupported("SET @variable (local variables)")
	}
	if args[0].is("NOCOUNT") && len(args) == 2 {
		s.nocount = args[1].is("ON")
	}
	return nil
}

// execSQL passes a statement to SQLite after rewriting.
func (s *session) execSQL(ctx context.Context, rep *reply, st []token, params map[string]any, doneTok byte) error {
	text, args, err := s.rewrite(st, params)
	if err != nil {
		return err
	}
	if returnsRows(st) {
		return s.query(ctx, rep, text, args, doneTok)
	}
	res, err := s.conn.ExecContext(ctx, text, args...)
	if err != nil {
		return s.sqliteError(ctx, err)
	}
	n, _ := res.RowsAffected()
	s.rowcount = n
	var status uint16
	if !s.nocount {
		status = doneCount
	}
	rep.done(doneTok, status, cmdOther, uint64(n))
	return nil
}

// returnsRows tells SELECT-like statements from the others.
func returnsRows(st []token) bool {
	sig := significant(st)
	switch sig[0].upper() {
	case "SELECT", "VALUES", "PRAGMA", "EXPLAIN":
		return true
	case "WITH":
		for _, t := range sig {
			if t.is("INSERT") || t.is("UPDATE") || t.is("DELETE") || t.is("REPLACE") {
				return false
			}
		}
		return true
	}
	for _, t := range sig {
		if t.is("RETURNING") {
			return true
		}
	}
	return false
}
