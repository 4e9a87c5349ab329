package msdb_test

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/msx-project/msx/bus/bustest"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func testLogger(t *testing.T) *slog.Logger { return bustest.Logger(t) }
