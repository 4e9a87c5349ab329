package errorlog

import "errors"

// Errors of New. Match them with errors.Is.
var (
	// ErrMode means Config.Mode is not ModeUnhandled or ModeAll.
	ErrMode = errors.New("unknown event forwarding mode")

	// ErrSeverity means Config.Severity is outside 1..25.
	ErrSeverity = errors.New("severity threshold outside 1..25")

	// ErrNoDatabase means Config.DB or Config.Sink is nil.
	ErrNoDatabase = errors.New("event forwarding needs a SQL Server and a sink")
)
