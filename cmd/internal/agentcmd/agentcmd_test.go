package agentcmd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/msx-project/msx/target"
)

func TestLoadProxies(t *testing.T) {
	data := t.TempDir()
	other := filepath.Join(t.TempDir(), "creds.yaml")
	if err := os.WriteFile(other, []byte("proxies:\n  etl: {env: {K: v}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg target.Config
	if err := loadProxies(&cfg, "", data); err != nil || cfg.Proxies != nil {
		t.Fatalf("no file in DATA: %v, %v", err, cfg.Proxies)
	}
	if err := loadProxies(&cfg, other, data); err != nil || cfg.Proxies["etl"].Env["K"] != "v" {
		t.Fatalf("--proxies: %v, %+v", err, cfg.Proxies)
	}
	if err := os.WriteFile(filepath.Join(data, target.ProxiesFile), []byte("connection_profiles:\n  dw: {dsn: 'sqlserver://u:p@dw'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = target.Config{}
	if err := loadProxies(&cfg, "", data); err != nil || cfg.ConnectionProfiles["dw"].DSN != "sqlserver://u:p@dw" {
		t.Fatalf("DATA/%s: %v, %+v", target.ProxiesFile, err, cfg.ConnectionProfiles)
	}
	if err := loadProxies(&cfg, filepath.Join(data, "missing.yaml"), data); !errors.Is(err, target.ErrConfig) {
		t.Errorf("a missing --proxies file: %v", err)
	}
}
