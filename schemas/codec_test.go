package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/msx-project/msx/schemas"
)

func TestEveryTypeHasAValidExample(t *testing.T) {
	types := schemas.Types()
	slices.Sort(types)
	if len(types) < 8 {
		t.Fatalf("only %d schemas embedded", len(types))
	}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", typ+".json"))
			if err != nil {
				t.Fatalf("no example document for %s: %v", typ, err)
			}
			got, err := schemas.Validate(b)
			if err != nil {
				t.Fatalf("valid example rejected: %v", err)
			}
			if got != typ {
				t.Fatalf("type %q, want %q", got, typ)
			}
		})
	}
}

func TestInvalidDocumentsRejected(t *testing.T) {
	b, err := os.ReadFile("testdata/invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Why string          `json:"why"`
		Doc json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Why, func(t *testing.T) {
			if _, err := schemas.Validate(tc.Doc); err == nil {
				t.Fatalf("accepted %s", tc.Doc)
			}
		})
	}
}

func TestDecodeRoundTripAndErrors(t *testing.T) {
	in := &schemas.LedgerClear{Seq: 9, By: "admin"}
	in.Cleared = in.Cleared.AddDate(2026, 0, 0)
	b, err := schemas.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out schemas.LedgerClear
	if err := schemas.Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Seq != 9 || out.Type != schemas.TypeLedgerClear {
		t.Fatalf("round trip: %+v", out)
	}
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"not json", "{", schemas.ErrMalformed},
		{"no type", `{"seq":1}`, schemas.ErrMalformed},
		{"unknown type", `{"type":"msx.other.v9"}`, schemas.ErrWrongType},
		{"wrong type", string(mustRead(t, "testdata/msx.heartbeat.v1.json")), schemas.ErrWrongType},
		{"schema", `{"type":"msx.ledger.clear.v1","seq":0,"cleared":"2026-11-25T18:00:00Z"}`, schemas.ErrInvalid},
		{"too large", `{"type":"` + string(make([]byte, schemas.MaxMessageSize)) + `"}`, schemas.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v schemas.LedgerClear
			if err := schemas.Decode([]byte(tc.data), &v); !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOperationNames(t *testing.T) {
	for op, want := range map[schemas.Operation]string{1: "INSERT", 3: "DELETE", 7: "DEFECT", 9: "SET-POLL", 42: "UNKNOWN(42)"} {
		if op.String() != want {
			t.Errorf("%d: %q, want %q", op, op.String(), want)
		}
	}
	if schemas.OpDefect.ObjectType() != "server" || schemas.OpStart.ObjectType() != "job" {
		t.Error("object types")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []schemas.Typed{&schemas.Instruction{}, &schemas.Heartbeat{}, &schemas.InstructionStatus{}, &schemas.EnlistRequest{}} {
			_ = schemas.Decode(data, v)
		}
	})
}
