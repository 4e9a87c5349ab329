package schemas_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/msx-project/msx/schemas"
)

// BenchmarkDecode measures schema validation + unmarshal of the messages the master reads most:
// heartbeats, instruction reports and run results. The raw figure is encoding/json alone.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		v    func() schemas.Typed
	}{
		{"msx.heartbeat.v1", func() schemas.Typed { return &schemas.Heartbeat{} }},
		{"msx.instruction.status.v1", func() schemas.Typed { return &schemas.InstructionStatus{} }},
		{"msx.run.result.v1", func() schemas.Typed { return &schemas.RunResult{} }},
	} {
		data, err := os.ReadFile("testdata/" + tc.name + ".json")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/validated", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := schemas.Decode(data, tc.v()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/json-only", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := json.Unmarshal(data, tc.v()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
