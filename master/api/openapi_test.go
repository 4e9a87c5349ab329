package api_test

import (
	"testing"

	"github.com/msx-project/msx/master/api"
)

func TestOpenAPILoads(t *testing.T) {
	if _, err := api.OpenAPI(); err != nil {
		t.Fatal(err)
	}
	if _, err := api.OpenAPIJSON(); err != nil {
		t.Fatal(err)
	}
}
