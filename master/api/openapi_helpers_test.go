package api_test

import (
	"net/http"
	"testing"

	"github.com/msx-project/msx/master/api"
)

// validated wraps h so that every request and answer of the test is checked against the
// API's OpenAPI document: a mismatch fails the test, naming the exchange.
func validated(tb testing.TB, h http.Handler) http.Handler {
	tb.Helper()
	v, err := api.ValidateHandler(h, func(m *api.Mismatch) { tb.Errorf("%v", m) })
	if err != nil {
		tb.Fatalf("OpenAPI document: %v", err)
	}
	return v
}
