package bus

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret that Redact removed.
const Redacted = "xxxxx"

var (
	// urlUserinfo matches the userinfo of a URL: scheme://user:password@ or scheme://token@.
	// A raw '/' cannot be part of a password that url.Parse accepts, so it ends the match, as
	// '@' and white space do.
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*)://([^:/@\s]*)(:[^@/\s]*)?@`)
	// keyValueSecret matches a password in a key=value connection string (ADO.NET, ODBC,
	// go-mssqldb, URL queries): the value runs to ';', '&' or white space, or is quoted with
	// "...", '...' or {...} (ODBC, "}}" inside) as those formats allow.
	keyValueSecret = regexp.MustCompile(`(?i)\b(password|passwd|pwd|pass|secret)(\s*=\s*)("[^"]*"|'[^']*'|\{(?:[^}]|\}\})*\}|[^;&\s]*)`)
)

// tokenSchemes are the URL schemes whose userinfo without a password is a secret (a NATS
// authentication token), not a user name.
var tokenSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// Redact returns s with the passwords it holds replaced by Redacted: in URLs
// (sqlserver://user:PASS@host, nats://user:PASS@host, nats://TOKEN@host, lists of URLs
// separated by commas) and in key=value connection strings (Password=...; Pwd=...;
// ?password=...). User names, hosts and everything else stay, so that the text still says which
// server is meant. Use it on every connection string or URL that is logged or printed, and on
// error messages that may quote one.
func Redact(s string) string {
	if !strings.ContainsAny(s, "@=") {
		return s
	}
	s = urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		scheme, user, pass := sub[1], sub[2], sub[3]
		switch {
		case pass != "":
			return scheme + "://" + user + ":" + Redacted + "@"
		case tokenSchemes[strings.ToLower(scheme)] && user != "":
			return scheme + "://" + Redacted + "@"
		}
		return m
	})
	return keyValueSecret.ReplaceAllString(s, "${1}${2}"+Redacted)
}
