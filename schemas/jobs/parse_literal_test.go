package jobs

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// literalCases are documents whose string fields hold plain scalars that YAML 1.1 would read as
// numbers, booleans or special floats, and whose integer fields hold numbers that it would read
// in another base; FuzzParse starts from them too.
var literalCases = []struct {
	name    string
	in      string
	want    func(t *testing.T, jobs []Job) // checks a successful parse
	wantErr error
	inMsg   string // part of the error message
}{
	{name: "leading zeros", in: "name: 0001\nsteps: []\n", want: wantName("0001")},
	{name: "octal", in: "name: 012\nsteps: []\n", want: wantName("012")},
	{name: "hexadecimal", in: "name: 0x1F\nsteps: []\n", want: wantName("0x1F")},
	{name: "exponent", in: "name: 1e3\nsteps: []\n", want: wantName("1e3")},
	{name: "underscore", in: "name: 1_000\nsteps: []\n", want: wantName("1_000")},
	{name: "trailing zero", in: "name: 1.10\nsteps: []\n", want: wantName("1.10")},
	{name: "yes", in: "name: yes\nsteps: []\n", want: wantName("yes")},
	{name: "infinity", in: "name: .inf\nsteps: []\n", want: wantName(".inf")},
	{name: "not a number", in: "name: .NaN\nsteps: []\n", want: wantName(".NaN")},
	{name: "base 60", in: "name: 1:30\nsteps: []\n", want: wantName("1:30")},
	{name: "timestamp", in: "name: 2026-03-01\nsteps: []\n", want: wantName("2026-03-01")},
	{name: "empty is null", in: "name:\nsteps: []\n", want: wantName("")},
	{name: "tilde is null", in: "name: ~\nsteps: []\n", want: wantName("")},
	{name: "double quoted", in: "name: \"0001\"\nsteps: []\n", want: wantName("0001")},
	{name: "single quoted", in: "name: '0x1F'\nsteps: []\n", want: wantName("0x1F")},
	{name: "block scalar", in: "name: |-\n  1.10\nsteps: []\n", want: wantName("1.10")},
	{name: "folded plain scalar", in: "name: 1.10\n  off\nsteps: []\n", want: wantName("1.10 off")},
	{
		name: "step command",
		in:   "name: a\nsteps:\n  - step_name: 007\n    command: 00.50\n",
		want: func(t *testing.T, jobs []Job) {
			if s := jobs[0].Steps[0]; s.StepName != "007" || s.Command != "00.50" {
				t.Errorf("step_name = %q, command = %q, want \"007\" and \"00.50\"", s.StepName, s.Command)
			}
		},
	},
	{
		name: "integer boolean and duration fields",
		in:   "name: a\nenabled: no\nsteps:\n  - command: c\n    retry_attempts: 3\n    timeout: 90\n  - command: d\n    timeout: 90s\n",
		want: func(t *testing.T, jobs []Job) {
			j := jobs[0]
			if j.IsEnabled() || j.Steps[0].RetryAttempts != 3 || time.Duration(j.Steps[0].Timeout) != 90*time.Second ||
				time.Duration(j.Steps[1].Timeout) != 90*time.Second {
				t.Errorf("enabled = %v, retry_attempts = %d, timeouts = %v and %v, want false, 3, 1m30s and 1m30s",
					j.IsEnabled(), j.Steps[0].RetryAttempts, time.Duration(j.Steps[0].Timeout), time.Duration(j.Steps[1].Timeout))
			}
		},
	},
	{
		name: "lists of strings",
		in:   "name: a\nsteps: []\ntargets:\n  servers: [0001, on]\nvariables:\n  - name: V\n    default: 1.50\n",
		want: func(t *testing.T, jobs []Job) {
			j := jobs[0]
			if len(j.Targets.Servers) != 2 || j.Targets.Servers[0] != "0001" || j.Targets.Servers[1] != "on" ||
				j.Variables[0].Default == nil || *j.Variables[0].Default != "1.50" {
				t.Errorf("servers = %q, variables = %+v", j.Targets.Servers, j.Variables)
			}
		},
	},
	{
		name: "schedule",
		in:   "name: a\nsteps: []\nschedules:\n  - name: 0600\n    freq_type: 4\n    cron: 0 6 * * *\n",
		want: func(t *testing.T, jobs []Job) {
			s := jobs[0].Schedules[0]
			if s.Name != "0600" || s.FreqType != 4 || s.Cron != "0 6 * * *" {
				t.Errorf("schedule = %+v, want name \"0600\", freq_type 4, cron \"0 6 * * *\"", s)
			}
		},
	},
	{
		name: "integers with leading zeros are decimal",
		in: "name: a\nsteps:\n  - step_id: 01\n    command: c\n    retry_attempts: 010\n    retry_interval: +08\n    cmdexec_success_code: -010\n" +
			"    timeout: 010\nschedules:\n  - name: s\n    freq_type: 0004\n    active_start_time: 060000\n    active_end_time: 000000\n",
		want: func(t *testing.T, jobs []Job) {
			st, sc := jobs[0].Steps[0], jobs[0].Schedules[0]
			got := []int{st.StepID, st.RetryAttempts, st.RetryInterval, st.CmdExecSuccessCode, int(time.Duration(st.Timeout) / time.Second),
				sc.FreqType, sc.ActiveStartTime, sc.ActiveEndTime}
			want := []int{1, 10, 8, -10, 10, 4, 60000, 0}
			if !slices.Equal(got, want) {
				t.Errorf("step_id, retry_attempts, retry_interval, cmdexec_success_code, timeout, freq_type, active_start_time, active_end_time = %v, want %v", got, want)
			}
		},
	},
	{
		name: "explicit integer tag keeps YAML's base",
		in:   "name: a\nsteps:\n  - command: c\n    retry_attempts: !!int 010\n",
		want: func(t *testing.T, jobs []Job) {
			if got := jobs[0].Steps[0].RetryAttempts; got != 8 {
				t.Errorf("retry_attempts = %d, want 8 (the author asked for YAML's octal)", got)
			}
		},
	},
	{
		name: "alias with leading zeros into string and integer fields",
		in:   "name: a\nsteps:\n  - step_name: &n 010\n    retry_attempts: *n\n",
		want: func(t *testing.T, jobs []Job) {
			if s := jobs[0].Steps[0]; s.StepName != "010" || s.RetryAttempts != 10 {
				t.Errorf("step_name = %q, retry_attempts = %d, want \"010\" and 10", s.StepName, s.RetryAttempts)
			}
		},
	},
	{
		name:    "hexadecimal integer refused",
		in:      "name: a\nsteps:\n  - command: c\n    step_id: 0x1F\n",
		wantErr: ErrWrongType, inMsg: "line 4: step_id: wrong type: 0x1F is not a whole number in decimal; write the number in decimal digits",
	},
	{
		name:    "octal integer refused",
		in:      "name: a\nsteps:\n  - command: c\n    retry_attempts: 0o17\n",
		wantErr: ErrWrongType, inMsg: "line 4: retry_attempts: wrong type: 0o17 is not",
	},
	{
		name:    "binary integer refused",
		in:      "name: a\nsteps: []\nschedules:\n  - {name: s, freq_interval: 0b11}\n",
		wantErr: ErrWrongType, inMsg: "line 4: freq_interval: wrong type: 0b11 is not",
	},
	{
		name:    "exponent refused",
		in:      "name: a\nsteps:\n  - command: c\n    retry_interval: 1e3\n",
		wantErr: ErrWrongType, inMsg: "line 4: retry_interval: wrong type: 1e3 is not",
	},
	{
		name:    "underscore refused",
		in:      "name: a\nnotify_after_failures: 1_000\nsteps: []\n",
		wantErr: ErrWrongType, inMsg: "line 2: notify_after_failures: wrong type: 1_000 is not",
	},
	{
		name:    "fraction refused",
		in:      "name: a\nsteps: []\nschedules:\n  - name: s\n    active_start_time: 6.0\n",
		wantErr: ErrWrongType, inMsg: "line 5: active_start_time: wrong type: 6.0 is not",
	},
	{
		name:    "every refused integer reported",
		in:      "name: a\nsteps:\n  - command: c\n    step_id: 0x1\n    retry_attempts: 1e1\n",
		wantErr: ErrWrongType, inMsg: "step_id: wrong type: 0x1 is not a whole number in decimal; write the number in decimal digits\nline 5: retry_attempts",
	},
	{
		name:    "refused in a later document",
		in:      "name: a\nsteps: []\n---\nname: b\nsteps: [{command: c, retry_attempts: 0x2}]\n",
		wantErr: ErrWrongType, inMsg: "document 2: line 3: retry_attempts: wrong type: 0x2 is not",
	},
	{
		name: "alias into string and integer fields",
		in:   "name: a\nsteps:\n  - step_name: &n 10\n    retry_attempts: *n\n  - step_name: *n\n    command: c\n",
		want: func(t *testing.T, jobs []Job) {
			s := jobs[0].Steps
			if s[0].StepName != "10" || s[0].RetryAttempts != 10 || s[1].StepName != "10" {
				t.Errorf("steps = %+v, want step names \"10\" and retry_attempts 10", s)
			}
		},
	},
	{
		name: "merge key",
		in:   "name: a\nsteps:\n  - &s {step_name: 01, command: 1.0}\n  - <<: *s\n    retry_attempts: 2\n",
		want: func(t *testing.T, jobs []Job) {
			s := jobs[0].Steps
			if len(s) != 2 || s[0].StepName != "01" || s[1].StepName != "01" || s[1].Command != "1.0" || s[1].RetryAttempts != 2 {
				t.Errorf("steps = %+v", s)
			}
		},
	},
	{
		name: "list of jobs",
		in:   "- name: 0001\n  steps: [{step_name: yes, command: 1e3}]\n- name: 1.10\n  steps: []\n",
		want: func(t *testing.T, jobs []Job) {
			if len(jobs) != 2 || jobs[0].Name != "0001" || jobs[0].Steps[0].StepName != "yes" ||
				jobs[0].Steps[0].Command != "1e3" || jobs[1].Name != "1.10" {
				t.Errorf("jobs = %+v", jobs)
			}
		},
	},
	{
		name: "stream of documents",
		in:   "name: 0001\nsteps: []\n---\nname: 0x1F\nsteps: []\n",
		want: func(t *testing.T, jobs []Job) {
			if len(jobs) != 2 || jobs[0].Name != "0001" || jobs[1].Name != "0x1F" {
				t.Errorf("jobs = %+v", jobs)
			}
		},
	},
	{
		name: "backslashes and tokens",
		in:   "name: a\nsteps:\n  - command: c\n    output_file_name: C:\\Logs\\$(ESCAPE_SQUOTE(JOBID)) \"x\".txt\n",
		want: func(t *testing.T, jobs []Job) {
			if got := jobs[0].Steps[0].OutputFileName; got != `C:\Logs\$(ESCAPE_SQUOTE(JOBID)) "x".txt` {
				t.Errorf("output_file_name = %q", got)
			}
		},
	},
	{
		name:    "unknown key as written",
		in:      "name: a\nsteps: []\non: 1\n",
		wantErr: ErrUnknownField, inMsg: "on: unknown field",
	},
	{
		name:    "duplicate field gives the line as written",
		in:      "# backup\n\nname: 0001\n\nsteps: []\nname: 0002\n",
		wantErr: ErrDuplicateField, inMsg: "line 6",
	},
	{
		name:    "syntax error gives the line as written",
		in:      "name: 0001\n\n\nsteps: [\n",
		wantErr: ErrSyntax, inMsg: "line 4",
	},
	{
		name:    "wrong type still reported",
		in:      "name: 0001\nsteps:\n  - retry_attempts: 0x1G\n",
		wantErr: ErrWrongType, inMsg: `steps[0].retry_attempts: wrong type: want an integer, got the string "0x1G"`,
	},
	{
		name:    "object for string still reported",
		in:      "name: {first: 0001}\nsteps: []\n",
		wantErr: ErrWrongType, inMsg: "name: wrong type: want a string, got an object",
	},
	{
		name: "json unchanged",
		in:   `{"name":"0001","steps":[{"command":"00.50","retry_attempts":3}]}`,
		want: func(t *testing.T, jobs []Job) {
			if j := jobs[0]; j.Name != "0001" || j.Steps[0].Command != "00.50" || j.Steps[0].RetryAttempts != 3 {
				t.Errorf("job = %+v", j)
			}
		},
	},
}

func wantName(name string) func(t *testing.T, jobs []Job) {
	return func(t *testing.T, jobs []Job) {
		t.Helper()
		if len(jobs) != 1 || jobs[0].Name != name {
			t.Errorf("names = %q, want [%q]", names(jobs), name)
		}
	}
}

func TestParseKeepsLiteral(t *testing.T) {
	for _, tc := range literalCases {
		t.Run(tc.name, func(t *testing.T) {
			jobs, ok := parseMany(t, tc.in, tc.wantErr, tc.inMsg)
			if !ok {
				return
			}
			tc.want(t, jobs)
		})
	}
}

// TestExportKeepsLiteral checks that a job exported as YAML, as `msx job export` writes it,
// reads back the same: the writer quotes what the reader would otherwise convert.
func TestExportKeepsLiteral(t *testing.T) {
	for _, tc := range literalCases {
		if tc.wantErr != nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			jobs, _ := parseMany(t, tc.in, nil, "")
			for _, j := range jobs {
				exported, err := yaml.Marshal(j)
				if err != nil {
					t.Fatalf("export: %v", err)
				}
				back, err := Parse(exported)
				if err != nil {
					t.Fatalf("Parse of the export %s: %v", exported, err)
				}
				want, _ := json.Marshal(j)
				got, _ := json.Marshal(back)
				if !bytes.Equal(got, want) {
					t.Errorf("export %s reads back as %s, want %s", exported, got, want)
				}
			}
		})
	}
}

func names(jobs []Job) []string {
	var n []string
	for _, j := range jobs {
		n = append(n, j.Name)
	}
	return n
}
