package target

import (
	"fmt"
	"net/url"
	"os"
	"os/user"
	"strings"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas/jobs"
)

// ProxiesFile is the name of the target's proxies file in its data directory, read by
// `msx target` when --proxies is not given.
const ProxiesFile = "proxies.yaml"

// Proxy is what a job step's proxy_name stands for on this target: the OS account its process
// runs as and secrets added to its environment. Proxies are the target's own configuration:
// they never travel on the bus, and the master knows only their names.
type Proxy struct {
	// OSUser is the OS account CmdExec and PowerShell steps run as; default (empty): the
	// agent's account. On Unix another account needs the agent to run as root.
	OSUser string `json:"os_user,omitempty"`
	// Env is added to the step's environment. The values are secrets: they are never logged,
	// and they are masked (xxxxx) in the step's output and messages before those reach the
	// history, events or output files.
	Env map[string]string `json:"env,omitempty"`
}

// ConnectionProfile is what a T-SQL step's connection_profile stands for on this target: the
// SQL Server connection it runs on instead of the agent's own (Config.SQLDSN).
type ConnectionProfile struct {
	// DSN is a go-mssqldb URL, sqlserver://user:password@host:1433/INSTANCE. Required. The
	// step's database_name is selected with USE.
	DSN string `json:"dsn"`
}

// Credentials is the content of a proxies file:
//
//	proxies:
//	  etl:
//	    os_user: etl
//	    env: {WAREHOUSE_PASSWORD: "..."}
//	connection_profiles:
//	  warehouse:
//	    dsn: sqlserver://etl:...@dw01:1433
type Credentials struct {
	Proxies            map[string]Proxy             `json:"proxies,omitempty"`
	ConnectionProfiles map[string]ConnectionProfile `json:"connection_profiles,omitempty"`
}

// LoadCredentials reads a proxies file. Unknown keys are errors, so that a misspelt os_user
// does not silently run a step as the agent. Values are read as written (jobs.DecodeYAML): an
// env value 0123 is "0123", not "83". The error never quotes the file's values.
func LoadCredentials(path string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("%w: proxies file: %w", ErrConfig, err)
	}
	// Read literally: YAML 1.1 would turn the password 0123 into "83" and yes into "true".
	if err := jobs.DecodeYAML(b, &c); err != nil {
		// The YAML decoder may quote the offending value, which may be a secret.
		return c, fmt.Errorf("%w: proxies file %s: %s", ErrConfig, path, bus.Redact(err.Error()))
	}
	return c, nil
}

// checkCredentials validates the proxies and connection profiles of cfg.
func checkCredentials(cfg *Config) error {
	seen := map[string]string{}
	for name, p := range cfg.Proxies {
		if err := checkCredName(seen, "proxy", name); err != nil {
			return err
		}
		if p.OSUser != "" {
			if _, err := user.Lookup(p.OSUser); err != nil {
				return fmt.Errorf("%w: proxy %q: OS account %s: %w", ErrConfig, name, p.OSUser, err)
			}
		}
		for k := range p.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return fmt.Errorf("%w: proxy %q: environment variable name %q is not valid", ErrConfig, name, k)
			}
		}
	}
	seen = map[string]string{}
	for name, cp := range cfg.ConnectionProfiles {
		if err := checkCredName(seen, "connection profile", name); err != nil {
			return err
		}
		u, err := url.Parse(cp.DSN)
		if err != nil || u.Scheme != sqlServerScheme || u.Host == "" {
			// url.Parse's error quotes the whole DSN, password included: not wrapped.
			return fmt.Errorf("%w: connection profile %q: dsn must look like sqlserver://user:password@host:1433/INSTANCE", ErrConfig, name)
		}
	}
	return nil
}

// checkCredName checks a proxy or profile name; names are matched without regard to case, as
// SQL Server matches them, so two that differ only in case are an error.
func checkCredName(seen map[string]string, what, name string) error {
	if strings.TrimSpace(name) == "" || len([]rune(name)) > jobs.MaxNameLen {
		return fmt.Errorf("%w: %s name %q: give 1 to %d characters", ErrConfig, what, name, jobs.MaxNameLen)
	}
	key := strings.ToLower(name)
	if other, ok := seen[key]; ok {
		return fmt.Errorf("%w: %s names %q and %q differ only in case", ErrConfig, what, other, name)
	}
	seen[key] = name
	return nil
}

// lookupName finds name in m without regard to case.
func lookupName[V any](m map[string]V, name string) (V, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// MSX's texts for a downloaded job step whose proxy cannot be had (sysdownloadlist.error_message).
const (
	msgProxyMatching = "The job step requires a proxy account, however proxy matching is disabled on the target server."
	msgProxyNotFound = "Proxy not found."
)

// proxyFor returns the proxy step s names, or the error MSX gives when a downloaded job's step
// cannot have it: matching disabled (CodeProxyMatching) or no such proxy (CodeProxyNotFound).
// The message starts with MSX's text and goes on with the step, the proxy and the fix. Both
// errors match ErrProxy.
func proxyFor(cfg *Config, s jobs.Step) (Proxy, error) {
	if !cfg.AllowProxyMatching {
		return Proxy{}, credErr(CodeProxyMatching, fmt.Sprintf(
			"%s Step %d (%s) names proxy '%s'; to let downloaded jobs use this target's proxies, start it with --allow-proxy-matching.",
			msgProxyMatching, s.StepID, s.StepName, s.ProxyName))
	}
	p, ok := lookupName(cfg.Proxies, s.ProxyName)
	if !ok {
		return Proxy{}, proxyNotFound(s)
	}
	return p, nil
}

func proxyNotFound(s jobs.Step) error {
	return credErr(CodeProxyNotFound, fmt.Sprintf(
		"%s Step %d (%s) names proxy '%s', which this target's proxies file does not define.",
		msgProxyNotFound, s.StepID, s.StepName, s.ProxyName))
}

// profileFor returns the connection profile T-SQL step s names, or a CodeProfileNotFound error.
func profileFor(cfg *Config, s jobs.Step) (ConnectionProfile, error) {
	cp, ok := lookupName(cfg.ConnectionProfiles, s.ConnectionProfile)
	if !ok {
		return cp, profileNotFound(s, "which this target's proxies file does not define")
	}
	return cp, nil
}

func profileNotFound(s jobs.Step, why string) error {
	return credErr(CodeProfileNotFound, fmt.Sprintf("Connection profile not found. Step %d (%s) names connection profile '%s', %s.",
		s.StepID, s.StepName, s.ConnectionProfile, why))
}

// credError is a step's proxy or connection profile that this target cannot resolve. It
// crosses the bus as its *schemas.Error and matches ErrProxy.
type credError struct{ be error }

func credErr(code int, msg string) error { return &credError{busErr(code, msg)} }
func (e *credError) Error() string       { return e.be.Error() }
func (e *credError) Unwrap() []error     { return []error{e.be, ErrProxy} }

// checkJobCredentials checks, when a job is downloaded, that this target can resolve every
// proxy and connection profile its steps name, so that a job that could not run fails its
// INSERT or UPDATE instead, as MSX reports it in sysdownloadlist. In msdb mode SQL Server
// Agent resolves proxies itself, from msdb: only the matching switch is checked here; and
// connection profiles, which SQL Server Agent does not have, are refused.
func checkJobCredentials(cfg *Config, j jobs.Job, msdbMode bool) error {
	for _, s := range j.Steps {
		if s.ProxyName != "" {
			if _, err := proxyFor(cfg, s); err != nil && !(msdbMode && cfg.AllowProxyMatching) {
				return err
			}
		}
		if s.ConnectionProfile == "" {
			continue
		}
		if msdbMode {
			return profileNotFound(s, "but SQL Server Agent runs this target's jobs (msdb mode) and has no connection profiles")
		}
		if _, err := profileFor(cfg, s); err != nil {
			return err
		}
	}
	return nil
}
