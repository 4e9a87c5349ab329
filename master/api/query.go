package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/msx-project/msx/master"
)

// Query parameters are read strictly, as the OpenAPI document types them: a value that is not
// of the parameter's type is refused, never read as its zero value (?dry_run=ture must not
// apply a job, ?limit=ten must not list everything).

// queryBool reads the boolean parameter name; absent is false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q: give true or false", master.ErrInvalid, name, master.Truncate(v, 64))
	}
	return b, nil
}

// queryInt reads the integer parameter name, at least 0; absent is 0.
func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s=%q: give a whole number, 0 or more", master.ErrInvalid, name, v)
	}
	return n, nil
}

// queryUint is queryInt for a sequence number.
func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q: give a whole number, 0 or more", master.ErrInvalid, name, v)
	}
	return n, nil
}
