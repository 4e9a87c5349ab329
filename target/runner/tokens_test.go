package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

var tokenVals = map[string]string{
	"JOBNAME": `O'Brien "nightly" [x]`,
	"STEPID":  "2",
	"SRVR":    `SQL01\SALES`,
	"EMPTY":   "",
}

var expandTests = []struct {
	name string
	in   string
	want string
	err  error
}{
	{name: "no tokens", in: "SELECT 1", want: "SELECT 1"},
	{name: "plain", in: "step $(STEPID) on $(SRVR)", want: `step 2 on SQL01\SALES`},
	{name: "escape none", in: "$(ESCAPE_NONE(JOBNAME))", want: `O'Brien "nightly" [x]`},
	{name: "escape squote", in: "N'$(ESCAPE_SQUOTE(JOBNAME))'", want: `N'O''Brien "nightly" [x]'`},
	{name: "escape dquote", in: `"$(ESCAPE_DQUOTE(JOBNAME))"`, want: `"O'Brien ""nightly"" [x]"`},
	{name: "escape rbracket", in: "[$(ESCAPE_RBRACKET(JOBNAME))]", want: `[O'Brien "nightly" [x]]]`},
	{name: "empty value", in: "a$(EMPTY)b", want: "ab"},
	{name: "adjacent", in: "$(STEPID)$(STEPID)", want: "22"},
	{name: "value not re-expanded", in: "$(X)", want: "$(STEPID)"},
	{name: "powershell subexpression is not a token", in: "$(Get-Date) $($x) $( STEPID )", want: "$(Get-Date) $($x) $( STEPID )"},
	{name: "lower case is not a token", in: "$(stepid)", want: "$(stepid)"},
	{name: "unterminated", in: "$(STEPID", want: "$(STEPID"},
	{name: "unterminated macro", in: "$(ESCAPE_NONE(STEPID)", want: "$(ESCAPE_NONE(STEPID)"},
	{name: "dollar alone", in: "$ $$ $(", want: "$ $$ $("},
	{name: "unknown token", in: "$(A-DBN) $(STEPID)", want: "$(A-DBN) 2", err: ErrUnknownToken},
	{name: "unknown macro", in: "$(ESCAPE_XML(STEPID))", want: "$(ESCAPE_XML(STEPID))", err: ErrUnknownToken},
	{name: "unknown in macro", in: "$(ESCAPE_NONE(NOPE))", want: "$(ESCAPE_NONE(NOPE))", err: ErrUnknownToken},
}

func TestExpandTokens(t *testing.T) {
	vals := map[string]string{"X": "$(STEPID)"}
	for k, v := range tokenVals {
		vals[k] = v
	}
	for _, tt := range expandTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandTokens(tt.in, vals)
			if got != tt.want {
				t.Errorf("ExpandTokens(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("error = %v, want %v", err, tt.err)
			}
		})
	}
}

func FuzzExpandTokens(f *testing.F) {
	for _, tt := range expandTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ExpandTokens(s, tokenVals)
		if err != nil && !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("ExpandTokens(%q) error %v does not wrap ErrUnknownToken", s, err)
		}
		if !strings.Contains(s, "$(") && got != s {
			t.Fatalf("ExpandTokens(%q) = %q; text without tokens must not change", s, got)
		}
		// With no values, every token is unknown and the text is left as it is.
		if got, _ := ExpandTokens(s, nil); got != s {
			t.Fatalf("ExpandTokens(%q, nil) = %q; unknown tokens must be left as they are", s, got)
		}
	})
}

func TestJobIDToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"6F9619FF-8B86-D011-B42D-00C04FC964FF", "0xFF19966F868B11D0B42D00C04FC964FF"},
		{"{6f9619ff-8b86-d011-b42d-00c04fc964ff}", "0xFF19966F868B11D0B42D00C04FC964FF"},
		{"not-a-guid", "not-a-guid"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := JobIDToken(tt.in); got != tt.want {
			t.Errorf("JobIDToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRunTokens(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts at 2000-01-01 00:00:00 UTC; the target is two hours ahead.
		zone := time.FixedZone("EET", 2*3600)
		s := steps(2)
		s[0].OnSuccessAction, s[0].OnSuccessStepID = jobs.ActionGoToStep, 2
		s[1].OnSuccessAction, s[1].OnSuccessStepID = jobs.ActionGoToStep, 1
		s[0].Command = "$(JOBID)|$(STEPID)|$(STEPCT)|$(SRVR)|$(INST)|$(MACH)|$(ESCAPE_SQUOTE(JOBNAME))|" +
			"$(DATE)|$(TIME)|$(STRTDT)|$(STRTTM)|$(SQLDIR)|$(SQLLOGDIR)"
		s[1].Command = "$(STEPCT)"
		s[1].OutputFileName = filepath.Join(dir, "$(ESCAPE_SQUOTE(JOBNAME))", "$(ESCAPE_NONE(STEPID))_$(STEPCT).txt")
		s[1].Subsystem = jobs.SubsystemCmdExec
		f := &fakeExecutor{script: map[int][]fakeAttempt{1: {{wait: time.Hour}}, 2: {{output: "hello"}}}}
		r := newFakeRunner(f, Config{Location: zone, MaxStepRuns: 4, SQLDir: `C:\SQL`, SQLLogDir: `C:\SQL\Log`})
		job := jobs.Job{JobID: "6F9619FF-8B86-D011-B42D-00C04FC964FF", Name: "Ola's", Steps: s}
		out := r.Run(t.Context(), job, RunInfo{})

		cmds := f.commands()
		want := []string{
			`0xFF19966F868B11D0B42D00C04FC964FF|1|1|SQL01\SALES|SALES|SQL01|Ola''s|20000101|020000|20000101|020000|C:\SQL|C:\SQL\Log`,
			"1",
			`0xFF19966F868B11D0B42D00C04FC964FF|1|2|SQL01\SALES|SALES|SQL01|Ola''s|20000101|030000|20000101|020000|C:\SQL|C:\SQL\Log`,
			"2",
		}
		if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
			t.Errorf("commands =\n%s\nwant\n%s", strings.Join(cmds, "\n"), strings.Join(want, "\n"))
		}
		if out.Status != fail || !errors.Is(out.Cause, ErrStepLimit) {
			t.Errorf("status = %v, cause %v; want the loop guard", out.Status, out.Cause)
		}
		for _, name := range []string{"2_1.txt", "2_2.txt"} {
			b, err := os.ReadFile(filepath.Join(dir, "Ola''s", name))
			if err != nil || string(b) != "hello" {
				t.Errorf("output file %s = %q, %v; want hello", name, b, err)
			}
		}
	})
}
