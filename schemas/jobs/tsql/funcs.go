package tsql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function reads the arguments of a function call (p.pos at its parenthesis) and evaluates it.
// Functions Import does not know, and those of a schema (dbo.fn), give an unknown value.
func (p *parser) function(parts []string, line int) value {
	name := strings.ToUpper(parts[len(parts)-1])
	if !p.enter() {
		return unknown("the expression at line %d is nested too deeply", line)
	}
	defer p.leave()
	p.next() // (
	if len(parts) == 1 {
		switch name {
		case "CAST", "TRY_CAST":
			return p.cast(name, line)
		case "CONVERT", "TRY_CONVERT":
			return p.convertCall(name, line)
		case "COUNT", "MAX", "MIN", "SUM":
			return p.aggregate(name, line)
		}
	}
	var args []value
	if !p.peek().isPunct(")") {
		args = p.exprList()
	}
	if !p.peek().isPunct(")") {
		p.efail = true
		return unknown("the call of %s at line %d cannot be read", name, line)
	}
	p.next()
	if len(parts) > 1 {
		return unknown("%s() at line %d is a function of a database, which Import does not run", strings.Join(parts, "."), line)
	}
	return p.builtin(name, args, line)
}

// systemDatabases are the databases of the declared server, by database_id - 1.
var systemDatabases = []string{"master", "tempdb", "model", "msdb"}

// builtinArity gives the number of arguments of the functions builtin evaluates: min, max.
var builtinArity = map[string][2]int{
	"CHAR": {1, 1}, "NCHAR": {1, 1}, "REPLACE": {3, 3}, "ISNULL": {2, 2}, "COALESCE": {1, 64}, "LEN": {1, 1},
	"DATALENGTH": {1, 1}, "LEFT": {2, 2}, "RIGHT": {2, 2}, "SUBSTRING": {3, 3}, "UPPER": {1, 1}, "LOWER": {1, 1},
	"LTRIM": {1, 1}, "RTRIM": {1, 1}, "TRIM": {1, 1}, "QUOTENAME": {1, 2}, "CHARINDEX": {2, 3}, "REVERSE": {1, 1},
	"REPLICATE": {2, 2}, "SPACE": {1, 1}, "CONCAT": {2, 64}, "NULLIF": {2, 2}, "IIF": {3, 3}, "ABS": {1, 1},
	"SERVERPROPERTY": {1, 1}, "DB_NAME": {0, 1}, "DB_ID": {0, 1}, "SUSER_SNAME": {0, 1}, "SUSER_NAME": {0, 1},
	"IS_SRVROLEMEMBER": {1, 2}, "OBJECT_ID": {1, 2}, "ASCII": {1, 1}, "UNICODE": {1, 1}, "STR": {1, 3},
}

// builtin evaluates a system function on its evaluated arguments.
func (p *parser) builtin(name string, args []value, line int) value {
	ar, ok := builtinArity[name]
	if !ok {
		return unknown("%s() at line %d is a function Import does not evaluate", name, line)
	}
	if len(args) < ar[0] || len(args) > ar[1] {
		return unknown("%s() at line %d has %d arguments, and it takes %d to %d (SQL Server error 174)", name, line, len(args), ar[0], ar[1])
	}
	// Functions that look at NULL and unknown arguments themselves.
	switch name {
	case "ISNULL", "COALESCE":
		for _, a := range args {
			if a.kind != valNull {
				return a
			}
		}
		return value{kind: valNull}
	case "IIF":
		switch c := args[0]; {
		case c.kind == valUnknown:
			return c
		case isTrue(c):
			return args[1]
		}
		return args[2]
	case "CONCAT":
		var b strings.Builder
		for _, a := range args {
			if a.kind == valNull {
				continue
			}
			s, ok := text(a)
			if !ok {
				return unknownArg(name, a, line)
			}
			b.WriteString(s)
		}
		return p.result(b.String(), line)
	case "SERVERPROPERTY":
		return p.serverProperty(args[0], line)
	case "DB_NAME":
		if len(args) == 0 {
			return str(p.db)
		}
		if n, ok := toNumber(args[0]); ok && n.isInt && n.i >= 1 && int(n.i) <= len(systemDatabases) {
			return str(systemDatabases[n.i-1])
		}
		if args[0].kind == valNull || args[0].kind == valUnknown {
			return args[0]
		}
		return unknown("DB_NAME(%s) at line %d is not evaluated: the declared server has the system databases only", args[0].text(), line)
	case "DB_ID":
		name := value{kind: valString, s: p.db}
		if len(args) == 1 {
			name = args[0]
		}
		s, ok := text(name)
		if !ok {
			return unknownArg("DB_ID", name, line)
		}
		for i, d := range systemDatabases {
			if strings.EqualFold(strings.Trim(strings.TrimSpace(s), "[]"), d) {
				return number(int64(i + 1))
			}
		}
		if len(args) == 0 {
			return unknown("DB_ID() at line %d is the id of the database %s, which Import does not know", line, p.db)
		}
		// The declared server has the system databases only (rdsadmin, for one, is not there).
		return value{kind: valNull}
	case "SUSER_SNAME", "SUSER_NAME":
		if len(args) == 1 {
			if n, ok := toNumber(args[0]); ok && n.isInt && n.i == 1 {
				return str("sa") // the sid 0x01
			}
		}
		return unknown("%s() at line %d is the login running the script, which Import does not know", name, line)
	case "IS_SRVROLEMEMBER":
		if s, ok := text(args[0]); ok && strings.EqualFold(s, "sysadmin") && len(args) == 1 {
			return number(1) // job scripts are run by a sysadmin
		}
		return unknown("IS_SRVROLEMEMBER at line %d is not evaluated", line)
	case "OBJECT_ID":
		s, ok := text(args[0])
		if !ok {
			return unknownArg(name, args[0], line)
		}
		if i := strings.LastIndex(s, "#"); i >= 0 {
			if p.temp[strings.ToLower(strings.Trim(s[i:], "[]"))] != nil {
				return number(1)
			}
			return value{kind: valNull}
		}
		return unknown("OBJECT_ID(%s) at line %d is not evaluated: Import does not know the objects of the databases", args[0].text(), line)
	}
	for _, a := range args {
		if a.kind == valUnknown || a.kind == valNull {
			return a
		}
	}
	intArg := func(i int) (int, bool) {
		n, ok := toNumber(args[i])
		if !ok {
			return 0, false
		}
		if !n.isInt {
			n.i = int64(n.f)
		}
		if n.i > int64(p.opt.MaxString) {
			n.i = int64(p.opt.MaxString) + 1
		}
		if n.i < -1<<31 {
			n.i = -1 << 31
		}
		return int(n.i), true
	}
	switch name {
	case "CHAR", "NCHAR":
		n, ok := intArg(0)
		if !ok || n < 0 || (name == "CHAR" && n > 255) || n > utf8.MaxRune {
			return value{kind: valNull} // as SQL Server: out of range gives NULL
		}
		return str(string(rune(n)))
	case "NULLIF":
		if isTrue(compare("=", args[0], args[1], line)) {
			return value{kind: valNull}
		}
		return args[0]
	case "ABS":
		n, ok := toNumber(args[0])
		if !ok {
			return unknownArg(name, args[0], line)
		}
		if n.isInt && n.i < 0 {
			return arith("-", number(0), args[0], line)
		}
		if !n.isInt && n.f < 0 {
			return value{kind: valNumber, s: strings.TrimPrefix(args[0].s, "-")}
		}
		return args[0]
	case "STR":
		n, ok := toNumber(args[0])
		if !ok {
			return unknownArg(name, args[0], line)
		}
		s := strconv.FormatFloat(n.f, 'f', 0, 64)
		width := 10
		if len(args) > 1 {
			if width, ok = intArg(1); !ok || width < 1 || width > 8000 {
				return unknownArg(name, args[1], line)
			}
		}
		if len(s) > width {
			return str(strings.Repeat("*", width))
		}
		return str(strings.Repeat(" ", width-len(s)) + s)
	}
	s, ok := text(args[0])
	if !ok {
		return unknownArg(name, args[0], line)
	}
	switch name {
	case "LEN":
		return number(int64(utf8.RuneCountInString(strings.TrimRight(s, " "))))
	case "DATALENGTH":
		return number(int64(2 * utf8.RuneCountInString(s)))
	case "UPPER":
		return str(strings.ToUpper(s))
	case "LOWER":
		return str(strings.ToLower(s))
	case "LTRIM":
		return str(strings.TrimLeft(s, " "))
	case "RTRIM":
		return str(strings.TrimRight(s, " "))
	case "TRIM":
		return str(strings.Trim(s, " "))
	case "REVERSE":
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return str(string(r))
	case "ASCII", "UNICODE":
		if s == "" {
			return value{kind: valNull}
		}
		r, _ := utf8.DecodeRuneInString(s)
		return number(int64(r))
	case "SPACE":
		n, ok := intArg(0)
		if !ok {
			return unknownArg(name, args[0], line)
		}
		if n < 0 {
			return value{kind: valNull}
		}
		if !p.checkString(n, line) {
			return unknown("the evaluation was stopped at line %d", line)
		}
		return str(strings.Repeat(" ", n))
	case "QUOTENAME":
		q := "["
		if len(args) == 2 {
			if q, ok = text(args[1]); !ok || len(q) != 1 {
				return value{kind: valNull}
			}
		}
		if utf8.RuneCountInString(s) > 128 {
			return value{kind: valNull} // QUOTENAME takes at most 128 characters
		}
		switch q {
		case "[", "]":
			return str("[" + strings.ReplaceAll(s, "]", "]]") + "]")
		case "'", "\"", "`":
			return str(q + strings.ReplaceAll(s, q, q+q) + q)
		case "(", ")":
			return str("(" + s + ")")
		case "<", ">":
			return str("<" + s + ">")
		case "{", "}":
			return str("{" + s + "}")
		}
		return value{kind: valNull}
	}
	s2, ok := text(args[1])
	if !ok {
		return unknownArg(name, args[1], line)
	}
	switch name {
	case "LEFT", "RIGHT":
		n, ok := intArg(1)
		if !ok || n < 0 {
			return unknown("%s at line %d has a negative or non-integer length (SQL Server error 536)", name, line)
		}
		r := []rune(s)
		n = min(n, len(r))
		if name == "LEFT" {
			return str(string(r[:n]))
		}
		return str(string(r[len(r)-n:]))
	case "SUBSTRING":
		start, ok1 := intArg(1)
		n, ok2 := intArg(2)
		if !ok1 || !ok2 || n < 0 {
			return unknown("SUBSTRING at line %d has a negative or non-integer length (SQL Server error 537)", line)
		}
		r := []rune(s)
		from, to := start-1, start-1+n
		from, to = max(from, 0), min(to, len(r))
		if from >= to {
			return str("")
		}
		return str(string(r[from:to]))
	case "CHARINDEX":
		// CHARINDEX(find, in[, start]), ignoring case.
		start := 1
		if len(args) == 3 {
			if start, ok = intArg(2); !ok {
				return unknownArg(name, args[2], line)
			}
			start = max(start, 1)
		}
		in := []rune(strings.ToLower(s2))
		if start > len(in) {
			return number(0)
		}
		i := strings.Index(string(in[start-1:]), strings.ToLower(s))
		if i < 0 || s == "" {
			return number(0)
		}
		return number(int64(start + utf8.RuneCountInString(string(in[start-1:])[:i])))
	case "REPLICATE":
		n, ok := intArg(1)
		if !ok || n < 0 {
			return value{kind: valNull}
		}
		if !p.checkString(len(s)*n, line) {
			return unknown("the evaluation was stopped at line %d", line)
		}
		return str(strings.Repeat(s, n))
	case "REPLACE":
		s3, ok := text(args[2])
		if !ok {
			return unknownArg(name, args[2], line)
		}
		if s2 == "" {
			return str(s)
		}
		if n := strings.Count(strings.ToLower(s), strings.ToLower(s2)); n > 0 && !p.checkString(len(s)+n*len(s3), line) {
			return unknown("the evaluation was stopped at line %d", line)
		}
		return p.result(replaceFold(s, s2, s3), line)
	}
	return unknown("%s() at line %d is a function Import does not evaluate", name, line)
}

// replaceFold replaces every old in s by repl, ignoring case as SQL Server's default collations do.
func replaceFold(s, old, repl string) string {
	if strings.ToLower(s) == s && strings.ToLower(old) == old || len(strings.ToLower(s)) != len(s) {
		return strings.ReplaceAll(s, old, repl)
	}
	ls, lo := strings.ToLower(s), strings.ToLower(old)
	var b strings.Builder
	for {
		i := strings.Index(ls, lo)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, ls = s[i+len(old):], ls[i+len(lo):]
	}
}

// result checks a string built by a function against MaxString.
func (p *parser) result(s string, line int) value {
	if !p.checkString(len(s), line) {
		return unknown("the evaluation was stopped at line %d", line)
	}
	return str(s)
}

func unknownArg(name string, a value, line int) value {
	if a.kind == valUnknown || a.kind == valNull {
		return a
	}
	return unknown("%s() at line %d is given %s, which Import does not evaluate", name, line, a.text())
}

// sqlType is a type named in DECLARE, CAST or CONVERT.
type sqlType struct {
	name  string // lower case
	size  int    // characters for strings; -1 for (max); 0 when not given
	scale int    // decimal places of numeric(p, s)
}

// readType reads a type name and its (size) or (precision, scale).
func (p *parser) readType() sqlType {
	var t sqlType
	for p.peek().kind == kindIdent || p.peek().kind == kindQuoted {
		if isStatementWord(p.peek()) {
			break
		}
		t.name = strings.ToLower(p.next().value)
		if !p.peek().isPunct(".") {
			break
		}
		p.next()
	}
	if p.peek().isPunct("(") {
		if p.peekAt(1).is("MAX") {
			t.size = -1
		} else if n, err := strconv.Atoi(p.peekAt(1).text); err == nil {
			t.size = n
			if p.peekAt(2).isPunct(",") {
				t.scale, _ = strconv.Atoi(p.peekAt(3).text)
			}
		}
		p.skipParens()
	}
	return t
}

// cast reads CAST(expr AS type).
func (p *parser) cast(name string, line int) value {
	v := p.orExpr()
	if !p.peek().is("AS") {
		p.efail = true
		return v
	}
	p.next()
	t := p.readType()
	if !p.peek().isPunct(")") {
		p.efail = true
		return v
	}
	p.next()
	return p.castTo(v, t, line, name == "TRY_CAST")
}

// convertCall reads CONVERT(type, expr[, style]); the style of dates is not used.
func (p *parser) convertCall(name string, line int) value {
	t := p.readType()
	if !p.peek().isPunct(",") {
		p.efail = true
		return unknown("the CONVERT at line %d cannot be read", line)
	}
	p.next()
	v := p.orExpr()
	if p.peek().isPunct(",") {
		p.next()
		p.orExpr()
	}
	if !p.peek().isPunct(")") {
		p.efail = true
		return v
	}
	p.next()
	return p.castTo(v, t, line, name == "TRY_CONVERT")
}

// castTo converts v to the type t as SQL Server does for the types job scripts use.
func (p *parser) castTo(v value, t sqlType, line int, try bool) value {
	if v.kind == valUnknown || v.kind == valNull {
		return v
	}
	fail := func() value {
		if try {
			return value{kind: valNull}
		}
		return unknown("the conversion at line %d of %s to %s fails (SQL Server error 245)", line, v.text(), t.name)
	}
	switch t.name {
	case "char", "varchar", "nchar", "nvarchar", "sysname", "text", "ntext", "sql_variant":
		s, ok := text(v)
		if !ok {
			return unknown("the conversion at line %d of %s to %s is not evaluated", line, v.text(), t.name)
		}
		size := t.size
		switch {
		case t.name == "sysname":
			size = 128
		case t.name == "text" || t.name == "ntext" || t.name == "sql_variant":
			size = -1
		case size == 0:
			size = 30 // CAST and CONVERT without a length give 30 characters
		}
		if size > 0 && utf8.RuneCountInString(s) > size {
			s = string([]rune(s)[:size])
		}
		return str(s)
	case "int", "bigint", "smallint", "tinyint", "bit":
		n, ok := toNumber(v)
		if !ok {
			return fail()
		}
		i := n.i
		if !n.isInt {
			i = int64(n.f)
		}
		if t.name == "bit" && i != 0 {
			i = 1
		}
		return number(i)
	case "numeric", "decimal", "float", "real", "money", "smallmoney":
		n, ok := toNumber(v)
		if !ok {
			return fail()
		}
		if n.isInt {
			return number(n.i)
		}
		if t.name == "numeric" || t.name == "decimal" {
			return value{kind: valNumber, s: strconv.FormatFloat(n.f, 'f', t.scale, 64)}
		}
		return value{kind: valNumber, s: strconv.FormatFloat(n.f, 'f', -1, 64)}
	}
	return unknown("the conversion at line %d to %s is not evaluated", line, t.name)
}

// aggregate reads COUNT(*), COUNT(expr), MAX, MIN or SUM(expr) over the rows of the query being
// read (p.agg).
func (p *parser) aggregate(name string, line int) value {
	if name == "COUNT" && p.peek().isPunct("*") && p.peekAt(1).isPunct(")") {
		p.pos += 2
		if p.agg == nil {
			return unknown("COUNT(*) at line %d is not in a query Import evaluates", line)
		}
		return number(int64(len(p.agg.rows)))
	}
	start := p.pos
	if p.agg == nil {
		p.orExpr()
		if p.peek().isPunct(")") {
			p.next()
		} else {
			p.efail = true
		}
		return unknown("%s at line %d is not in a query Import evaluates", name, line)
	}
	agg := p.agg
	p.agg = nil // an aggregate's argument is read row by row
	defer func() { p.agg = agg }()
	res := value{kind: valNull}
	count := int64(0)
	end := start
	if len(agg.rows) == 0 {
		p.orExpr()
		end = p.pos
	}
	for _, r := range agg.rows {
		if !p.readRow(line) {
			break
		}
		p.pos = start
		p.rows = append(p.rows, r)
		v := p.orExpr()
		p.rows = p.rows[:len(p.rows)-1]
		end = p.pos
		switch {
		case v.kind == valUnknown:
			res = v
		case v.kind == valNull || res.kind == valUnknown:
		case name == "COUNT":
			count++
		case res.kind == valNull:
			res = v
		case name == "SUM":
			res = arith("+", res, v, line)
		case name == "MAX" && isTrue(compare(">", v, res, line)), name == "MIN" && isTrue(compare("<", v, res, line)):
			res = v
		}
	}
	p.pos = end
	if !p.peek().isPunct(")") {
		p.efail = true
		return res
	}
	p.next()
	if name == "COUNT" && res.kind != valUnknown {
		return number(count)
	}
	return res
}

// systemVariable returns @@SERVERNAME, @@VERSION and the other system functions job scripts
// test, for the server of Options.
func (p *parser) systemVariable(t token) value {
	switch strings.ToUpper(t.value) {
	case "@@SERVERNAME":
		return value{kind: valLocal}
	case "@@VERSION":
		return str(p.version())
	case "@@ERROR":
		return number(0) // a statement Import runs does not fail
	case "@@FETCH_STATUS":
		return number(int64(p.fetchStatus))
	case "@@ROWCOUNT":
		return number(int64(p.rowcount))
	case "@@SERVICENAME":
		return str("MSSQLSERVER")
	case "@@LANGUAGE":
		return str("us_english")
	case "@@MICROSOFTVERSION":
		parts := strings.SplitN(p.opt.ProductVersion, ".", 4)
		if len(parts) == 4 {
			major, err1 := strconv.Atoi(parts[0])
			minor, err2 := strconv.Atoi(parts[1])
			build, err3 := strconv.Atoi(parts[2])
			if err1 == nil && err2 == nil && err3 == nil {
				return number(int64(major)<<24 | int64(minor)<<16 | int64(build))
			}
		}
	}
	return unknown("%s is a system function Import does not evaluate", t.value)
}

// version is the @@VERSION of the declared server.
func (p *parser) version() string {
	host := "Windows Server 2022 Datacenter 10.0 <X64> (Build 20348: ) (Hypervisor)"
	if p.opt.Platform == "linux" {
		host = "Linux (Ubuntu 22.04.4 LTS) <X64>"
	}
	return fmt.Sprintf("Microsoft SQL Server (%s) - %s (X64)\n\tCopyright (C) Microsoft Corporation\n\t%s on %s",
		"RTM", p.opt.ProductVersion, editions[p.opt.Edition].name, host)
}

// serverProperty answers SERVERPROPERTY for the declared server.
func (p *parser) serverProperty(a value, line int) value {
	name, ok := text(a)
	if !ok {
		return unknownArg("SERVERPROPERTY", a, line)
	}
	ed := editions[p.opt.Edition]
	major := strings.SplitN(p.opt.ProductVersion, ".", 2)[0]
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "edition":
		return str(ed.name)
	case "engineedition":
		return number(int64(ed.engine))
	case "productversion":
		return str(p.opt.ProductVersion)
	case "productmajorversion":
		return str(major)
	case "productlevel":
		return str("RTM")
	case "servername", "machinename", "computernamephysicalnetbios":
		return value{kind: valLocal}
	case "instancename":
		return value{kind: valNull}
	case "isclustered", "ishadrenabled", "issingleuser", "isintegratedsecurityonly":
		return number(0)
	case "collation":
		return str("SQL_Latin1_General_CP1_CI_AS")
	case "errorlogfilename":
		return str(p.logDirectory() + p.separator() + "ERRORLOG")
	}
	return unknown("SERVERPROPERTY('%s') at line %d is not a property Import answers", clip(name), line)
}

// separator and logDirectory are the declared platform's.
func (p *parser) separator() string {
	if p.opt.Platform == "linux" {
		return "/"
	}
	return `\`
}

func (p *parser) logDirectory() string {
	if p.opt.Platform == "linux" {
		return "/var/opt/mssql/log"
	}
	return `C:\Program Files\Microsoft SQL Server\MSSQL` + strings.SplitN(p.opt.ProductVersion, ".", 2)[0] + `.MSSQLSERVER\MSSQL\Log`
}
