package jobs

import "errors"

// Errors returned by Parse and ParseMany. Each is wrapped with the details (field path, document
// number, the decoder's own error); match them with errors.Is.
var (
	// ErrNoDocument means the input holds no job document: it is empty or only comments.
	ErrNoDocument = errors.New("no job document")

	// ErrMultipleDocuments means Parse was given a YAML stream of several documents or a JSON
	// array; ParseMany reads those.
	ErrMultipleDocuments = errors.New("more than one job document (use ParseMany)")

	// ErrSyntax means the input is neither valid YAML nor valid JSON.
	ErrSyntax = errors.New("not valid YAML or JSON")

	// ErrNotObject means a job document (or an element of a job list) is not an object.
	ErrNotObject = errors.New("a job document must be an object with name and steps")

	// ErrUnknownField means a document has a field the job model does not define. The wrapping
	// error names the field, its path, and the intended field or the fields that exist.
	ErrUnknownField = errors.New("unknown field")

	// ErrDuplicateField means an object in a document sets the same field twice.
	ErrDuplicateField = errors.New("duplicate field")

	// ErrWrongType means a field has a value of the wrong type, such as a string for step_id.
	ErrWrongType = errors.New("wrong type")
)

// Errors returned by ValidServerName, CanonicalServerName and ServerFromToken.
var (
	// ErrInvalidName means a server name is not HOST or HOST\INSTANCE in the characters msx
	// allows; the wrapping error says which rule it breaks.
	ErrInvalidName = errors.New("invalid server name")

	// ErrInvalidToken means a NATS subject token does not stand for a canonical server name.
	ErrInvalidToken = errors.New("invalid server token")
)

// ErrChainCycle means the jobs' on_success_start and on_failure_start names lead from a job
// back to itself; CheckChains's message names the cycle.
var ErrChainCycle = errors.New("job chain cycle")
