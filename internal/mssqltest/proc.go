package mssqltest

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// procDef is a stored procedure the fake implements in Go. params lists
// the parameter names (lower case, without @) in declaration order, which
// positional arguments bind to.
type procDef struct {
	params []string
	fn     func(c *procCall) (int32, error)
}

// procCall is one execution of a procedure.
type procCall struct {
	s    *session
	ctx  context.Context
	rep  *reply
	name string
	args map[string]any
	outs map[string]any
}

// procKey reduces [msdb].[dbo].[sp_x] to sp_x.
func procKey(name string) string {
	var last string
	for _, t := range lex(name) {
		if t.kind == tkWord || t.kind == tkQuoted {
			last = t.ident()
		}
	}
	return strings.ToLower(last)
}

// callProc runs a procedure called by RPC (fromBatch false) or by EXEC in
// a batch, and ends it with RETURNSTATUS, RETURNVALUEs (RPC only) and
// DONEPROC. An error inside the procedure is reported here, with return
// status 1, and errReported comes back so the batch stops.
func (s *session) callProc(ctx context.Context, rep *reply, name string, params []rpcParam, fromBatch bool) error {
	key := procKey(name)
	if key == "sp_executesql" {
		return s.executeSQL(ctx, rep, params)
	}
	def, ok := procs[key]
	if !ok {
		return sqlErrorf(ErrNumProcMissing, "Could not find stored procedure '%s'.", name)
	}
	c := &procCall{s: s, ctx: ctx, rep: rep, name: key, args: map[string]any{}, outs: map[string]any{}}
	names := make([]string, len(params))
	for i, p := range params {
		n := strings.ToLower(strings.TrimPrefix(p.name, "@"))
		if n == "" {
			if i >= len(def.params) {
				return sqlErrorf(8144, "Procedure or function %s has too many arguments specified.", key)
			}
			n = def.params[i]
		}
		if !contains(def.params, n) {
			return sqlErrorf(ErrNumNotAParameter, "@%s is not a parameter for procedure %s.", n, key)
		}
		names[i] = n
		c.args[n] = p.value
	}
	var status int32
	err := s.atomically(ctx, func() error {
		var err error
		status, err = def.fn(c)
		return err
	})
	var se *sqlError
	switch {
	case errors.As(err, &se):
		se.Proc = key
		rep.message(tokError, se.Number, se.State, se.Class, se.Msg, s.srv.cfg.ServerName, key, 1)
		status = 1
	case err != nil:
		return err
	}
	rep.returnStatus(status)
	if !fromBatch {
		for i, p := range params {
			if !p.output {
				continue
			}
			v, ok := c.outs[names[i]]
			if !ok {
				v = p.value
			}
			typ := outputType(p)
			cv, cerr := convert(typ, v)
			if cerr != nil {
				cv = nil
			}
			rep.returnValue(uint16(i+1), "@"+names[i], typ, cv)
		}
	}
	if se != nil {
		rep.done(tokDoneProc, doneError, cmdOther, 0)
		return errReported
	}
	rep.done(tokDoneProc, 0, cmdOther, 0)
	return nil
}

// executeSQL implements sp_executesql: @stmt, @params (the declarations,
// which the fake does not need) and the named values.
func (s *session) executeSQL(ctx context.Context, rep *reply, params []rpcParam) error {
	if len(params) == 0 {
		return sqlErrorf(ErrNumMissingParameter, "Procedure or function 'sp_executesql' expects parameter '@stmt', which was not supplied.")
	}
	stmt, ok := params[0].value.(string)
	if !ok {
		return sqlErrorf(214, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.")
	}
	vals := map[string]any{}
	for _, p := range params[min(2, len(params)):] {
		vals[strings.ToLower(strings.TrimPrefix(p.name, "@"))] = p.value
	}
	err := s.execBatch(ctx, rep, stmt, vals, tokDoneInProc)
	var se *sqlError
	switch {
	case errors.As(err, &se):
		rep.message(tokError, se.Number, se.State, se.Class, se.Msg, s.srv.cfg.ServerName, se.Proc, 1)
		rep.returnStatus(1)
		rep.done(tokDoneProc, doneError, cmdOther, 0)
		return errReported
	case err != nil:
		return err
	}
	rep.returnStatus(0)
	rep.done(tokDoneProc, 0, cmdOther, 0)
	return nil
}

// atomically runs fn in a transaction, or in a savepoint inside the
// session's open transaction, so a failed procedure leaves nothing behind.
func (s *session) atomically(ctx context.Context, fn func() error) error {
	begin, commit, rollback := "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
	if s.trancount > 0 {
		begin, commit, rollback = "SAVEPOINT msx_proc", "RELEASE msx_proc", "ROLLBACK TO msx_proc; RELEASE msx_proc"
	}
	if _, err := s.conn.ExecContext(ctx, begin); err != nil {
		return s.sqliteError(ctx, err)
	}
	if err := fn(); err != nil {
		s.conn.ExecContext(context.WithoutCancel(ctx), rollback)
		return err
	}
	if _, err := s.conn.ExecContext(context.WithoutCancel(ctx), commit); err != nil {
		s.conn.ExecContext(context.WithoutCancel(ctx), rollback)
		return s.sqliteError(ctx, err)
	}
	return nil
}

// execProcStatement implements EXEC in a batch: EXEC proc [@p =] value
// [OUTPUT], ... and EXEC ('dynamic sql').
func (s *session) execProcStatement(ctx context.Context, rep *reply, args []token, params map[string]any) error {
	if len(args) == 0 {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near 'EXEC'.")
	}
	if args[0].isPunct("(") {
		vals, err := s.eval(ctx, [][]token{args}, params)
		if err != nil {
			return err
		}
		return s.execBatch(ctx, rep, formatValue(vals[0]), params, tokDone)
	}
	if args[0].kind == tkVar {
		return unsupported("EXEC @status = procedure (local variables)")
	}
	i := 0
	var name strings.Builder
	for i < len(args) && (args[i].kind == tkWord || args[i].kind == tkQuoted || args[i].isPunct(".")) {
		if i > 0 && args[i].kind != tkPunct && !args[i-1].isPunct(".") {
			break
		}
		name.WriteString(args[i].text)
		i++
	}
	var rps []rpcParam
	var exprs [][]token
	var slots []int
	for _, a := range splitArgs(args[i:]) {
		var p rpcParam
		if len(a) >= 2 && a[0].kind == tkVar && a[1].isPunct("=") {
			p.name, a = a[0].text, a[2:]
		}
		if n := len(a); n > 0 && (a[n-1].is("OUTPUT") || a[n-1].is("OUT")) {
			p.output, a = true, a[:n-1]
		}
		switch {
		case len(a) == 0:
			return sqlErrorf(ErrNumSyntax, "Incorrect syntax near ','.")
		case len(a) == 1 && a[0].is("DEFAULT"):
			continue
		case len(a) == 1 && a[0].kind == tkWord && !a[0].is("NULL"):
			p.value = a[0].text // T-SQL lets a bare word stand for a string
		default:
			exprs = append(exprs, a)
			slots = append(slots, len(rps))
		}
		rps = append(rps, p)
	}
	if len(exprs) > 0 {
		vals, err := s.eval(ctx, exprs, params)
		if err != nil {
			return err
		}
		for k, v := range vals {
			rps[slots[k]].value = v
		}
	}
	return s.callProc(ctx, rep, name.String(), rps, true)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// has reports whether the caller passed a non-NULL value for name.
func (c *procCall) has(name string) bool { return c.args[name] != nil }

func (c *procCall) str(name, def string) string {
	if v := c.args[name]; v != nil {
		return formatValue(v)
	}
	return def
}

func (c *procCall) int(name string, def int64) (int64, error) {
	v := c.args[name]
	if v == nil {
		return def, nil
	}
	n, err := convert(typBigInt, v)
	if err != nil {
		return 0, sqlErrorf(8114, "Error converting data type nvarchar to int (parameter @%s).", name)
	}
	return n.(int64), nil
}

// ints reads several integer parameters with their defaults.
func (c *procCall) ints(defs map[string]int64) (map[string]int64, error) {
	out := make(map[string]int64, len(defs))
	for n, d := range defs {
		v, err := c.int(n, d)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

func (c *procCall) exec(q string, args ...any) (sql.Result, error) {
	r, err := c.s.conn.ExecContext(c.ctx, q, args...)
	if err != nil {
		return nil, c.s.sqliteError(c.ctx, err)
	}
	return r, nil
}

// scalar runs a one-value query; found is false when there is no row.
func (c *procCall) scalar(dest any, q string, args ...any) (found bool, err error) {
	err = c.s.conn.QueryRowContext(c.ctx, q, args...).Scan(dest)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, c.s.sqliteError(c.ctx, err)
	}
	return true, nil
}

// lookup scans into dest the value q finds for value (its one argument), or returns that
// @param does not exist when q finds no row.
func (c *procCall) lookup(dest any, param, value, q string) error {
	found, err := c.scalar(dest, q, value)
	if err == nil && !found {
		err = notExist(param, value)
	}
	return err
}

// resultSet sends the rows of q as a result set of the procedure.
func (c *procCall) resultSet(q string, args ...any) error {
	return c.s.query(c.ctx, c.rep, q, args, tokDoneInProc)
}

func (c *procCall) info(msg string) {
	c.rep.message(tokInfo, 0, stateDefault, severityInformational, msg, c.s.srv.cfg.ServerName, c.name, 1)
}

func notExist(param, value string) *sqlError {
	return sqlErrorf(ErrNumDoesNotExist, "The specified @%s ('%s') does not exist.", param, value)
}

func invalidValue(param, valid string) *sqlError {
	return sqlErrorf(ErrNumInvalidValueList, "The specified '@%s' is invalid (valid values are: %s).", param, valid)
}
