package tsql

import "errors"

// Errors returned by Import. Each is wrapped with the details (the line, what is missing);
// match them with errors.Is.
var (
	// ErrSyntax means the script cannot be split into tokens: a string, a bracketed or quoted
	// identifier, or a /* comment is not closed. The wrapping error gives the line it starts on.
	ErrSyntax = errors.New("T-SQL syntax error")

	// ErrNoJob means the script creates no job: it has no sp_add_job call that Import could
	// translate. The Result returned with it still lists the problems found.
	ErrNoJob = errors.New("the script creates no job")
)

var (
	// ErrLimit means the evaluation was stopped by a bound of Options (statements, loop
	// iterations, time, string size, rows, dynamic SQL depth): a loop that does not end or a
	// hostile script. The wrapping error gives the line; nothing of the script is imported.
	ErrLimit = errors.New("the script exceeds a limit of the evaluation")

	// ErrOptions means Options are wrong: an unknown platform or edition, a bad SQLCMD variable.
	ErrOptions = errors.New("invalid import options")
)
