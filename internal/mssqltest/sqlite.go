package mssqltest

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sqliteTimeLayout is how the fake stores times: text SQLite's date
// functions understand, keeping the client's UTC offset.
const sqliteTimeLayout = "2006-01-02 15:04:05.9999999-07:00"

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// zeroArgFuncs rewrites T-SQL functions without arguments to SQLite.
var zeroArgFuncs = map[string]func(s *session) string{
	"GETDATE":        func(*session) string { return "strftime('%Y-%m-%d %H:%M:%f','now','localtime')" },
	"SYSDATETIME":    func(*session) string { return "strftime('%Y-%m-%d %H:%M:%f','now','localtime')" },
	"GETUTCDATE":     func(*session) string { return "strftime('%Y-%m-%d %H:%M:%f','now')" },
	"SYSUTCDATETIME": func(*session) string { return "strftime('%Y-%m-%d %H:%M:%f','now')" },
	"DB_NAME":        func(s *session) string { return sqlQuote(s.database) },
	"SUSER_SNAME":    func(s *session) string { return sqlQuote(s.user) },
	"SUSER_NAME":     func(s *session) string { return sqlQuote(s.user) },
	"ORIGINAL_LOGIN": func(s *session) string { return sqlQuote(s.user) },
	"HOST_NAME":      func(*session) string { return "'localhost'" },
	"NEWID":          func(*session) string { return newidSQL },
	"SCOPE_IDENTITY": func(*session) string { return "last_insert_rowid()" },
}

const newidSQL = "(SELECT upper(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-'||substr(h,17,4)||'-'||substr(h,21,12)) FROM (SELECT hex(randomblob(16)) AS h))"

// renamedFuncs are T-SQL functions SQLite has under another name.
var renamedFuncs = map[string]string{"ISNULL": "ifnull", "LEN": "length", "SUBSTRING": "substr"}

// global returns the SQLite text for @@name.
func (s *session) global(name string) (string, bool) {
	switch strings.ToUpper(name) {
	case "@@VERSION":
		return sqlQuote(s.srv.Version()), true
	case "@@SERVERNAME":
		return sqlQuote(s.srv.cfg.ServerName), true
	case "@@SERVICENAME":
		return "'MSSQLSERVER'", true
	case "@@SPID":
		return strconv.Itoa(int(s.spid)), true
	case "@@TRANCOUNT":
		return strconv.Itoa(s.trancount), true
	case "@@ROWCOUNT":
		return strconv.FormatInt(s.rowcount, 10), true
	case "@@ERROR":
		return "0", true
	case "@@IDENTITY":
		return "last_insert_rowid()", true
	case "@@LANGUAGE":
		return "'us_english'", true
	}
	return "", false
}

func nextSig(toks []token, i int) int {
	for i < len(toks) && (toks[i].kind == tkSpace || toks[i].kind == tkComment) {
		i++
	}
	return i
}

// rewrite turns a T-SQL statement into SQLite text and its arguments:
// N'..' strings lose the N, 0x.. becomes X'..', @@globals and a few
// functions become literals or SQLite expressions, db.schema.object and
// dbo.object names lose their prefixes (all databases share one SQLite
// store), TYPE(MAX) becomes TYPE, SELECT TOP n becomes LIMIT n, and each
// @variable is bound from params or reported as undeclared (137).
func (s *session) rewrite(toks []token, params map[string]any) (string, []any, error) {
	var b strings.Builder
	var args []any
	bound := map[string]bool{}
	limit := ""
	toks = s.stripTop(toks, &limit)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tkString:
			if t.text[0] != '\'' {
				b.WriteString(t.text[1:])
				continue
			}
		case tkNumber:
			if len(t.text) > 1 && (t.text[1] == 'x' || t.text[1] == 'X') {
				h := t.text[2:]
				if len(h)%2 == 1 {
					h = "0" + h
				}
				b.WriteString("X'" + h + "'")
				continue
			}
		case tkGlobal:
			g, ok := s.global(t.text)
			if !ok {
				return "", nil, sqlErrorf(ErrNumUndeclaredVar, "Must declare the scalar variable \"%s\".", t.text)
			}
			b.WriteString(g)
			continue
		case tkVar:
			name := strings.ToLower(t.text[1:])
			v, ok := params[name]
			if !ok {
				return "", nil, sqlErrorf(ErrNumUndeclaredVar, "Must declare the scalar variable \"%s\".", t.text)
			}
			b.WriteString("@" + name)
			if tm, ok := v.(time.Time); ok {
				v = tm.Format(sqliteTimeLayout)
			}
			if !bound[name] {
				bound[name] = true
				args = append(args, sql.Named(name, v))
			}
			continue
		case tkWord, tkQuoted:
			if n, text := s.rewriteName(toks, i); n > 0 {
				b.WriteString(text)
				i += n - 1
				continue
			}
		}
		b.WriteString(t.text)
	}
	b.WriteString(limit)
	return b.String(), args, nil
}

// rewriteName handles the token at i when it starts a multi-part name, a
// function call or a TYPE(MAX); it returns how many tokens it consumed.
func (s *session) rewriteName(toks []token, i int) (int, string) {
	t := toks[i]
	u := t.upper()
	if t.kind == tkWord {
		p := nextSig(toks, i+1)
		if p < len(toks) && toks[p].isPunct("(") {
			if f := zeroArgFuncs[u]; f != nil {
				if q := nextSig(toks, p+1); q < len(toks) && toks[q].isPunct(")") {
					return q - i + 1, f(s)
				}
			}
			if r, ok := renamedFuncs[u]; ok {
				return 1, r
			}
			if u == "NVARCHAR" || u == "VARCHAR" || u == "VARBINARY" {
				if m := nextSig(toks, p+1); m < len(toks) && toks[m].is("MAX") {
					if q := nextSig(toks, m+1); q < len(toks) && toks[q].isPunct(")") {
						return q - i + 1, t.text
					}
				}
			}
			if u == "SERVERPROPERTY" {
				if a := nextSig(toks, p+1); a < len(toks) && toks[a].kind == tkString {
					if q := nextSig(toks, a+1); q < len(toks) && toks[q].isPunct(")") {
						return q - i + 1, s.serverProperty(toks[a].stringValue())
					}
				}
			}
		}
	}
	// Multi-part names: parts joined by dots with nothing in between.
	parts := []token{t}
	j := i + 1
	for j < len(toks) && toks[j].isPunct(".") {
		if j+1 < len(toks) && toks[j+1].isPunct(".") {
			parts = append(parts, token{})
			j++
			continue
		}
		if j+1 < len(toks) && (toks[j+1].kind == tkWord || toks[j+1].kind == tkQuoted) {
			parts = append(parts, toks[j+1])
			j += 2
			continue
		}
		break
	}
	switch {
	case len(parts) == 3:
		return j - i, parts[2].text
	case len(parts) == 2 && (strings.EqualFold(parts[0].ident(), "dbo") || strings.EqualFold(parts[0].ident(), "sys")):
		return j - i, parts[1].text
	}
	return 0, ""
}

func (s *session) serverProperty(name string) string {
	switch strings.ToLower(name) {
	case "servername", "machinename":
		return sqlQuote(s.srv.cfg.ServerName)
	case "productversion":
		return "'16.0.0.0'"
	case "edition":
		return "'msx fake TDS server (SQLite)'"
	case "engineedition":
		return "0"
	}
	return "NULL"
}

// stripTop removes "TOP n" / "TOP (n)" after a leading SELECT [DISTINCT]
// and sets limit to the equivalent " LIMIT n".
func (s *session) stripTop(toks []token, limit *string) []token {
	i := nextSig(toks, 0)
	if i >= len(toks) || !toks[i].is("SELECT") {
		return toks
	}
	j := nextSig(toks, i+1)
	if j < len(toks) && toks[j].is("DISTINCT") {
		j = nextSig(toks, j+1)
	}
	if j >= len(toks) || !toks[j].is("TOP") {
		return toks
	}
	k := nextSig(toks, j+1)
	var n []token
	switch {
	case k < len(toks) && (toks[k].kind == tkNumber || toks[k].kind == tkVar):
		n, k = toks[k:k+1], k+1
	case k < len(toks) && toks[k].isPunct("("):
		e := k + 1
		for e < len(toks) && !toks[e].isPunct(")") {
			e++
		}
		if e == len(toks) {
			return toks
		}
		n, k = toks[k+1:e], e+1
	default:
		return toks
	}
	out := append(append([]token{}, toks[:j]...), toks[k:]...)
	for len(out) > 0 && (out[len(out)-1].kind == tkSpace || out[len(out)-1].kind == tkComment) {
		out = out[:len(out)-1]
	}
	var lb strings.Builder
	lb.WriteString(" LIMIT ")
	for _, t := range n {
		lb.WriteString(t.text)
	}
	// The limit text goes through rewrite as its own tokens so that a
	// variable in it is bound.
	return append(out, lex(lb.String())...)
}

// query runs a statement that returns rows and streams them as a result
// set. Column types come from the declared SQLite types; columns without one
// (expressions) take the type of the first rows' values.
func (s *session) query(ctx context.Context, rep *reply, text string, args []any, doneTok byte) error {
	rows, err := s.conn.QueryContext(ctx, text, args...)
	if err != nil {
		return s.sqliteError(ctx, err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return s.sqliteError(ctx, err)
	}
	cols := make([]column, len(cts))
	known := make([]bool, len(cts))
	unknown := 0
	for i, ct := range cts {
		cols[i].name = columnName(ct.Name())
		cols[i].typ, known[i] = typeFromDecl(ct.DatabaseTypeName())
		if !known[i] {
			unknown++
		}
	}
	scan := func() ([]any, error) {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, rows.Scan(ptrs...)
	}
	const inferRows = 64
	var buf [][]any
	for unknown > 0 && len(buf) < inferRows && rows.Next() {
		vals, err := scan()
		if err != nil {
			return s.sqliteError(ctx, err)
		}
		buf = append(buf, vals)
	}
	for i := range cols {
		if !known[i] {
			cols[i].typ = inferType(buf, i)
		}
	}
	rep.colMetadata(cols)
	var n uint64
	out := make([]any, len(cols))
	emit := func(vals []any) error {
		for i, v := range vals {
			c, err := convert(cols[i].typ, v)
			if err != nil {
				return err
			}
			out[i] = c
		}
		rep.row(cols, out)
		n++
		return rep.w.err
	}
	for _, vals := range buf {
		if err := emit(vals); err != nil {
			return err
		}
	}
	for rows.Next() {
		vals, err := scan()
		if err != nil {
			return s.sqliteError(ctx, err)
		}
		if err := emit(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.sqliteError(ctx, err)
	}
	s.rowcount = int64(n)
	var status uint16
	if !s.nocount {
		status = doneCount
	}
	rep.done(doneTok, status, cmdSelect, n)
	return nil
}

// columnName blanks SQLite's names for unnamed expressions, as SQL Server
// sends no name for them.
func columnName(n string) string {
	if n == "" || strings.ContainsAny(n, "('") || n[0] >= '0' && n[0] <= '9' {
		return ""
	}
	return n
}

func inferType(buf [][]any, i int) colType {
	var t colType
	seen := false
	for _, r := range buf {
		vt, ok := typeFromValue(r[i])
		switch {
		case !ok:
		case !seen:
			t, seen = vt, true
		case t != vt && (t == typBigInt && vt == typFloat || t == typFloat && vt == typBigInt):
			t = typFloat
		case t != vt:
			return typNVarChar
		}
	}
	if !seen {
		return typNVarChar
	}
	return t
}

var (
	reNear   = regexp.MustCompile(`near "([^"]*)": syntax error`)
	reRCTail = regexp.MustCompile(`\s*\(\d+\)$`)
)

// sqliteError maps a SQLite error to the SQL Server error a client would
// see for the same problem. After an ATTENTION it returns the cancel cause.
func (s *session) sqliteError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	msg := reRCTail.ReplaceAllString(err.Error(), "")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "SQL logic error") || strings.HasPrefix(msg, "constraint failed") {
		msg = msg[i+2:]
	}
	after := func(prefix string) (string, bool) {
		if i := strings.Index(msg, prefix); i >= 0 {
			return strings.TrimSpace(msg[i+len(prefix):]), true
		}
		return "", false
	}
	if name, ok := after("no such table:"); ok {
		return sqlErrorf(ErrNumInvalidObject, "Invalid object name '%s'.", name)
	}
	if name, ok := after("no such column:"); ok {
		return sqlErrorf(ErrNumInvalidColumn, "Invalid column name '%s'.", name)
	}
	if name, ok := after("no such function:"); ok {
		return sqlErrorf(195, "'%s' is not a recognized built-in function name.", name)
	}
	if col, ok := after("UNIQUE constraint failed:"); ok {
		table, _, _ := strings.Cut(col, ".")
		return sqlErrorf(ErrNumDuplicateKey, "Violation of UNIQUE KEY constraint on %s. Cannot insert duplicate key in object 'dbo.%s'.", col, table)
	}
	if col, ok := after("NOT NULL constraint failed:"); ok {
		table, c, _ := strings.Cut(col, ".")
		return sqlErrorf(ErrNumNotNull, "Cannot insert the value NULL into column '%s', table '%s'; column does not allow nulls. INSERT fails.", c, table)
	}
	if strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "CHECK constraint failed") {
		return sqlErrorf(ErrNumConstraint, "The statement conflicted with a constraint (SQLite: %s).", msg)
	}
	if m := reNear.FindStringSubmatch(msg); m != nil {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax near '%s'.", m[1])
	}
	if strings.Contains(msg, "syntax error") || strings.Contains(msg, "unrecognized token") || strings.Contains(msg, "incomplete input") {
		return sqlErrorf(ErrNumSyntax, "Incorrect syntax (SQLite: %s).", msg)
	}
	if _, ok := after("already exists"); ok {
		name := strings.TrimSuffix(msg, " already exists")
		if f := strings.Fields(name); len(f) > 0 {
			name = f[len(f)-1]
		}
		return sqlErrorf(ErrNumObjectExists, "There is already an object named '%s' in the database.", name)
	}
	return sqlErrorf(ErrNumUserDefined, "SQLite: %s", msg)
}
