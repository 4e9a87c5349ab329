package tsql

import (
	"fmt"
	"regexp"
	"strings"
)

// SQLCMD scripting: before T-SQL is read, sqlcmd (and SSMS in SQLCMD mode) runs the lines
// starting with a colon (:setvar NAME "value", :on error exit, ...) and replaces $(NAME) by the
// variable's value, in strings too. SQL Server Agent's tokens look the same ($(JOBID),
// $(ESCAPE_SQUOTE(JOBNAME))) and must reach the step command untouched: a token with a
// parenthesis inside is never a SQLCMD variable, and an Agent token name is replaced only when
// the script or Options define a variable of that name.

// sqlcmdVar matches $(NAME) with a SQLCMD variable name.
var sqlcmdVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_\-]*)\)`)

// sqlcmdCommand matches a line that is a SQLCMD command.
var sqlcmdCommand = regexp.MustCompile(`(?i)^[ \t]*:(setvar|on|r|connect|out|error|exit|quit|listvar|help|reset|ed|serverlist|xml|perftrace|!!)\b(.*)$`)

// setvarArgs matches the arguments of :setvar: a name and a value, quoted or not.
var setvarArgs = regexp.MustCompile(`^[ \t]+([A-Za-z_][A-Za-z0-9_\-]*)(?:[ \t]+(?:"((?:[^"]|"")*)"|([^"\s]\S*)))?[ \t]*$`)

func isSQLCmdName(s string) bool { return sqlcmdVar.MatchString("$("+s+")") && len(s) <= 128 }

// agentTokens are the names of SQL Server Agent's tokens ($(NAME) in a step's command and
// output file).
var agentTokens = []string{"A-DBN", "A-SVR", "A-ERR", "A-SEV", "A-MSG", "DATE", "INST", "JOBID", "JOBNAME", "MACH",
	"MSSA", "OSCMD", "SQLDIR", "SQLLOGDIR", "STEPCT", "STEPID", "SRVR", "TIME", "STRTTM", "STRTDT", "WMI"}

// preprocess runs the SQLCMD commands of a script and replaces its variables. Each command line
// becomes an empty line, so that line numbers stay those of the file.
func preprocess(src string, given map[string]string) (string, []Problem) {
	lines := strings.Split(src, "\n")
	vars := make(map[string]string, len(given))
	for k, v := range given {
		vars[strings.ToUpper(k)] = v
	}
	var problems []Problem
	sqlcmdMode := len(given) > 0
	var st lexState
	for i, l := range lines {
		if !st.inString && st.comment == 0 {
			if m := sqlcmdCommand.FindStringSubmatch(l); m != nil {
				sqlcmdMode = true
				cmd := strings.ToLower(m[1])
				switch cmd {
				case "setvar":
					a := setvarArgs.FindStringSubmatch(strings.TrimRight(m[2], "\r"))
					switch {
					case a == nil:
						problems = append(problems, Problem{i + 1, "the :setvar line cannot be read: write :setvar NAME \"value\""})
					case a[2] == "" && a[3] == "" && !strings.Contains(m[2], `"`):
						delete(vars, strings.ToUpper(a[1])) // :setvar NAME alone removes the variable
					case a[3] != "":
						vars[strings.ToUpper(a[1])] = a[3]
					default:
						vars[strings.ToUpper(a[1])] = strings.ReplaceAll(a[2], `""`, `"`)
					}
				case "on", "error", "out", "listvar", "help", "reset", "serverlist", "xml", "perftrace":
					// They change how sqlcmd reports, not what the script creates.
				default:
					problems = append(problems, Problem{i + 1, fmt.Sprintf("the SQLCMD command :%s is not run: Import reads one script, without connecting or running programs", cmd)})
				}
				lines[i] = ""
				continue
			}
		}
		st.scan(l)
		lines[i] = sqlcmdVar.ReplaceAllStringFunc(l, func(tok string) string {
			name := strings.ToUpper(tok[2 : len(tok)-1])
			if v, ok := vars[name]; ok {
				return v
			}
			if sqlcmdMode && !containsFold(agentTokens, name) {
				problems = append(problems, Problem{i + 1, fmt.Sprintf("the SQLCMD variable %s is not defined: give --var %s=VALUE (or :setvar %s in the script); $(%s) is left as it is",
					tok[2:len(tok)-1], tok[2:len(tok)-1], tok[2:len(tok)-1], tok[2:len(tok)-1])})
			}
			return tok
		})
	}
	return strings.Join(lines, "\n"), problems
}

// lexState follows strings and /* */ comments across lines, so that a line starting with a
// colon inside a string (a step command) or a comment is not taken for a SQLCMD command.
type lexState struct {
	inString bool
	comment  int
}

// scan moves the state over one line (without its line break).
func (s *lexState) scan(line string) {
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case s.inString:
			if c == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
				} else {
					s.inString = false
				}
			}
		case s.comment > 0:
			if c == '*' && i+1 < len(line) && line[i+1] == '/' {
				s.comment--
				i++
			} else if c == '/' && i+1 < len(line) && line[i+1] == '*' {
				s.comment++
				i++
			}
		case c == '-' && i+1 < len(line) && line[i+1] == '-':
			return
		case c == '/' && i+1 < len(line) && line[i+1] == '*':
			s.comment++
			i++
		case c == '\'':
			s.inString = true
		}
	}
}
