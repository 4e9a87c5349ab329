package api

import (
	"testing"

	"github.com/msx-project/msx/master"
)

// The codes that say "retry" answer 503, which the CLI's idempotent start retries; the internal
// error stays 500.
func TestHTTPStatusOfRetryableCodes(t *testing.T) {
	for code, want := range map[int]int{master.CodeNotLeader: 503, master.CodeUnavailable: 503, master.CodeInternal: 500, master.CodeUnknown: 404, master.CodeBadRequest: 400} {
		if got := httpStatus(code); got != want {
			t.Errorf("httpStatus(%d) = %d, want %d", code, got, want)
		}
	}
}
