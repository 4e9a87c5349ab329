package tsql

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the kind of a token.
type kind int

const (
	kindIdent    kind = iota // a bare word: keyword or identifier; value is the word
	kindQuoted               // [bracketed]] or "quoted" identifier; value is the name
	kindString               // 'text' or N'text'; value is the text with '' undoubled
	kindNumber               // 12, 1.5, 2e3, 0x1F
	kindVariable             // @name or @@name; value is the name with its @s
	kindPunct                // one punctuation character, or a two-character operator
	kindComment              // -- to the end of the line, or /* */ (nested)
	kindGo                   // the batch separator: GO alone on its line, optionally with a count
)

var kindNames = [...]string{"identifier", "quoted identifier", "string", "number", "variable", "punctuation", "comment", "GO"}

func (k kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// token is one lexical element of a script.
type token struct {
	kind kind
	// text is the source text of the token.
	text string
	// value is the decoded text: the string without quotes, the identifier without brackets.
	// For kindGo it is the repeat count as written ("" when there is none).
	value string
	// line is the 1-based line the token starts on.
	line int
	// pos is the byte offset of the token in the script.
	pos int
}

// is reports whether t is the bare word w (T-SQL keywords are not case-sensitive).
func (t token) is(w string) bool { return t.kind == kindIdent && strings.EqualFold(t.value, w) }

// isPunct reports whether t is the punctuation p.
func (t token) isPunct(p string) bool { return t.kind == kindPunct && t.text == p }

// twoCharOps are the operators read as one token.
var twoCharOps = []string{"<>", "!=", ">=", "<=", "!<", "!>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "::"}

// decodeScript returns the script as UTF-8 text: a UTF-16 script (SSMS's "Unicode" encoding,
// recognised by its byte order mark) is converted, and a UTF-8 byte order mark is removed.
func decodeScript(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return decodeUTF16(b[2:], func(p []byte) uint16 { return uint16(p[0]) | uint16(p[1])<<8 })
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b[2:], func(p []byte) uint16 { return uint16(p[1]) | uint16(p[0])<<8 })
	}
	return string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
}

func decodeUTF16(b []byte, unit func([]byte) uint16) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, unit(b[i:i+2]))
	}
	return string(utf16.Decode(u))
}

// lexer holds the state of tokenize.
type lexer struct {
	src  string
	pos  int
	line int
	// lineStart is true while only white space has been read on the current line, so that a
	// GO found there may be the batch separator.
	lineStart bool
	toks      []token
}

// tokenize splits T-SQL text into tokens, comments included. The batch separator GO is
// recognised only alone on its line (followed by nothing but an optional count and a
// comment), never inside a string, a bracketed identifier or a comment. The error wraps
// ErrSyntax and gives the line of an unterminated string, identifier or comment.
func tokenize(src string) ([]token, error) {
	lx := &lexer{src: src, line: 1, lineStart: true}
	for lx.pos < len(lx.src) {
		if err := lx.next(); err != nil {
			return nil, err
		}
	}
	return lx.toks, nil
}

// codeTokens is tokenize without the comments: the tokens Import evaluates.
func codeTokens(src string) ([]token, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(toks, func(t token) bool { return t.kind == kindComment }), nil
}

func (lx *lexer) emit(k kind, start int, value string, line int) {
	lx.toks = append(lx.toks, token{kind: k, text: lx.src[start:lx.pos], value: value, line: line, pos: start})
	lx.lineStart = false
}

// next reads one token or one run of white space.
func (lx *lexer) next() error {
	c := lx.src[lx.pos]
	start, line := lx.pos, lx.line
	switch {
	case c == '\n':
		lx.pos++
		lx.line++
		lx.lineStart = true
	case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
		lx.pos++
	case c == '-' && lx.peek(1) == '-':
		end := strings.IndexByte(lx.src[lx.pos:], '\n')
		if end < 0 {
			end = len(lx.src) - lx.pos
		}
		lx.pos += end
		lx.emitComment(start, line)
	case c == '/' && lx.peek(1) == '*':
		if err := lx.blockComment(); err != nil {
			return err
		}
		lx.emitComment(start, line)
	case (c == 'N' || c == 'n') && lx.peek(1) == '\'':
		lx.pos++
		return lx.quoted(kindString, '\'', '\'', start, "string")
	case c == '\'':
		return lx.quoted(kindString, '\'', '\'', start, "string")
	case c == '[':
		return lx.quoted(kindQuoted, '[', ']', start, "bracketed identifier")
	case c == '"':
		return lx.quoted(kindQuoted, '"', '"', start, "quoted identifier")
	case c == '@':
		lx.pos++
		for lx.pos < len(lx.src) && lx.src[lx.pos] == '@' {
			lx.pos++
		}
		lx.identChars()
		if lx.pos-start == 1 {
			lx.emit(kindPunct, start, "@", line)
		} else {
			lx.emit(kindVariable, start, lx.src[start:lx.pos], line)
		}
	case isDigit(c) || (c == '.' && isDigit(lx.peek(1))):
		lx.number()
		lx.emit(kindNumber, start, lx.src[start:lx.pos], line)
	default:
		r, size := utf8.DecodeRuneInString(lx.src[lx.pos:])
		if isIdentStart(r) {
			lx.pos += size
			lx.identChars()
			word := lx.src[start:lx.pos]
			if strings.EqualFold(word, "go") && lx.lineStart && lx.batchSeparator(start, line) {
				return nil
			}
			lx.emit(kindIdent, start, word, line)
			return nil
		}
		for _, op := range twoCharOps {
			if strings.HasPrefix(lx.src[lx.pos:], op) {
				lx.pos += len(op)
				lx.emit(kindPunct, start, op, line)
				return nil
			}
		}
		lx.pos += size
		lx.emit(kindPunct, start, lx.src[start:lx.pos], line)
	}
	return nil
}

// emitComment adds a comment token. A comment ends the line's white-space prefix: GO after a
// comment on the same line is a word, not the batch separator (SSMS writes GO first on its line).
func (lx *lexer) emitComment(start, line int) {
	lx.toks = append(lx.toks, token{kind: kindComment, text: lx.src[start:lx.pos], value: lx.src[start:lx.pos], line: line, pos: start})
	lx.lineStart = false
	lx.line += strings.Count(lx.src[start:lx.pos], "\n")
}

func (lx *lexer) peek(n int) byte {
	if lx.pos+n < len(lx.src) {
		return lx.src[lx.pos+n]
	}
	return 0
}

// blockComment skips a /* */ comment; T-SQL comments nest.
func (lx *lexer) blockComment() error {
	depth, line := 0, lx.line
	for lx.pos < len(lx.src) {
		switch {
		case strings.HasPrefix(lx.src[lx.pos:], "/*"):
			depth++
			lx.pos += 2
		case strings.HasPrefix(lx.src[lx.pos:], "*/"):
			depth--
			lx.pos += 2
			if depth == 0 {
				return nil
			}
		default:
			lx.pos++
		}
	}
	return fmt.Errorf("line %d: %w: the comment /* is not closed with */", line, ErrSyntax)
}

// quoted reads a string or delimited identifier from lx.pos (at the opening delimiter), where a
// doubled closing delimiter stands for one.
func (lx *lexer) quoted(k kind, open, closing byte, start int, what string) error {
	line := lx.line
	lx.pos++ // the opening delimiter
	var b strings.Builder
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		if c == closing {
			if lx.peek(1) == closing {
				b.WriteByte(c)
				lx.pos += 2
				continue
			}
			lx.pos++
			lx.emit(k, start, b.String(), line)
			return nil
		}
		if c == '\n' {
			lx.line++
		}
		b.WriteByte(c)
		lx.pos++
	}
	return fmt.Errorf("line %d: %w: the %s starting with %c is not closed with %c", line, ErrSyntax, what, open, closing)
}

// identChars skips the characters that continue an identifier.
func (lx *lexer) identChars() {
	for lx.pos < len(lx.src) {
		r, size := utf8.DecodeRuneInString(lx.src[lx.pos:])
		if !isIdentStart(r) && !unicode.IsDigit(r) && r != '@' && r != '$' {
			return
		}
		lx.pos += size
	}
}

// number reads digits, a fraction, an exponent, or a 0x binary constant.
func (lx *lexer) number() {
	if lx.src[lx.pos] == '0' && (lx.peek(1) == 'x' || lx.peek(1) == 'X') {
		lx.pos += 2
		for lx.pos < len(lx.src) && isHex(lx.src[lx.pos]) {
			lx.pos++
		}
		return
	}
	digits := func() {
		for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
			lx.pos++
		}
	}
	digits()
	if lx.pos < len(lx.src) && lx.src[lx.pos] == '.' {
		lx.pos++
		digits()
	}
	if lx.pos < len(lx.src) && (lx.src[lx.pos] == 'e' || lx.src[lx.pos] == 'E') {
		save := lx.pos
		lx.pos++
		if lx.pos < len(lx.src) && (lx.src[lx.pos] == '+' || lx.src[lx.pos] == '-') {
			lx.pos++
		}
		if lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
			digits()
		} else {
			lx.pos = save
		}
	}
}

// batchSeparator reads the rest of a line that starts with GO (lx.pos is after GO). When the
// line holds nothing else but an optional count and a comment, it emits a kindGo token, consumes
// the line and returns true; otherwise it rewinds to after GO and returns false.
func (lx *lexer) batchSeparator(start, line int) bool {
	rest := lx.src[lx.pos:]
	end := strings.IndexByte(rest, '\n')
	if end < 0 {
		end = len(rest)
	}
	tail := strings.TrimSpace(rest[:end])
	if i := strings.Index(tail, "--"); i >= 0 {
		tail = strings.TrimSpace(tail[:i])
	}
	for i := 0; i < len(tail); i++ {
		if !isDigit(tail[i]) {
			return false
		}
	}
	lx.pos += end
	lx.toks = append(lx.toks, token{kind: kindGo, text: lx.src[start:lx.pos], value: tail, line: line, pos: start})
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }

func isIdentStart(r rune) bool {
	return r == '_' || r == '#' || (r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')) ||
		(r >= utf8.RuneSelf && r != utf8.RuneError && unicode.IsLetter(r))
}
