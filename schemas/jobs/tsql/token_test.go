package tsql

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// tokenizeCases are inputs for tokenize; FuzzTokenize starts from them. Each token is written
// kind:value@line.
var tokenizeCases = []struct {
	name    string
	in      string
	want    []string
	wantErr string // part of the error message; the error wraps ErrSyntax
}{
	{
		name: "named parameter",
		in:   "EXEC @ReturnCode = msdb.dbo.sp_add_job @job_name=N'It''s', @enabled=1",
		want: []string{"identifier:EXEC@1", "variable:@ReturnCode@1", "punctuation:=@1", "identifier:msdb@1",
			"punctuation:.@1", "identifier:dbo@1", "punctuation:.@1", "identifier:sp_add_job@1", "variable:@job_name@1",
			"punctuation:=@1", "string:It's@1", "punctuation:,@1", "variable:@enabled@1", "punctuation:=@1", "number:1@1"},
	},
	{
		name: "strings",
		in:   "'' N'' n'x' 'a''''b' 'two\nlines' N'GO'",
		want: []string{"string:@1", "string:@1", "string:x@1", "string:a''b@1", "string:two\nlines@1", "string:GO@2"},
	},
	{
		name: "quoted identifiers",
		in:   `[msdb].[dbo].[a]]b] "x""y" [with space]`,
		want: []string{"quoted identifier:msdb@1", "punctuation:.@1", "quoted identifier:dbo@1", "punctuation:.@1",
			"quoted identifier:a]b@1", `quoted identifier:x"y@1`, "quoted identifier:with space@1"},
	},
	{
		name: "comments",
		in:   "a -- line 'not a string\nb /* block /* nested */ still */ c /*\n*/ d --",
		want: []string{"identifier:a@1", "comment:-- line 'not a string@1", "identifier:b@2",
			"comment:/* block /* nested */ still */@2", "identifier:c@2", "comment:/*\n*/@2", "identifier:d@3", "comment:--@3"},
	},
	{
		name: "numbers",
		in:   "0 010000 1.5 .5 2e3 1e 0x1F -7",
		want: []string{"number:0@1", "number:010000@1", "number:1.5@1", "number:.5@1", "number:2e3@1", "number:1@1",
			"identifier:e@1", "number:0x1F@1", "punctuation:-@1", "number:7@1"},
	},
	{
		name: "variables and operators",
		in:   "IF (@@ERROR <> 0 OR @x>=1) @ a!=b SET @s += N'x' @#t",
		want: []string{"identifier:IF@1", "punctuation:(@1", "variable:@@ERROR@1", "punctuation:<>@1", "number:0@1",
			"identifier:OR@1", "variable:@x@1", "punctuation:>=@1", "number:1@1", "punctuation:)@1", "punctuation:@@1",
			"identifier:a@1", "punctuation:!=@1", "identifier:b@1", "identifier:SET@1", "variable:@s@1", "punctuation:+=@1",
			"string:x@1", "variable:@#t@1"},
	},
	{
		name: "labels and unicode identifiers",
		in:   "QuitWithRollback:\nÉtape_1 #temp",
		want: []string{"identifier:QuitWithRollback@1", "punctuation::@1", "identifier:Étape_1@2", "identifier:#temp@2"},
	},
	{
		name: "batch separators",
		in:   "GO\n  go  \nGO 5\nGO -- done\nGO 2 -- twice\nSELECT 1 GO\nGOTO x\nGO x\n/* c */ GO\nGO",
		want: []string{"GO:@1", "GO:@2", "GO:5@3", "GO:@4", "GO:2@5", "identifier:SELECT@6", "number:1@6",
			"identifier:GO@6", "identifier:GOTO@7", "identifier:x@7", "identifier:GO@8", "identifier:x@8",
			"comment:/* c */@9", "identifier:GO@9", "GO:@10"},
	},
	{
		name: "GO inside a string",
		in:   "SET @c = N'a\nGO\nb'\nGO",
		want: []string{"identifier:SET@1", "variable:@c@1", "punctuation:=@1", "string:a\nGO\nb@1", "GO:@4"},
	},
	{
		name: "carriage returns",
		in:   "a\r\nGO\r\nb",
		want: []string{"identifier:a@1", "GO:@2", "identifier:b@3"},
	},
	{name: "empty", in: ""},
	{name: "unterminated string", in: "SELECT 1\nSET @x = N'abc\n", wantErr: "line 2: T-SQL syntax error: the string starting with ' is not closed with '"},
	{name: "unterminated bracket", in: "[abc", wantErr: "line 1: T-SQL syntax error: the bracketed identifier starting with [ is not closed with ]"},
	{name: "unterminated quoted identifier", in: "\n\n\"abc", wantErr: "line 3: T-SQL syntax error: the quoted identifier"},
	{name: "unterminated comment", in: "a\n/* /* */", wantErr: "line 2: T-SQL syntax error: the comment /* is not closed with */"},
	{name: "quote at the end", in: "N'", wantErr: "line 1: T-SQL syntax error"},
}

func TestTokenize(t *testing.T) {
	for _, tc := range tokenizeCases {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := tokenize(tc.in)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one wrapping ErrSyntax containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tok := range toks {
				got = append(got, fmt.Sprintf("%s:%s@%d", tok.kind, tok.value, tok.line))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("tokens:\n got %q\nwant %q", got, tc.want)
			}
			checkCoverage(t, tc.in, toks)
		})
	}
}

// checkCoverage checks that the tokens are the script in order, with only white space between
// them, and that their lines are right.
func checkCoverage(t testing.TB, src string, toks []token) {
	t.Helper()
	at := 0
	for _, tok := range toks {
		if tok.pos < at || tok.pos+len(tok.text) > len(src) || src[tok.pos:tok.pos+len(tok.text)] != tok.text {
			t.Fatalf("token %q at %d does not match the script", tok.text, tok.pos)
		}
		if gap := src[at:tok.pos]; strings.TrimLeft(gap, " \t\r\n\f\v") != "" {
			t.Fatalf("text %q between tokens is not white space", gap)
		}
		if line := 1 + strings.Count(src[:tok.pos], "\n"); line != tok.line {
			t.Fatalf("token %q is on line %d, not %d", tok.text, line, tok.line)
		}
		at = tok.pos + len(tok.text)
	}
	if rest := src[at:]; strings.TrimLeft(rest, " \t\r\n\f\v") != "" {
		t.Fatalf("text %q after the last token is not white space", rest)
	}
}

func TestDecodeScript(t *testing.T) {
	utf16le := []byte{0xFF, 0xFE}
	utf16be := []byte{0xFE, 0xFF}
	for _, r := range "GO É" {
		utf16le = append(utf16le, byte(r), byte(r>>8))
		utf16be = append(utf16be, byte(r>>8), byte(r))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"utf-8", []byte("GO É"), "GO É"},
		{"utf-8 with byte order mark", []byte("\xef\xbb\xbfGO É"), "GO É"},
		{"utf-16le", utf16le, "GO É"},
		{"utf-16be", utf16be, "GO É"},
		{"odd utf-16 length", append(append([]byte(nil), utf16le...), 'x'), "GO É"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeScript(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
