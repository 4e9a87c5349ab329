package jobs

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest job, step, schedule, group or server name, in characters: SQL
// Server's sysname.
const MaxNameLen = 128

// tokenInstanceSep replaces the `\` of HOST\INSTANCE in a NATS subject token.
const tokenInstanceSep = "~"

// ValidServerName reports whether name, once trimmed of surrounding white space, is a server name
// msx accepts: HOST or HOST\INSTANCE, 1 to 128 characters, HOST made of ASCII letters, digits,
// '-' and '_', INSTANCE of ASCII letters, digits, '_' and '$'. Dots are refused because a server
// name becomes a NATS subject token, where '.' separates tokens. The error wraps ErrInvalidName
// and says which rule the name breaks.
func ValidServerName(name string) error {
	_, err := CanonicalServerName(name)
	return err
}

// CanonicalServerName returns name trimmed and upper-cased, the form msx stores and compares
// (SQL Server compares server names case-insensitively). It returns an error wrapping
// ErrInvalidName when the name is not valid (see ValidServerName).
func CanonicalServerName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", fmt.Errorf("%w: the name is empty; give HOST or HOST\\INSTANCE", ErrInvalidName)
	}
	if len(n) > MaxNameLen {
		return "", fmt.Errorf("%w: %q is %d characters long; the limit is %d", ErrInvalidName, n, len(n), MaxNameLen)
	}
	host, inst, named := strings.Cut(n, `\`)
	if host == "" {
		return "", fmt.Errorf("%w: %q has no host before '\\'; give HOST or HOST\\INSTANCE", ErrInvalidName, n)
	}
	if named && inst == "" {
		return "", fmt.Errorf("%w: %q has no instance after '\\'; give HOST for the default instance or HOST\\INSTANCE", ErrInvalidName, n)
	}
	if strings.Contains(inst, `\`) {
		return "", fmt.Errorf("%w: %q has more than one '\\'; give HOST or HOST\\INSTANCE", ErrInvalidName, n)
	}
	if strings.Contains(n, ".") {
		return "", fmt.Errorf("%w: %q contains '.', which separates tokens in the NATS subjects msx builds from server names; "+
			"give a fully qualified name as its short host name (SQL01) or with hyphens (SQL01-CORP-EXAMPLE-COM)", ErrInvalidName, n)
	}
	for _, r := range host {
		if !isHostChar(r) {
			return "", fmt.Errorf("%w: the host of %q contains %q; a host name has letters A-Z, digits, '-' and '_'", ErrInvalidName, n, r)
		}
	}
	for _, r := range inst {
		if !isInstanceChar(r) {
			return "", fmt.Errorf("%w: the instance of %q contains %q; an instance name has letters A-Z, digits, '_' and '$'", ErrInvalidName, n, r)
		}
	}
	return strings.ToUpper(n), nil
}

func isASCIIAlnum(r rune) bool {
	return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

func isHostChar(r rune) bool     { return isASCIIAlnum(r) || r == '-' || r == '_' }
func isInstanceChar(r rune) bool { return isASCIIAlnum(r) || r == '_' || r == '$' }

// ServerToken returns the NATS subject token for a canonical server name: the name with `\`
// replaced by '~' (SQL01\SALES becomes SQL01~SALES). A token made from a valid name holds only
// the characters A-Z, 0-9, '_', '~', '$' and '-'. ServerToken does not validate its argument;
// pass the result of CanonicalServerName.
func ServerToken(canonical string) string {
	return strings.Replace(canonical, `\`, tokenInstanceSep, 1)
}

// ServerFromToken returns the canonical server name a subject token stands for; it reverses
// ServerToken. It returns an error wrapping ErrInvalidToken when tok is not the token of a
// canonical name (it is lower case, or the name is not valid).
func ServerFromToken(tok string) (string, error) {
	if strings.Contains(tok, `\`) {
		return "", fmt.Errorf("%w: %q contains '\\'; tokens use '~' between host and instance", ErrInvalidToken, tok)
	}
	name := strings.Replace(tok, tokenInstanceSep, `\`, 1)
	canon, err := CanonicalServerName(name)
	if err != nil {
		return "", fmt.Errorf("%w %q: %w", ErrInvalidToken, tok, err)
	}
	if canon != name {
		return "", fmt.Errorf("%w: %q is not canonical (want %q)", ErrInvalidToken, tok, ServerToken(canon))
	}
	return canon, nil
}
