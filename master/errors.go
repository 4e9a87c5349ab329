package master

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/catalog"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/problem"
)

// Error codes msx uses where SQL Server has none (the user-defined range starts at 50000).
const (
	CodeInvalidName  = 50001
	CodeBadToken     = 50002
	CodeBadSignature = 50003
	CodeBadRequest   = 50004
	// CodeTokenServer: the enlistment token is bound to another server name.
	CodeTokenServer  = 50005
	CodeInternal     = 50000
	CodeUnknown      = 14262
	CodeEnlistSelf   = 14297
	CodeVersion      = 14306
	CodeInvalidValue = 14266
	// CodeNotLeader: a change reached a master that does not lead and could not forward it,
	// or the lease moved while it was under way. Retry.
	CodeNotLeader = 50040
	// CodeUnavailable: the bus did not settle a change in time (a node lost, a takeover under
	// way): it may or may not have been made. Retry: a start or stop sent again with the same
	// Idempotency-Key is not repeated.
	CodeUnavailable = 50041
)

// ErrInvalid wraps a request that is wrong as given (bad value, bad name).
var ErrInvalid = errors.New("invalid request")

// ErrNotLeader: the change needs the leading master (see Master.Lease for which one it is);
// this master does not hold the lease, or lost it while the change was under way.
// Every write the leader makes is fenced to its term: one refused because a later leader took
// over wraps it too.
var ErrNotLeader = leader.ErrNotLeader

// Coded is an error with a stable code, the SQL Server message number where MSX has one.
type Coded struct {
	Code int
	Err  error
}

func (e *Coded) Error() string { return e.Err.Error() }
func (e *Coded) Unwrap() error { return e.Err }

func coded(code int, format string, args ...any) error {
	return &Coded{Code: code, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns the code of an error from this package or the packages it wraps.
func CodeOf(err error) int {
	var c *Coded
	if errors.As(err, &c) {
		return c.Code
	}
	if n := registry.Code(err); n != 0 {
		return n
	}
	if errors.Is(err, catalog.ErrUnknownJob) {
		return CodeUnknown
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		for _, p := range pe.Problems {
			if p.Code != 0 {
				return p.Code
			}
		}
		return CodeBadRequest
	}
	if errors.Is(err, auth.ErrBadToken) {
		return CodeBadToken
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, auth.ErrRole) {
		return CodeBadRequest
	}
	if errors.Is(err, ErrNotLeader) {
		return CodeNotLeader
	}
	if Transient(err) {
		return CodeUnavailable
	}
	return CodeInternal
}

// jsDuplicateInProcess is JetStream's answer to a publish whose Nats-Msg-Id another publish is
// storing at that moment (a retry that overtook its first try).
const jsDuplicateInProcess = 10158

// Transient reports whether err is the bus not answering in time or being busy with the same
// change: what a node loss or a takeover causes, and what a retry may get past.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jsDuplicateInProcess)
}

func busError(err error) *schemas.Error {
	return &schemas.Error{Code: CodeOf(err), Message: err.Error()}
}
