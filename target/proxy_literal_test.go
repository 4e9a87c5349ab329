package target_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msx-project/msx/target"
)

// TestLoadCredentialsKeepsLiteral checks that the values of a proxies file, secrets and DSNs, are
// read as written: YAML 1.1 would turn the password 0123 into "83" and yes into "true".
func TestLoadCredentialsKeepsLiteral(t *testing.T) {
	c := loadCredentials(t, `
proxies:
  007:
    os_user: 0001
    env:
      OCTAL: 0123
      HEX: 0x1F
      BOOL: yes
      FLOAT: 1.10
      EXP: 1e3
      INF: .inf
      0123: key
      QUOTED: "0x1F"
connection_profiles:
  warehouse:
    dsn: 0x1F
`)
	p, ok := c.Proxies["007"]
	if !ok {
		t.Fatalf("proxies = %+v, want one named \"007\"", c.Proxies)
	}
	want := map[string]string{"OCTAL": "0123", "HEX": "0x1F", "BOOL": "yes", "FLOAT": "1.10", "EXP": "1e3", "INF": ".inf", "0123": "key", "QUOTED": "0x1F"}
	for k, v := range want {
		if p.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, p.Env[k], v)
		}
	}
	if len(p.Env) != len(want) || p.OSUser != "0001" || c.ConnectionProfiles["warehouse"].DSN != "0x1F" {
		t.Errorf("proxy = %+v, profiles = %+v", p, c.ConnectionProfiles)
	}
}

// TestLoadCredentialsErrors checks that errors keep the line numbers of the file as written, which
// re-encoding it to keep the literals would change, and never quote a secret.
func TestLoadCredentialsErrors(t *testing.T) {
	cases := []struct{ name, text, has string }{
		{
			name: "duplicate key",
			text: "# proxies\n\nproxies:\n\n  etl:\n    env: {A: 0123}\n\n  etl:\n    os_user: x\n",
			has:  "line 9: key \"etl\" already set",
		},
		{
			name: "syntax",
			text: "proxies:\n  etl:\n    env: {A: 0123\n\n\n",
			has:  "line 5: did not find expected",
		},
		{
			name: "unknown key",
			text: "proxies:\n  etl:\n    env: {A: 0123}\n    os_usr: hunter22\n",
			has:  "os_usr",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := target.LoadCredentials(writeProxies(t, tc.text))
			if !errors.Is(err, target.ErrConfig) || !strings.Contains(err.Error(), tc.has) || strings.Contains(err.Error(), "hunter22") {
				t.Errorf("got %v; want ErrConfig with %q, without the secret", err, tc.has)
			}
		})
	}
}

func loadCredentials(t testing.TB, text string) target.Credentials {
	t.Helper()
	c, err := target.LoadCredentials(writeProxies(t, text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeProxies writes text to a proxies file and returns its path.
func writeProxies(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxies.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
