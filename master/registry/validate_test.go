package registry

import (
	"errors"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
)

func TestValidTarget(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seedKey, _ := nkeys.CreateAccount()
	acct, _ := seedKey.PublicKey()
	good := Target{ServerID: 1, ServerName: `SQL01\PROD`, Token: "SQL01~PROD", PublicKey: pub}
	tests := []struct {
		name string
		key  string
		edit func(*Target)
		ok   bool
	}{
		{"valid", key(`SQL01\PROD`), func(*Target) {}, true},
		{"empty name", key(""), func(t *Target) { t.ServerName, t.Token = "", "" }, false},
		{"lower case", key(`SQL01\PROD`), func(t *Target) { t.ServerName = `sql01\prod` }, false},
		{"dot in name", key("A.B"), func(t *Target) { t.ServerName, t.Token = "A.B", "A.B" }, false},
		{"wildcard token", key(`SQL01\PROD`), func(t *Target) { t.Token = "*" }, false},
		{"token of another name", key(`SQL01\PROD`), func(t *Target) { t.Token = "SQL02" }, false},
		{"under another key", key("SQL02"), func(*Target) {}, false},
		{"zero server_id", key(`SQL01\PROD`), func(t *Target) { t.ServerID = 0 }, false},
		{"account key", key(`SQL01\PROD`), func(t *Target) { t.PublicKey = acct }, false},
		{"garbage key", key(`SQL01\PROD`), func(t *Target) { t.PublicKey = "garbage" }, false},
		{"no key yet", key(`SQL01\PROD`), func(t *Target) { t.PublicKey = "" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := good
			tt.edit(&tg)
			err := validTarget(tt.key, tg)
			if (err == nil) != tt.ok {
				t.Fatalf("validTarget = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadRecord) {
				t.Errorf("error %v does not wrap ErrBadRecord", err)
			}
		})
	}
}

// FuzzTargetRecord: any bytes in the targets bucket either decode to a record whose name and
// token are safe subject tokens, or are quarantined; nothing panics.
func FuzzTargetRecord(f *testing.F) {
	for _, s := range []string{`{"server_id":1,"server_name":"SQL01","token":"SQL01"}`, `{"server_name":"","token":""}`,
		`{"server_id":1,"server_name":"A.B","token":"A.B"}`, `{}{}`, `null`, `[]`, `{"evil":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var tg Target
		if decodeStrict([]byte(s), &tg) != nil {
			return
		}
		if validTarget(key(tg.ServerName), tg) != nil {
			return
		}
		if err := bus.CheckToken(tg.Token); err != nil {
			t.Errorf("valid record %q has an unsafe token: %v", s, err)
		}
	})
}
