package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/problem"
)

// Variable is one per-target variable a job declares (msx). Steps use it as $(VAR:NAME) in
// command, database_name and output_file_name, also inside SQL Server Agent's escape macros
// ($(ESCAPE_SQUOTE(VAR:NAME))). Its value for a target is, in this order: the value set for
// the server (`msx var set NAME VALUE --server S`), the value set for one of its groups, the
// Default. The master substitutes it when it builds the target's snapshot.
type Variable struct {
	Name string `json:"name"`
	// Default is the value of targets that have none set; nil: none (such a target does not
	// get the job, and an event names the variable). A secret variable has none: the job
	// document is shown and exported.
	Default *string `json:"default,omitempty"`
	// Secret values are never shown back: "***" in the API, the CLI, audit and events.
	Secret bool `json:"secret,omitempty"`
	// Value is set by Resolve, in a target's snapshot, for secret variables only: the target
	// masks it in step output and error messages (MaskSecrets). A document must not set it.
	Value string `json:"value,omitempty"`
}

// MinSecretLen is the shortest secret value: a shorter one ("1", "yes") could not be masked
// in step output without masking ordinary text.
const MinSecretLen = 4

// MaxVarValueLen bounds a variable's value, in characters (nvarchar(4000), like a parameter).
const MaxVarValueLen = 4000

// Masked is what a secret value is shown as.
const Masked = "***"

// ErrMissingVariable means a job uses a variable that has no value for a target.
var ErrMissingVariable = errors.New("no value for variable")

// varName is a variable name: a letter or '_', then letters, digits and '_', up to 128.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// varRef matches $(VAR:NAME) (name in group 1) and $(MACRO(VAR:NAME)) (macro in group 2, name
// in group 3); the macro is checked by Validate. varStart matches the start of either, so that
// a malformed one is reported rather than passed to the target as text.
var (
	varRef   = regexp.MustCompile(`\$\(VAR:([A-Za-z0-9_]+)\)|\$\(([A-Za-z_]+)\(VAR:([A-Za-z0-9_]+)\)\)`)
	varStart = regexp.MustCompile(`\$\((?:[A-Za-z_]+\()?VAR:`)
)

// refOf returns the macro and the name of a match of varRef.
func refOf(m []string) (macro, name string) {
	if m[1] != "" {
		return "", m[1]
	}
	return m[2], m[3]
}

// varEscapes are SQL Server Agent's escape macros, as the target applies them to its tokens.
var varEscapes = map[string]func(string) string{
	"":                func(s string) string { return s },
	"ESCAPE_NONE":     func(s string) string { return s },
	"ESCAPE_SQUOTE":   func(s string) string { return strings.ReplaceAll(s, "'", "''") },
	"ESCAPE_DQUOTE":   func(s string) string { return strings.ReplaceAll(s, `"`, `""`) },
	"ESCAPE_RBRACKET": func(s string) string { return strings.ReplaceAll(s, "]", "]]") },
}

// VarName returns the canonical (upper-case) form of a variable name, or an error saying what
// is wrong with it.
func VarName(name string) (string, error) {
	if !varName.MatchString(name) {
		return "", fmt.Errorf("variable name %q is invalid: use a letter or '_' followed by up to 127 letters, digits or '_' (such as BACKUP_DIR)", Truncate(name, 40))
	}
	return strings.ToUpper(name), nil
}

// CheckVarValue returns an error saying what is wrong with a variable's value.
func CheckVarValue(v string) error {
	switch {
	case !utf8.ValidString(v):
		return errors.New("the value is not valid UTF-8")
	case utf8.RuneCountInString(v) > MaxVarValueLen:
		return fmt.Errorf("the value has %d characters; the limit is %d", utf8.RuneCountInString(v), MaxVarValueLen)
	case strings.ContainsRune(v, 0):
		return errors.New("the value contains a NUL character")
	case strings.Contains(v, "$("):
		return errors.New("the value contains \"$(\", which the target would read as a token: write it another way")
	}
	return nil
}

// Truncate cuts s to at most n runes, adding "..." when it did.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "..."
}

// varFields returns pointers to the step fields that may use variables.
func varFields(s *Step) []*string { return []*string{&s.Command, &s.DatabaseName, &s.OutputFileName} }

// VarRefs returns the names (canonical) of the variables the job's steps use, sorted, once each.
func (j Job) VarRefs() []string {
	var out []string
	for i := range j.Steps {
		for _, f := range varFields(&j.Steps[i]) {
			for _, m := range varRef.FindAllStringSubmatch(*f, -1) {
				if _, name := refOf(m); !slices.Contains(out, strings.ToUpper(name)) {
					n := strings.ToUpper(name)
					out = append(out, n)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Variable returns the declaration of a variable by name (case-insensitive).
func (j Job) Variable(name string) (Variable, bool) {
	for _, v := range j.Variables {
		if strings.EqualFold(v.Name, name) {
			return v, true
		}
	}
	return Variable{}, false
}

// validateVars reports bad declarations and uses of variables: names, duplicates, defaults,
// macros, and variables used but not declared.
func validateVars(l *problem.List, j Job) {
	seen := map[string]bool{}
	for i, v := range j.Variables {
		at := fmt.Sprintf("variables[%d]", i)
		n, err := VarName(v.Name)
		if err != nil {
			l.Add(at+".name", codeInvalidValue, "%s", err.Error())
			continue
		}
		if seen[n] {
			l.Add(at+".name", codeExists, "variable %s is declared twice: declare each variable once", n)
		}
		seen[n] = true
		if v.Value != "" {
			l.Add(at+".value", codeInvalidValue, "variable %s sets value in the job: values are set per server or group with `msx var set`; the job gives only a default", n)
		}
		if v.Default != nil {
			if err := CheckVarValue(*v.Default); err != nil {
				l.Add(at+".default", codeInvalidValue, "default of variable %s: %s", n, err.Error())
			} else if v.Secret {
				l.Add(at+".default", codeInvalidValue, "secret variable %s has a default: the job document is shown to every viewer and exported, so a secret cannot be in it; set the value with `msx var set %s VALUE --group G --secret` instead", n, n)
			}
		}
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		for k, f := range varFields(s) {
			field := [...]string{"command", "database_name", "output_file_name"}[k]
			at := fmt.Sprintf("steps[%d].%s", i, field)
			ms := varRef.FindAllStringSubmatch(*f, -1)
			if len(varStart.FindAllStringIndex(*f, -1)) != len(ms) {
				l.Add(at, codeInvalidValue, "%s has a malformed variable token: write $(VAR:NAME) or $(ESCAPE_SQUOTE(VAR:NAME)), NAME being letters, digits and '_'", field)
			}
			for _, m := range ms {
				macro, name := refOf(m)
				switch {
				case varEscapes[macro] == nil:
					l.Add(at, codeInvalidValue, "The specified macro '%s' in %s is invalid (valid values are: ESCAPE_NONE, ESCAPE_SQUOTE, ESCAPE_DQUOTE, ESCAPE_RBRACKET)", macro, m[0])
				case !seen[strings.ToUpper(name)]:
					l.Add(at, codeNotExist, "step %d uses variable %s, which the job does not declare: add it under variables: (name: %s, default: ...)", s.StepID, strings.ToUpper(name), strings.ToUpper(name))
				}
			}
		}
	}
}

// Resolve returns the job with every $(VAR:NAME) in its steps replaced by the variable's value
// from values (canonical names), escaped as its macro says; a variable without a value there
// takes its default. A variable with neither is an error wrapping ErrMissingVariable that
// names each such variable. A job that uses no variable is returned as it is.
func (j Job) Resolve(values map[string]string) (Job, error) {
	refs := j.VarRefs()
	if len(refs) == 0 {
		return j, nil
	}
	vals := make(map[string]string, len(refs))
	var missing []string
	for _, n := range refs {
		if v, ok := values[n]; ok {
			vals[n] = v
		} else if d, ok := j.Variable(n); ok && d.Default != nil {
			vals[n] = *d.Default
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return j, fmt.Errorf("%w %s", ErrMissingVariable, strings.Join(missing, ", "))
	}
	c := j.Clone()
	for i, d := range c.Variables {
		if n := strings.ToUpper(d.Name); d.Secret && slices.Contains(refs, n) {
			c.Variables[i].Value = vals[n]
		}
	}
	for i := range c.Steps {
		for _, f := range varFields(&c.Steps[i]) {
			*f = varRef.ReplaceAllStringFunc(*f, func(tok string) string {
				macro, name := refOf(varRef.FindStringSubmatch(tok))
				esc := varEscapes[macro]
				if esc == nil {
					return tok // Validate refuses it; left for the target to report
				}
				return esc(vals[strings.ToUpper(name)])
			})
		}
	}
	return c, nil
}

// SecretValues returns the values MaskSecrets hides: those of secret variables at least
// MinSecretLen long.
func (j Job) SecretValues() []string {
	var vals []string
	for _, v := range j.Variables {
		if v.Secret && len(v.Value) >= MinSecretLen {
			vals = append(vals, v.Value)
		}
	}
	return vals
}

// MaskSecrets replaces, in s, the values of the job's secret variables that Resolve put in its
// snapshot (at least MinSecretLen long) with Masked, longest first.
func (j Job) MaskSecrets(s string) string {
	vals := j.SecretValues()
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, Masked)
	}
	return s
}
