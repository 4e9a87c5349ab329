package master_test

import (
	"os"
	"testing"
	"unicode/utf8"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas"
)

// FuzzDecodeOutputChunk: whatever a target publishes on its output subject, decoding never
// panics, and a chunk it accepts is within the bounds the relay promises its readers.
func FuzzDecodeOutputChunk(f *testing.F) {
	if b, err := os.ReadFile("../schemas/testdata/msx.output.chunk.v1.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"type":"msx.output.chunk.v1","kind":"run_end","job_id":"j","run_id":"r","seq":1,"sent":"2026-12-02T00:00:00Z"}`))
	f.Add([]byte(`{"type":"msx.output.chunk.v1","kind":"output","job_id":"j","run_id":"r","seq":0,"text":"\u001b[2J"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := master.DecodeOutputChunk(data)
		if err != nil {
			return
		}
		if len(data) > schemas.MaxOutputChunkBytes || len(c.Text) > schemas.MaxOutputChunkText || !utf8.ValidString(c.Text) ||
			c.Seq == 0 || c.JobID == "" || c.RunID == "" || c.Dropped < 0 {
			t.Fatalf("accepted %q as %+v", data, c)
		}
	})
}
