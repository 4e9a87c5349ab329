package target

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
)

func TestCheckJobCredentials(t *testing.T) {
	proxies := map[string]Proxy{"ETL": {Env: map[string]string{"K": "v"}}}
	profiles := map[string]ConnectionProfile{"warehouse": {DSN: "sqlserver://u:p@dw01"}}
	cmdexec := func(proxy string) jobs.Job {
		return jobs.Job{Name: "j", Steps: []jobs.Step{
			{StepID: 1, StepName: "plain", Subsystem: jobs.SubsystemCmdExec, Command: "true"},
			{StepID: 2, StepName: "export", Subsystem: jobs.SubsystemCmdExec, Command: "true", ProxyName: proxy}}}
	}
	tsql := func(profile string) jobs.Job {
		return jobs.Job{Name: "j", Steps: []jobs.Step{{StepID: 1, StepName: "load", Command: "SELECT 1", ConnectionProfile: profile}}}
	}
	cases := []struct {
		name  string
		cfg   Config
		job   jobs.Job
		msdb  bool
		code  int
		start string // the message starts with MSX's text
		has   string
	}{
		{"no proxy, matching disabled", Config{}, cmdexec(""), false, 0, "", ""},
		{"matching disabled", Config{Proxies: proxies}, cmdexec("etl"), false, CodeProxyMatching,
			"The job step requires a proxy account, however proxy matching is disabled on the target server.", "--allow-proxy-matching"},
		{"not found", Config{AllowProxyMatching: true, Proxies: proxies}, cmdexec("loader"), false, CodeProxyNotFound,
			"Proxy not found.", "Step 2 (export) names proxy 'loader'"},
		{"no proxies at all", Config{AllowProxyMatching: true}, cmdexec("etl"), false, CodeProxyNotFound, "Proxy not found.", ""},
		{"found, other case", Config{AllowProxyMatching: true, Proxies: proxies}, cmdexec("etl"), false, 0, "", ""},
		{"msdb mode, matching disabled", Config{}, cmdexec("etl"), true, CodeProxyMatching, "The job step requires a proxy account", ""},
		{"msdb mode resolves proxies in msdb", Config{AllowProxyMatching: true}, cmdexec("etl"), true, 0, "", ""},
		{"profile found", Config{ConnectionProfiles: profiles}, tsql("Warehouse"), false, 0, "", ""},
		{"profile not found", Config{ConnectionProfiles: profiles}, tsql("crm"), false, CodeProfileNotFound,
			"Connection profile not found.", "'crm'"},
		{"profile in msdb mode", Config{ConnectionProfiles: profiles}, tsql("warehouse"), true, CodeProfileNotFound,
			"Connection profile not found.", "msdb mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJobCredentials(&tc.cfg, tc.job, tc.msdb)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, ErrProxy) {
				t.Fatalf("got %v, want an error matching ErrProxy", err)
			}
			be, ok := errors.AsType[*schemas.Error](err)
			if !ok || be.Code != tc.code {
				t.Fatalf("got %#v, want code %d", err, tc.code)
			}
			if !strings.HasPrefix(be.Message, tc.start) || !strings.Contains(be.Message, tc.has) {
				t.Errorf("message %q: want it to start with %q and hold %q", be.Message, tc.start, tc.has)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("valid", func(t *testing.T) {
		c, err := LoadCredentials(write("ok.yaml", `
proxies:
  etl:
    os_user: nobody
    env: {DW_PASSWORD: "hunter22", DW_USER: etl}
connection_profiles:
  warehouse:
    dsn: sqlserver://etl:hunter22@dw01:1433
`))
		if err != nil {
			t.Fatal(err)
		}
		if c.Proxies["etl"].OSUser != "nobody" || c.Proxies["etl"].Env["DW_PASSWORD"] != "hunter22" ||
			c.ConnectionProfiles["warehouse"].DSN != "sqlserver://etl:hunter22@dw01:1433" {
			t.Errorf("loaded %+v", c)
		}
	})
	bad := []struct{ name, text, has string }{
		{"unknown key", "proxies:\n  etl:\n    os_usr: nobody\n", "os_usr"},
		{"not a map", "proxies: [password=hunter22]\n", "proxies file"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadCredentials(write(tc.name+".yaml", tc.text))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.has) || strings.Contains(err.Error(), "hunter22") {
				t.Errorf("got %v; want ErrConfig naming %q, without the secret", err, tc.has)
			}
		})
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckCredentials(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		has  string
	}{
		{"ok", Config{Proxies: map[string]Proxy{"etl": {OSUser: "nobody", Env: map[string]string{"A": "b"}}},
			ConnectionProfiles: map[string]ConnectionProfile{"dw": {DSN: "sqlserver://u:p@dw01"}}}, ""},
		{"unknown account", Config{Proxies: map[string]Proxy{"etl": {OSUser: "no-such-user-msx"}}}, "no-such-user-msx"},
		{"names differ in case", Config{Proxies: map[string]Proxy{"etl": {}, "ETL": {}}}, "differ only in case"},
		{"empty name", Config{Proxies: map[string]Proxy{" ": {}}}, "1 to 128"},
		{"bad env name", Config{Proxies: map[string]Proxy{"etl": {Env: map[string]string{"A=B": "x"}}}}, "not valid"},
		{"bad dsn keeps its password", Config{ConnectionProfiles: map[string]ConnectionProfile{"dw": {DSN: "sqlserver://u:hunter22@dw01:port"}}}, "sqlserver://user:password@"},
		{"ado dsn", Config{ConnectionProfiles: map[string]ConnectionProfile{"dw": {DSN: "server=dw01;password=hunter22"}}}, "dsn must look like"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCredentials(&tc.cfg)
			if tc.has == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.has) || strings.Contains(err.Error(), "hunter22") {
				t.Errorf("got %v; want ErrConfig holding %q and no secret", err, tc.has)
			}
		})
	}
}

// cmdExecutors returns the agent's CmdExec executor wrapped for cfg's proxies.
func cmdExecutor(t *testing.T, cfg *Config) runner.Executor {
	t.Helper()
	ex := map[string]runner.Executor{jobs.SubsystemCmdExec: &runner.CmdExecExecutor{Dir: t.TempDir()}}
	withCredentials(cfg, ex, &profilePools{})
	return ex[jobs.SubsystemCmdExec]
}

func cmdReq(command, proxy string) runner.Request {
	return runner.Request{Step: jobs.Step{StepID: 1, StepName: "s", Subsystem: jobs.SubsystemCmdExec, Command: command, ProxyName: proxy},
		Command: command, OutputLimit: 64 << 10}
}

func TestProxyEnvIsInjectedAndMasked(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	t.Setenv("MSX_TEST_KEEP", "kept")
	cfg := &Config{AllowProxyMatching: true, Proxies: map[string]Proxy{
		"etl": {Env: map[string]string{"DW_PASSWORD": "Tr0ub4dor&3", "DW_USER": "etl", "MSX_TEST_KEEP": "new"}}}}
	e := cmdExecutor(t, cfg)

	res := e.Execute(t.Context(), cmdReq(`echo "user=$DW_USER pw=$DW_PASSWORD keep=$MSX_TEST_KEEP"; echo "Server=dw;Password=$DW_PASSWORD;" >&2; exit 3`, "etl"))
	if res.ExitCode != 3 || !errors.Is(res.Err, runner.ErrExitCode) {
		t.Fatalf("exit %d, err %v", res.ExitCode, res.Err)
	}
	if strings.Contains(res.Output, "Tr0ub4dor") {
		t.Errorf("output shows the secret: %q", res.Output)
	}
	// "etl" and "new" are shorter than minMasked: too short to mask without garbling output.
	for _, want := range []string{"user=etl pw=xxxxx keep=new", "Password=xxxxx;"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output %q lacks %q", res.Output, want)
		}
	}

	// Without a proxy the step has the agent's environment and nothing of the proxy's.
	res = e.Execute(t.Context(), cmdReq(`echo "pw=$DW_PASSWORD keep=$MSX_TEST_KEEP"`, ""))
	if res.Err != nil || strings.TrimSpace(res.Output) != "pw= keep=kept" {
		t.Errorf("step without proxy: %q, %v", res.Output, res.Err)
	}

	// Matching turned off after the job was downloaded: the step fails, once, with MSX's text.
	cfg.AllowProxyMatching = false
	res = e.Execute(t.Context(), cmdReq("echo ran", "etl"))
	if !errors.Is(res.Err, ErrProxy) || !res.NonRetryable || strings.Contains(res.Output, "ran") ||
		!strings.HasPrefix(res.Err.Error(), "The job step requires a proxy account") {
		t.Errorf("matching disabled at run time: %+v", res)
	}
}

func TestMaskResultKeepsTheError(t *testing.T) {
	err := &sentinelTest{"failed with s3cr3t-value"}
	res := maskResult(runner.Result{Err: err, Output: "s3cr3t-value and sqlserver://sa:other@h"}, map[string]string{"K": "s3cr3t-value", "S": "ab"})
	if res.Err.Error() != "failed with xxxxx" || !errors.Is(res.Err, err) {
		t.Errorf("error %q (is original: %v)", res.Err, errors.Is(res.Err, err))
	}
	if res.Output != "xxxxx and sqlserver://sa:xxxxx@h" {
		t.Errorf("output %q", res.Output)
	}
}

type sentinelTest struct{ s string }

func (e *sentinelTest) Error() string { return e.s }

// TestProxyRunsAsOSAccount runs a CmdExec step as the unprivileged account nobody; it needs
// the test to run as root (CI does). Not root, it checks the step's refusal instead.
func TestProxyRunsAsOSAccount(t *testing.T) {
	if _, err := exec.LookPath("id"); err != nil {
		t.Skip("no id command")
	}
	if err := exec.Command("id", "-u", "nobody").Run(); err != nil {
		t.Skip("no account nobody")
	}
	cfg := &Config{AllowProxyMatching: true, Proxies: map[string]Proxy{"low": {OSUser: "nobody", Env: map[string]string{"TOKEN_X": "abcd1234"}}}}
	e := cmdExecutor(t, cfg)
	res := e.Execute(t.Context(), cmdReq(`id -un; echo "home=$HOME user=$USER tok=$TOKEN_X"; pwd`, "low"))
	if os.Geteuid() != 0 {
		if !errors.Is(res.Err, runner.ErrRunAs) || !res.NonRetryable || !strings.Contains(res.Err.Error(), "root") {
			t.Errorf("not root: want ErrRunAs saying root is needed, got %+v", res)
		}
		return
	}
	if res.Err != nil {
		t.Fatalf("step as nobody: %v\n%s", res.Err, res.Output)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if len(lines) != 3 || lines[0] != "nobody" || !strings.HasPrefix(lines[1], "home=") || !strings.Contains(lines[1], "user=nobody tok=xxxxx") {
		t.Errorf("output %q", res.Output)
	}

	// The same step without a proxy runs as the agent, root.
	res = e.Execute(t.Context(), cmdReq("id -un", ""))
	if strings.TrimSpace(res.Output) != "root" {
		t.Errorf("step without proxy ran as %q", res.Output)
	}
}
