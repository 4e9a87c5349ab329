package jobs

import (
	"errors"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

func TestValidateVars(t *testing.T) {
	tests := []validateCase{
		{"declared and used", func(j *Job) {
			j.Variables = []Variable{{Name: "Dir", Default: strp("C:\\b")}, {Name: "PW", Secret: true}}
			j.Steps[0].Command = "BACKUP DATABASE x TO DISK = '$(ESCAPE_SQUOTE(VAR:DIR))' -- $(VAR:pw)"
			j.Steps[0].OutputFileName = "$(VAR:DIR)\\out.txt"
		}, "", ""},
		{"bad name", func(j *Job) { j.Variables = []Variable{{Name: "1x"}} }, "variables[0].name", "is invalid"},
		{"declared twice", func(j *Job) { j.Variables = []Variable{{Name: "a"}, {Name: "A"}} }, "variables[1].name", "declared twice"},
		{"bad default", func(j *Job) { j.Variables = []Variable{{Name: "a", Default: strp("$(SRVR)")}} }, "variables[0].default", "read as a token"},
		{"secret default", func(j *Job) { j.Variables = []Variable{{Name: "a", Default: strp("abcdef"), Secret: true}} }, "variables[0].default", "cannot be in it"},
		{"value in a document", func(j *Job) { j.Variables = []Variable{{Name: "a", Value: "x"}} }, "variables[0].value", "msx var set"},
		{"undeclared", func(j *Job) { j.Steps[0].DatabaseName = "$(VAR:DB)" }, "steps[0].database_name", "does not declare"},
		{"unknown macro", func(j *Job) {
			j.Variables = []Variable{{Name: "a"}}
			j.Steps[0].Command = "$(ESCAPE_XML(VAR:a))"
		}, "steps[0].command", "ESCAPE_XML"},
		{"malformed", func(j *Job) {
			j.Variables = []Variable{{Name: "a"}}
			j.Steps[0].Command = "$(ESCAPE_SQUOTE(VAR:a)"
		}, "steps[0].command", "malformed"},
	}
	runValidateCases(t, tests)
}

// validateCase is a change to validJob and the one problem Validate must then report
// (path "": none).
type validateCase struct {
	name   string
	change func(j *Job)
	path   string
	text   string
}

func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.change(&j)
			probs := j.Validate()
			if tc.path == "" {
				if len(probs) != 0 {
					t.Fatalf("Validate = %v, want none", probs)
				}
				return
			}
			if len(probs) != 1 || probs[0].Path != tc.path || !strings.Contains(probs[0].Message, tc.text) {
				t.Fatalf("Validate = %v, want one problem at %s saying %q", probs, tc.path, tc.text)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	j := validJob()
	j.Variables = []Variable{{Name: "DIR", Default: strp("D:\\def")}, {Name: "Who"}}
	j.Steps[0].Command = "PRINT '$(ESCAPE_SQUOTE(VAR:who))'; -- $(VAR:DIR) $(ESCAPE_RBRACKET(VAR:WHO)) $(SRVR) ($(VAR:DIR))"
	j.Steps[0].DatabaseName = "$(VAR:WHO)"
	r, err := j.Resolve(map[string]string{"WHO": "o'b]x"})
	if err != nil {
		t.Fatal(err)
	}
	want := "PRINT 'o''b]x'; -- D:\\def o'b]]x $(SRVR) (D:\\def)"
	if r.Steps[0].Command != want || r.Steps[0].DatabaseName != "o'b]x" {
		t.Fatalf("resolved %q / %q, want %q", r.Steps[0].Command, r.Steps[0].DatabaseName, want)
	}
	if got := r.MaskSecrets("x o'b]x y"); got != "x o'b]x y" {
		t.Errorf("MaskSecrets of a job with no secret: %q", got)
	}
	j.Variables[1].Secret = true
	if r, _ = j.Resolve(map[string]string{"WHO": "o'b]x"}); r.Variables[1].Value != "o'b]x" || r.Variables[0].Value != "" {
		t.Errorf("snapshot variables %+v: want the secret's value only", r.Variables)
	}
	if got := r.MaskSecrets("x o'b]x y"); got != "x *** y" {
		t.Errorf("MaskSecrets: %q", got)
	}
	if !strings.Contains(j.Steps[0].Command, "$(VAR:DIR)") {
		t.Fatal("Resolve changed the job it was given")
	}
	if _, err := j.Resolve(nil); !errors.Is(err, ErrMissingVariable) || !strings.Contains(err.Error(), "WHO") || strings.Contains(err.Error(), "DIR") {
		t.Fatalf("Resolve without WHO: %v", err)
	}
	if got := j.VarRefs(); strings.Join(got, ",") != "DIR,WHO" {
		t.Fatalf("VarRefs = %v", got)
	}
}

func TestVariablesParsed(t *testing.T) {
	j, err := Parse([]byte("name: a\nvariables: [{name: X, default: '1234'}, {name: Y, secret: true}]\nsteps: [{step_name: s, command: 'PRINT $(VAR:X)'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Variables) != 2 || j.Variables[0].Secret || *j.Variables[0].Default != "1234" || !j.Variables[1].Secret || len(j.Validate()) != 0 {
		t.Fatalf("parsed %+v: %v", j.Variables, j.Validate())
	}
	if _, err := Parse([]byte("name: a\nvariables: [{name: X, defualt: '1'}]\nsteps: [{step_name: s, command: c}]\n")); err == nil {
		t.Fatal("a misspelt field of a variable was accepted")
	}
}

// BenchmarkResolve measures what the master pays per target to build a snapshot of a job of
// three steps that uses two variables (b.N resolutions).
func BenchmarkResolve(b *testing.B) {
	j := validJob()
	j.Variables = []Variable{{Name: "DIR", Default: strp(`D:\b`)}, {Name: "WHO"}}
	for len(j.Steps) < 3 {
		j.Steps = append(j.Steps, j.Steps[0])
		j.Steps[len(j.Steps)-1].StepID = len(j.Steps)
	}
	for i := range j.Steps {
		j.Steps[i].Command = "BACKUP DATABASE x TO DISK = N'$(ESCAPE_SQUOTE(VAR:DIR))\\x.bak' -- $(VAR:WHO)"
	}
	vals := map[string]string{"WHO": "o'brien"}
	for b.Loop() {
		if _, err := j.Resolve(vals); err != nil {
			b.Fatal(err)
		}
	}
}
