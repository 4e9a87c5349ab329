package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseCases are documents for Parse; FuzzParse starts from them.
var parseCases = []struct {
	name    string
	in      string
	want    func(t *testing.T, j Job) // checks a successful parse
	wantErr error
	inMsg   []string // parts of the error message
}{
	{
		name: "yaml",
		in: `name: Backup
enabled: false
steps:
  - step_id: 1
    step_name: full
    command: BACKUP DATABASE x TO DISK = 'x.bak'
    timeout: 1h30m
    retry_attempts: 2
schedules:
  - name: nightly
    freq_type: 4
    freq_interval: 1
targets:
  servers: [sql01]
  groups: [prod]
`,
		want: func(t *testing.T, j Job) {
			if j.Name != "Backup" || j.IsEnabled() || len(j.Steps) != 1 || j.Steps[0].RetryAttempts != 2 ||
				time.Duration(j.Steps[0].Timeout) != 90*time.Minute || len(j.Schedules) != 1 ||
				j.Schedules[0].FreqType != 4 || j.Targets.Servers[0] != "sql01" || j.Targets.Groups[0] != "prod" {
				t.Errorf("got %+v", j)
			}
		},
	},
	{
		name: "json",
		in:   `{"name":"Backup","steps":[{"step_id":1,"step_name":"full","command":"SELECT 1","timeout":90}]}`,
		want: func(t *testing.T, j Job) {
			if j.Name != "Backup" || len(j.Steps) != 1 || time.Duration(j.Steps[0].Timeout) != 90*time.Second {
				t.Errorf("got %+v", j)
			}
		},
	},
	{
		name: "yaml flow mapping",
		in:   `{name: Backup, steps: [{step_name: s, command: SELECT 1}]}`,
		want: func(t *testing.T, j Job) {
			if j.Name != "Backup" || j.Steps[0].Command != "SELECT 1" {
				t.Errorf("got %+v", j)
			}
		},
	},
	{
		name: "yaml number into string field",
		in:   "name: 2024\nsteps:\n  - step_name: 1\n    command: 42\n",
		want: func(t *testing.T, j Job) {
			if j.Name != "2024" || j.Steps[0].StepName != "1" || j.Steps[0].Command != "42" {
				t.Errorf("got %+v", j)
			}
		},
	},
	{
		name: "byte order mark and document marker",
		in:   "\xef\xbb\xbf---\nname: a\nsteps: [{step_name: s, command: c}]\n...\n",
		want: func(t *testing.T, j Job) {
			if j.Name != "a" {
				t.Errorf("got %+v", j)
			}
		},
	},
	{
		name: "master fields",
		in:   `{"job_id":"7d6c","version_number":3,"name":"a","steps":[{"step_name":"s","command":"c"}]}`,
		want: func(t *testing.T, j Job) {
			if j.JobID != "7d6c" || j.VersionNumber != 3 {
				t.Errorf("got %+v", j)
			}
		},
	},

	{name: "empty", in: "", wantErr: ErrNoDocument},
	{name: "comments only", in: "# nothing\n", wantErr: ErrNoDocument},
	{name: "json null", in: "null", wantErr: ErrNoDocument},
	{name: "two documents", in: "name: a\n---\nname: b\n", wantErr: ErrMultipleDocuments},
	{name: "json array", in: `[{"name":"a"}]`, wantErr: ErrMultipleDocuments},
	{name: "yaml list", in: "- name: a\n", wantErr: ErrMultipleDocuments},
	{name: "scalar", in: "hello", wantErr: ErrNotObject},
	{name: "bad yaml", in: "name: [unclosed\n", wantErr: ErrSyntax},
	{name: "trailing json", in: `{"name":"a"} {"name":"b"}`, wantErr: ErrSyntax},
	{
		name: "unknown job field typo", in: "name: a\ndescripton: x\nsteps: []\n", wantErr: ErrUnknownField,
		inMsg: []string{`descripton: unknown field; did you mean "description"?`},
	},
	{
		name: "unknown step field typo", in: `{"name":"a","steps":[{"step_name":"s","comand":"c"}]}`, wantErr: ErrUnknownField,
		inMsg: []string{`steps[0].comand: unknown field; did you mean "command"?`},
	},
	{
		name: "unknown field alias", in: "job_name: a\nsteps: []\n", wantErr: ErrUnknownField,
		inMsg: []string{`did you mean "name"`},
	},
	{
		name: "unknown field camel case", in: "name: a\nsteps:\n  - stepName: s\n", wantErr: ErrUnknownField,
		inMsg: []string{`did you mean "step_name"`},
	},
	{
		name: "unknown field case", in: "Name: a\nsteps: []\n", wantErr: ErrUnknownField,
		inMsg: []string{`did you mean "name"`},
	},
	{
		name: "unknown field lists fields", in: "name: a\nsteps: []\ntargets:\n  clusters: [x]\n", wantErr: ErrUnknownField,
		inMsg: []string{`targets.clusters: unknown field; the fields of targets are groups, servers`},
	},
	{
		name: "unknown schedule field", in: "name: a\nsteps: []\nschedules:\n  - name: s\n    freq_typ: 4\n", wantErr: ErrUnknownField,
		inMsg: []string{`schedules[0].freq_typ:`, `did you mean "freq_type"`},
	},
	{
		name: "several unknown fields", in: "name: a\nfoo: 1\nsteps:\n  - bar: 2\n", wantErr: ErrUnknownField,
		inMsg: []string{"foo: unknown field; the fields of a job are ", "steps[0].bar: unknown field"},
	},
	{name: "duplicate yaml field", in: "name: a\nname: b\nsteps: []\n", wantErr: ErrDuplicateField},
	{name: "duplicate json field", in: `{"name":"a","name":"b","steps":[]}`, wantErr: ErrDuplicateField, inMsg: []string{"name: duplicate field"}},
	{name: "wrong type", in: `{"name":"a","steps":[{"step_id":"one"}]}`, wantErr: ErrWrongType, inMsg: []string{`steps[0].step_id: wrong type: want an integer, got the string "one"`}},
	{name: "fraction for integer", in: `{"name":"a","steps":[{"retry_attempts":1.5}]}`, wantErr: ErrWrongType, inMsg: []string{"steps[0].retry_attempts"}},
	{name: "object for string", in: "name: {a: 1}\nsteps: []\n", wantErr: ErrWrongType, inMsg: []string{"name: wrong type: want a string, got an object"}},
	{name: "string for boolean", in: `{"name":"a","enabled":"yes","steps":[]}`, wantErr: ErrWrongType, inMsg: []string{"enabled: wrong type: want true or false"}},
	{name: "every wrong type", in: `{"name":1,"enabled":"x","steps":[{"step_id":"a"}]}`, wantErr: ErrWrongType, inMsg: []string{"name:", "enabled:", "steps[0].step_id:"}},
	{name: "wrong type yaml", in: "name: a\nsteps:\n  - retry_attempts: many\n", wantErr: ErrWrongType, inMsg: []string{"steps[0].retry_attempts: wrong type"}},
	{name: "bad duration", in: "name: a\nsteps:\n  - timeout: soon\n", wantErr: ErrWrongType, inMsg: []string{`steps[0].timeout: wrong type: duration "soon"`, "1h30m"}},
	{name: "duration of wrong type", in: "name: a\nsteps:\n  - timeout: [1]\n", wantErr: ErrWrongType, inMsg: []string{"steps[0].timeout: wrong type: want a duration"}},
	{name: "steps not a list", in: "name: a\nsteps: one\n", wantErr: ErrWrongType, inMsg: []string{`steps: wrong type: want a list, got the string "one"`}},
	{name: "step not an object", in: "name: a\nsteps: [one]\n", wantErr: ErrWrongType, inMsg: []string{"steps[0]: wrong type: want an object"}},
	{name: "yaml boolean for string", in: "name: yes\nsteps: []\n", want: func(t *testing.T, j Job) {
		if j.Name != "yes" {
			t.Errorf("name = %q", j.Name)
		}
	}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse([]byte(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, tc.wantErr)
				}
				for _, s := range tc.inMsg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.want(t, j)
		})
	}
}

func TestParseMany(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // job names
		wantErr error
		inMsg   string
	}{
		{name: "one yaml", in: "name: a\nsteps: []\n", want: []string{"a"}},
		{name: "yaml stream", in: "name: a\nsteps: []\n---\nname: b\nsteps: []\n", want: []string{"a", "b"}},
		{name: "leading marker and empty documents", in: "---\n# none\n---\nname: a\nsteps: []\n--- \n...\n---\nname: b\nsteps: []\n", want: []string{"a", "b"}},
		{name: "content after marker", in: "--- {name: a, steps: []}\n--- {name: b, steps: []}\n", want: []string{"a", "b"}},
		{name: "crlf", in: "name: a\r\nsteps: []\r\n---\r\nname: b\r\nsteps: []\r\n", want: []string{"a", "b"}},
		{name: "json array", in: `[{"name":"a","steps":[]},{"name":"b","steps":[]}]`, want: []string{"a", "b"}},
		{name: "json object", in: `{"name":"a","steps":[]}`, want: []string{"a"}},
		{name: "yaml list", in: "- name: a\n  steps: []\n- name: b\n  steps: []\n", want: []string{"a", "b"}},
		{name: "yaml list number name", in: "- name: 2024\n  steps: [{step_name: 1, command: c}]\n", want: []string{"2024"}},
		{name: "json number name", in: `[{"name":2024,"steps":[]}]`, wantErr: ErrWrongType, inMsg: "name: wrong type: want a string, got the number 2024"},
		{name: "list and document", in: "- name: a\n  steps: []\n---\nname: b\nsteps: []\n", want: []string{"a", "b"}},
		{name: "marker inside block scalar", in: "name: a\nsteps:\n  - command: |\n      ---\n      x\n", want: []string{"a"}},

		{name: "empty", in: "", wantErr: ErrNoDocument},
		{name: "empty list", in: "[]", wantErr: ErrNoDocument},
		{name: "error names document", in: "name: a\nsteps: []\n---\nname: b\nbogus: 1\n", wantErr: ErrUnknownField, inMsg: "document 2:"},
		{name: "error names item", in: `[{"name":"a"},{"name":"b","bogus":1}]`, wantErr: ErrUnknownField, inMsg: "document 1, item 1:"},
		{name: "item not object", in: `[{"name":"a"}, 3]`, wantErr: ErrNotObject},
		{name: "syntax in second document", in: "name: a\n---\nname: [\n", wantErr: ErrSyntax, inMsg: "document 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs, ok := parseMany(t, tc.in, tc.wantErr, tc.inMsg)
			if !ok {
				return
			}
			if got := names(jobs); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("names = %q, want %q", got, tc.want)
			}
		})
	}
}

// parseMany runs ParseMany on in. When wantErr is set it checks that the error wraps wantErr
// and contains inMsg, and returns false; otherwise any error fails t.
func parseMany(t testing.TB, in string, wantErr error, inMsg string) ([]Job, bool) {
	t.Helper()
	jobs, err := ParseMany([]byte(in))
	if wantErr != nil {
		if !errors.Is(err, wantErr) || !strings.Contains(err.Error(), inMsg) {
			t.Fatalf("ParseMany error = %v, want %v containing %q", err, wantErr, inMsg)
		}
		return nil, false
	}
	if err != nil {
		t.Fatalf("ParseMany: %v", err)
	}
	return jobs, true
}

func TestParseManyReportsAllErrors(t *testing.T) {
	_, err := ParseMany([]byte("name: a\nfoo: 1\n---\nname: b\nbar: 2\n"))
	for _, s := range []string{"document 1: foo: unknown field", "document 2: bar: unknown field"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not contain %q", err, s)
		}
	}
}

// exampleFiles returns the valid example job documents under testdata.
func exampleFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"testdata/*.yaml", "testdata/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example files, want at least 4", len(files))
	}
	return files
}

func TestExamples(t *testing.T) {
	today := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	for _, file := range exampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			j, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			j.Normalize(today)
			if probs := j.Validate(); len(probs) > 0 {
				t.Fatalf("Validate: %v", probs.Err())
			}
			if !strings.Contains(string(data), "output_file_name") {
				return
			}
			for _, s := range j.Steps {
				if s.OutputFileName != "" && !strings.Contains(s.OutputFileName, "$(ESCAPE_SQUOTE(") {
					t.Errorf("step %q: output_file_name %q lost its tokens", s.StepName, s.OutputFileName)
				}
			}
		})
	}
}

func TestExamplesParseMany(t *testing.T) {
	var all []byte
	files := exampleFiles(t)
	n := 0
	for _, file := range files {
		if filepath.Ext(file) != ".yaml" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, "---\n"...), data...)
		n++
	}
	jobs, err := ParseMany(all)
	if err != nil || len(jobs) != n {
		t.Fatalf("ParseMany of %d examples = %d jobs, %v", n, len(jobs), err)
	}
}
