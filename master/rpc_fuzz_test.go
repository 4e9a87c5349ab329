package master

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/schemas"
)

// FuzzDecodeEnlist feeds enlistment request decoding arbitrary bytes: it never panics, and an
// accepted request has a canonical name that is not the master's and a valid user key.
func FuzzDecodeEnlist(f *testing.F) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	good, _ := schemas.Encode(&schemas.EnlistRequest{ProtocolVersion: schemas.ProtocolVersion, ServerName: "sql01\\prod",
		LocalTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), PollInterval: 60, Version: "1", Token: "msxe_x", PublicKey: pub})
	for _, seed := range []string{string(good), "", "{}", "null", `{"type":"msx.enlist.request.v1"}`,
		strings.Replace(string(good), `sql01\\prod`, `MASTER`, 1), strings.Replace(string(good), pub, "SUAFAKE", 1),
		strings.Replace(string(good), `sql01\\prod`, "a.b", 1), string(good) + string(good), strings.Repeat("[", 10000)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, name, err := decodeEnlist(data, "MASTER")
		if err != nil {
			if CodeOf(err) == CodeInternal {
				t.Errorf("a bad request got the internal error code: %v", err)
			}
			return
		}
		if name == "" || name == "MASTER" || name != strings.ToUpper(name) {
			t.Errorf("accepted name %q", name)
		}
		if !nkeys.IsValidPublicUserKey(req.PublicKey) {
			t.Errorf("accepted key %q", req.PublicKey)
		}
	})
}

// FuzzDecodeDefect does the same for defection requests.
func FuzzDecodeDefect(f *testing.F) {
	good, _ := schemas.Encode(&schemas.DefectRequest{ServerName: "SQL01", Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Signature: "AAAA"})
	for _, seed := range []string{string(good), "", "{}", `{"type":"msx.defect.request.v1","server_name":""}`,
		strings.Replace(string(good), "SQL01", "*", 1), strings.Replace(string(good), "SQL01", `A\B\C`, 1)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, name, err := decodeDefect(data)
		if err == nil && (name == "" || strings.ContainsAny(name, ".*> ")) {
			t.Errorf("accepted name %q", name)
		}
	})
}

// FuzzTruncate checks the audit bound: valid UTF-8 stays valid, and the result is short.
func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add(strings.Repeat("é", 600), MaxAuditField)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := Truncate(s, n)
		if len(got) > n+32 {
			t.Errorf("Truncate(%d bytes, %d) = %d bytes", len(s), n, len(got))
		}
		if len(s) <= n && got != s {
			t.Errorf("short string changed")
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("Truncate cut a rune: %q", got)
		}
	})
}
