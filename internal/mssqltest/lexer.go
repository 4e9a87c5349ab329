package mssqltest

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies T-SQL tokens. The lexer is only as deep as the fake
// needs: enough to split a batch into statements, find variables, and make
// the few rewrites that let SQLite run what remains.
type tokKind uint8

const (
	tkWord    tokKind = iota // keyword or identifier
	tkQuoted                 // [identifier] or "identifier"
	tkString                 // 'text' or N'text'
	tkNumber                 // 12, 1.5e3, 0x1F
	tkVar                    // @name
	tkGlobal                 // @@name
	tkPunct                  // one character of punctuation
	tkSpace                  // white space
	tkComment                // -- line or /* block */
)

type token struct {
	kind      tokKind
	text      string // source text
	lineStart bool   // first significant token of its line
}

// upper returns the token text in upper case, for keyword comparisons.
func (t token) upper() string { return strings.ToUpper(t.text) }

func (t token) is(kw string) bool { return t.kind == tkWord && strings.EqualFold(t.text, kw) }

func (t token) isPunct(p string) bool { return t.kind == tkPunct && t.text == p }

// stringValue returns the content of a string literal, quotes undone.
func (t token) stringValue() string {
	s := t.text
	if s != "" && (s[0] == 'N' || s[0] == 'n') {
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "'")
	s = strings.TrimSuffix(s, "'")
	return strings.ReplaceAll(s, "''", "'")
}

// ident returns an identifier without its brackets or quotes.
func (t token) ident() string {
	if t.kind != tkQuoted || len(t.text) < 2 {
		return t.text
	}
	if t.text[0] == '[' {
		return strings.ReplaceAll(t.text[1:len(t.text)-1], "]]", "]")
	}
	return strings.ReplaceAll(t.text[1:len(t.text)-1], `""`, `"`)
}

func isIdentRune(r rune, first bool) bool {
	if r == '_' || r == '#' || unicode.IsLetter(r) {
		return true
	}
	return !first && (r == '$' || r == '@' || unicode.IsDigit(r))
}

// lex splits T-SQL text into tokens; concatenating their text gives the
// input back. Unterminated strings, identifiers and comments run to the end.
func lex(s string) []token {
	var toks []token
	lineStart := true
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		start := i
		kind := tkPunct
		switch {
		case unicode.IsSpace(r):
			kind = tkSpace
			for i < len(s) {
				r, w := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsSpace(r) {
					break
				}
				if r == '\n' {
					lineStart = true
				}
				i += w
			}
		case strings.HasPrefix(s[i:], "--"):
			kind = tkComment
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(s)
			}
		case strings.HasPrefix(s[i:], "/*"):
			kind = tkComment
			depth := 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case r == '\'' || (r == 'N' || r == 'n') && i+1 < len(s) && s[i+1] == '\'':
			kind = tkString
			if r != '\'' {
				i++
			}
			i = scanQuoted(s, i+1, '\'')
		case r == '[':
			kind = tkQuoted
			i = scanQuoted(s, i+1, ']')
		case r == '"':
			kind = tkQuoted
			i = scanQuoted(s, i+1, '"')
		case r == '@':
			kind = tkVar
			i++
			if i < len(s) && s[i] == '@' {
				kind = tkGlobal
				i++
			}
			i = scanIdent(s, i)
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			kind = tkNumber
			i = scanNumber(s, i)
		case isIdentRune(r, true):
			kind = tkWord
			i = scanIdent(s, i)
		default:
			i += w
		}
		t := token{kind: kind, text: s[start:i]}
		if kind != tkSpace && kind != tkComment {
			t.lineStart = lineStart
			lineStart = false
		}
		toks = append(toks, t)
	}
	return toks
}

// scanQuoted returns the index after the closing quote, where a doubled
// quote is an escaped one.
func scanQuoted(s string, i int, q byte) int {
	for i < len(s) {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(s)
}

func scanIdent(s string, i int) int {
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isIdentRune(r, false) {
			break
		}
		i += w
	}
	return i
}

func scanNumber(s string, i int) int {
	if strings.HasPrefix(s[i:], "0x") || strings.HasPrefix(s[i:], "0X") {
		i += 2
		for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[i]) >= 0 {
			i++
		}
		return i
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '.':
		case (c == 'e' || c == 'E') && i+1 < len(s) && (s[i+1] == '-' || s[i+1] == '+' || s[i+1] >= '0' && s[i+1] <= '9'):
			i++
		default:
			return i
		}
		i++
	}
	return i
}

// significant drops white space and comments.
func significant(toks []token) []token {
	var out []token
	for _, t := range toks {
		if t.kind != tkSpace && t.kind != tkComment {
			out = append(out, t)
		}
	}
	return out
}

// specialStatements are the T-SQL statements the fake runs itself; each
// starts a new statement wherever it appears outside parentheses.
var specialStatements = map[string]bool{
	"PRINT": true, "RAISERROR": true, "THROW": true, "WAITFOR": true, "USE": true, "EXEC": true,
	"EXECUTE": true, "COMMIT": true, "ROLLBACK": true, "DECLARE": true, "SAVE": true,
}

// statementKeywords additionally end a special statement (and SET).
var statementKeywords = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "WITH": true, "CREATE": true,
	"DROP": true, "ALTER": true, "SET": true, "TRUNCATE": true, "MERGE": true, "REPLACE": true,
	"BEGIN": true, "IF": true, "WHILE": true,
}

func startsSpecial(toks []token, i int) bool {
	t := toks[i]
	if t.kind != tkWord {
		return false
	}
	u := t.upper()
	if specialStatements[u] {
		return true
	}
	if u == "BEGIN" {
		for _, n := range toks[i+1:] {
			if n.kind == tkSpace || n.kind == tkComment {
				continue
			}
			nu := n.upper()
			return nu == "TRAN" || nu == "TRANSACTION" || nu == "DISTRIBUTED"
		}
	}
	return false
}

// splitStatements splits a batch on semicolons and before the statements
// the fake runs itself. Statements SQLite runs (SELECT, INSERT, ...) must be
// separated by semicolons when several share a batch.
func splitStatements(toks []token) [][]token {
	var out [][]token
	var cur []token
	var first string // first keyword of cur
	depth := 0
	emit := func() {
		if len(significant(cur)) > 0 {
			out = append(out, cur)
		}
		cur, first = nil, ""
	}
	for i, t := range toks {
		switch {
		case t.isPunct("("):
			depth++
		case t.isPunct(")"):
			depth = max(0, depth-1)
		case t.isPunct(";") && depth == 0:
			emit()
			continue
		case t.kind == tkWord && depth == 0 && first != "":
			u := t.upper()
			special := specialStatements[first] || first == "BEGIN" || first == "SET"
			if startsSpecial(toks, i) || special && statementKeywords[u] && !(first == "RAISERROR" && u == "WITH") {
				emit()
			}
		}
		if first == "" && t.kind == tkWord {
			first = t.upper()
		}
		cur = append(cur, t)
	}
	emit()
	return out
}
