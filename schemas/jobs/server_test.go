package jobs

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var serverNameCases = []struct {
	name  string
	in    string
	want  string // canonical; empty when invalid
	inMsg string // part of the error message when invalid
}{
	{name: "host", in: "sql01", want: "SQL01"},
	{name: "host upper", in: "SQL01", want: "SQL01"},
	{name: "named instance", in: `sql01\sales`, want: `SQL01\SALES`},
	{name: "trimmed", in: "  sql01 \t", want: "SQL01"},
	{name: "hyphen underscore", in: "sql-prod_01", want: "SQL-PROD_01"},
	{name: "dollar in instance", in: `HOST\INST$1`, want: `HOST\INST$1`},
	{name: "fqdn with hyphens", in: "sql01-corp-example-com", want: "SQL01-CORP-EXAMPLE-COM"},
	{name: "digits only", in: "123", want: "123"},
	{name: "128 chars", in: strings.Repeat("a", 128), want: strings.Repeat("A", 128)},

	{name: "empty", in: "", inMsg: "empty"},
	{name: "blank", in: "   ", inMsg: "empty"},
	{name: "too long", in: strings.Repeat("a", 129), inMsg: "limit is 128"},
	{name: "fqdn", in: "sql01.corp.example.com", inMsg: "short host name"},
	{name: "dot in instance", in: `sql01\a.b`, inMsg: "'.'"},
	{name: "space inside", in: "sql 01", inMsg: "' '"},
	{name: "star", in: "sql*", inMsg: "'*'"},
	{name: "greater than", in: "sql>", inMsg: "'>'"},
	{name: "tilde", in: "sql~1", inMsg: "'~'"},
	{name: "dollar in host", in: "sql$", inMsg: "'$'"},
	{name: "hyphen in instance", in: `sql\a-b`, inMsg: "'-'"},
	{name: "no host", in: `\SALES`, inMsg: "no host"},
	{name: "no instance", in: `SQL01\`, inMsg: "no instance"},
	{name: "two backslashes", in: `a\b\c`, inMsg: "more than one"},
	{name: "non-ascii", in: "sqlé", inMsg: "'é'"},
	{name: "comma", in: "a,b", inMsg: "','"},
}

func TestCanonicalServerName(t *testing.T) {
	for _, tc := range serverNameCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalServerName(tc.in)
			verr := ValidServerName(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidName) || !errors.Is(verr, ErrInvalidName) {
					t.Fatalf("CanonicalServerName(%q) = %q, %v; ValidServerName = %v; want ErrInvalidName", tc.in, got, err, verr)
				}
				if !strings.Contains(err.Error(), tc.inMsg) {
					t.Errorf("error %q does not contain %q", err, tc.inMsg)
				}
				return
			}
			if err != nil || verr != nil || got != tc.want {
				t.Fatalf("CanonicalServerName(%q) = %q, %v; ValidServerName = %v; want %q", tc.in, got, err, verr, tc.want)
			}
		})
	}
}

func TestServerToken(t *testing.T) {
	tests := []struct {
		name, canonical, token string
	}{
		{"default instance", "SQL01", "SQL01"},
		{"named instance", `SQL01\SALES`, "SQL01~SALES"},
		{"dollar", `SQL-01\A$B`, "SQL-01~A$B"},
		{"underscore", `S_1\I_2`, "S_1~I_2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServerToken(tc.canonical); got != tc.token {
				t.Errorf("ServerToken(%q) = %q, want %q", tc.canonical, got, tc.token)
			}
			got, err := ServerFromToken(tc.token)
			if err != nil || got != tc.canonical {
				t.Errorf("ServerFromToken(%q) = %q, %v, want %q", tc.token, got, err, tc.canonical)
			}
		})
	}
}

func TestServerFromTokenErrors(t *testing.T) {
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"lower case", "sql01"},
		{"lower case instance", "SQL01~sales"},
		{"backslash", `SQL01\SALES`},
		{"two tildes", "A~B~C"},
		{"leading tilde", "~SALES"},
		{"trailing tilde", "SQL01~"},
		{"dot", "SQL01.CORP"},
		{"wildcard", "*"},
		{"full wildcard", ">"},
		{"space", " SQL01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ServerFromToken(tc.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("ServerFromToken(%q) = %q, %v; want ErrInvalidToken", tc.token, got, err)
			}
		})
	}
}

var tokenChars = regexp.MustCompile(`^[A-Z0-9_~$-]+$`)

// checkServerName asserts the properties every name must have: a valid name canonicalises
// idempotently to a token of safe characters that maps back to it.
func checkServerName(t testing.TB, name string) {
	t.Helper()
	c, err := CanonicalServerName(name)
	if err != nil {
		if !errors.Is(err, ErrInvalidName) {
			t.Fatalf("CanonicalServerName(%q) error %v does not wrap ErrInvalidName", name, err)
		}
		return
	}
	if c2, err := CanonicalServerName(c); err != nil || c2 != c {
		t.Fatalf("CanonicalServerName(%q) = %q, %v; not idempotent", c, c2, err)
	}
	tok := ServerToken(c)
	if !tokenChars.MatchString(tok) {
		t.Fatalf("ServerToken(%q) = %q has characters outside [A-Z0-9_~$-]", c, tok)
	}
	back, err := ServerFromToken(tok)
	if err != nil || back != c {
		t.Fatalf("ServerFromToken(%q) = %q, %v, want %q", tok, back, err, c)
	}
}

func TestServerNameProperties(t *testing.T) {
	for _, tc := range serverNameCases {
		t.Run(tc.name, func(t *testing.T) { checkServerName(t, tc.in) })
	}
}

func FuzzCanonicalServerName(f *testing.F) {
	for _, tc := range serverNameCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkServerName(t, name)
		_, _ = ServerFromToken(name) // must not panic
	})
}
