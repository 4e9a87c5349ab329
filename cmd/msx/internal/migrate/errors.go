package migrate

import "errors"

// Errors Open, Read and Run return.
var (
	// ErrDSN: the DSN does not parse.
	ErrDSN = errors.New("the DSN is not valid: give sqlserver://USER:PASSWORD@HOST[:PORT][/INSTANCE]?database=msdb or an ADO string (server=...;user id=...;password=...)")
	// ErrNoAnswer: the SQL Server did not answer (timeout, refused connection, unknown host).
	ErrNoAnswer = errors.New("SQL Server is not answering")
	// ErrNotMaster: the server is not an MSX master (no target server enlisted into it).
	ErrNotMaster = errors.New("not an MSX master")
	// ErrPartial: some objects were not migrated (each is listed in the plan with its reason).
	ErrPartial = errors.New("partial")
)
