package runner

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// Token names ExpandTokens is given by the Runner.
const (
	TokenJobID     = "JOBID"
	TokenStepID    = "STEPID"
	TokenStepCount = "STEPCT"
	TokenServer    = "SRVR"
	TokenInstance  = "INST"
	TokenMachine   = "MACH"
	TokenJobName   = "JOBNAME"
	TokenDate      = "DATE"
	TokenTime      = "TIME"
	TokenStartDate = "STRTDT"
	TokenStartTime = "STRTTM"
	TokenLogDir    = "SQLLOGDIR"
	TokenSQLDir    = "SQLDIR"
)

// escapes are SQL Server Agent's token macros.
var escapes = map[string]func(string) string{
	"ESCAPE_NONE":     func(s string) string { return s },
	"ESCAPE_SQUOTE":   func(s string) string { return strings.ReplaceAll(s, "'", "''") },
	"ESCAPE_DQUOTE":   func(s string) string { return strings.ReplaceAll(s, `"`, `""`) },
	"ESCAPE_RBRACKET": func(s string) string { return strings.ReplaceAll(s, "]", "]]") },
}

// ExpandTokens replaces SQL Server Agent tokens in s with their values in vals: $(NAME) and
// $(MACRO(NAME)), where MACRO is ESCAPE_NONE, ESCAPE_SQUOTE (doubles '), ESCAPE_DQUOTE
// (doubles ") or ESCAPE_RBRACKET (doubles ]). The escaping applies to the value only.
//
// A token name is an upper-case ASCII letter followed by upper-case letters, digits, '-' and
// '_', matched case-sensitively as SQL Server Agent does. Text that does not have that form is
// not a token and is left alone, so PowerShell's $(Get-Date) and $($x) pass through (SQL Server
// Agent rejects them).
//
// A token of that form whose name is not in vals, or whose macro is not one of the four, is
// left as it is, and ExpandTokens returns an error wrapping ErrUnknownToken that names each
// such token. The Runner then fails the step without running it, as SQL Server Agent does
// ("Variable A-DBN not found"), rather than run a command with a token in it.
func ExpandTokens(s string, vals map[string]string) (string, error) {
	if !strings.Contains(s, "$(") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var unknown []string
	for {
		i := strings.Index(s, "$(")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		tok, n, ok := parseToken(s[i:])
		if !ok {
			b.WriteString("$(")
			s = s[i+2:]
			continue
		}
		v, known := vals[tok.name]
		esc, knownMacro := escapes[tok.macro]
		if tok.macro == "" {
			esc, knownMacro = escapes["ESCAPE_NONE"], true
		}
		if known && knownMacro {
			b.WriteString(esc(v))
		} else {
			b.WriteString(s[i : i+n])
			if !slices.Contains(unknown, s[i:i+n]) {
				unknown = append(unknown, s[i:i+n])
			}
		}
		s = s[i+n:]
	}
	if len(unknown) > 0 {
		return b.String(), fmt.Errorf("%w: %s", ErrUnknownToken, strings.Join(unknown, ", "))
	}
	return b.String(), nil
}

type token struct{ macro, name string }

// parseToken reads "$(NAME)" or "$(MACRO(NAME))" at the start of s and returns the token and
// its length.
func parseToken(s string) (token, int, bool) {
	i := 2 // past "$("
	first := tokenName(s[i:])
	if first == 0 {
		return token{}, 0, false
	}
	name := s[i : i+first]
	i += first
	if i < len(s) && s[i] == ')' {
		return token{name: name}, i + 1, true
	}
	if i >= len(s) || s[i] != '(' {
		return token{}, 0, false
	}
	i++
	second := tokenName(s[i:])
	if second == 0 {
		return token{}, 0, false
	}
	inner := s[i : i+second]
	i += second
	if !strings.HasPrefix(s[i:], "))") {
		return token{}, 0, false
	}
	return token{macro: name, name: inner}, i + 2, true
}

// tokenName returns the length of the token name at the start of s, 0 when there is none.
func tokenName(s string) int {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return 0
	}
	n := 1
	for n < len(s) {
		c := s[n]
		if ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_' || c == '-' {
			n++
			continue
		}
		break
	}
	return n
}

// tokenValues returns the values of the tokens for one attempt of step.
func (r *Runner) tokenValues(job jobs.Job, step jobs.Step, stepCount int, start, now time.Time) map[string]string {
	machine, instance, _ := strings.Cut(r.cfg.Server, `\`)
	start, now = start.In(r.loc), now.In(r.loc)
	return map[string]string{
		TokenJobID:     JobIDToken(job.JobID),
		TokenStepID:    strconv.Itoa(step.StepID),
		TokenStepCount: strconv.Itoa(stepCount),
		TokenServer:    r.cfg.Server,
		TokenInstance:  instance,
		TokenMachine:   machine,
		TokenJobName:   job.Name,
		TokenDate:      fmt.Sprintf("%08d", jobs.DateInt(now)),
		TokenTime:      fmt.Sprintf("%06d", jobs.TimeInt(now)),
		TokenStartDate: fmt.Sprintf("%08d", jobs.DateInt(start)),
		TokenStartTime: fmt.Sprintf("%06d", jobs.TimeInt(start)),
		TokenLogDir:    r.cfg.SQLLogDir,
		TokenSQLDir:    r.cfg.SQLDir,
	}
}

// JobIDToken returns the value of the JOBID token for a job id, as SQL Server Agent writes it:
// "0x" and the 16 bytes of the uniqueidentifier in SQL Server's byte order (the first three
// groups byte-swapped, as CONVERT(binary(16), job_id) gives them), upper-case hex. So job id
// 6F9619FF-8B86-D011-B42D-00C04FC964FF becomes 0xFF19966F868B11D0B42D00C04FC964FF, the same
// string SQL Server Agent puts in Ola Hallengren's output file names. A job id that is not a
// GUID is returned as it is.
func JobIDToken(jobID string) string {
	h := strings.ReplaceAll(strings.Trim(jobID, "{}"), "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return jobID
	}
	slices.Reverse(b[0:4])
	slices.Reverse(b[4:6])
	slices.Reverse(b[6:8])
	return "0x" + strings.ToUpper(hex.EncodeToString(b))
}
