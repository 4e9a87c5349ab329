package target

import (
	"errors"

	"github.com/msx-project/msx/schemas"
)

// Errors returned by the agent.
var (
	// ErrDefected: the agent defected (DEFECT instruction or `msx target defect`) and stopped.
	ErrDefected = errors.New("target defected from its master")
	// ErrShuttingDown: a run was asked for while the agent stops.
	ErrShuttingDown = errors.New("the agent is shutting down: no new job runs")
	// ErrNoToken: the agent is not enlisted and no enlistment token was given.
	ErrNoToken = errors.New("not enlisted and no enlistment token given: create one on the master with `msx token create` and pass it with --token")
	// ErrProxy: a job step names a proxy or connection profile that this target does not let
	// it have (CodeProxyMatching, CodeProxyNotFound, CodeProfileNotFound).
	ErrProxy = errors.New("job step proxy or connection profile not available on this target")
)

// Error codes that cross the bus, SQL Server message numbers where MSX has one.
const (
	CodeUnknownObject   = 14262 // The specified %s ('%s') does not exist.
	CodeAlreadyEnlisted = 14296 // This server is already enlisted into MSX '%s'.
	CodeJobRunning      = 22022 // SQLServerAgent Error: Request to run (stop) job %s refused because the job is already (not) running
	CodeUnknownOp       = 50010 // msx: unknown instruction operation
	CodeBadInstruction  = 50011 // msx: malformed instruction
	CodeProxyMatching   = 50030 // The job step requires a proxy account, however proxy matching is disabled on the target server.
	CodeProxyNotFound   = 50031 // Proxy not found.
	CodeProfileNotFound = 50032 // msx: Connection profile not found.
)

func busErr(code int, msg string) *schemas.Error { return &schemas.Error{Code: code, Message: msg} }

// codeOf returns the bus error carried by err, or a generic one.
func codeOf(err error) *schemas.Error {
	var be *schemas.Error
	if errors.As(err, &be) {
		return be
	}
	return &schemas.Error{Code: CodeBadInstruction, Message: err.Error()}
}
