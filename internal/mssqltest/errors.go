package mssqltest

import (
	"errors"
	"fmt"
)

// ErrProtocol reports a request that does not follow TDS as go-mssqldb
// speaks it; the fake closes the connection that sent it.
var ErrProtocol = errors.New("mssqltest: TDS protocol violation")

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("mssqltest: server closed")

// errAttention reports that the client sent an ATTENTION packet (the driver
// does so when the query's context is cancelled) while a request ran.
var errAttention = errors.New("mssqltest: request cancelled by attention")

// SQL Server error numbers the fake reports. They are SQL Server's own, so
// that code under test can match them as it would against a real server.
const (
	ErrNumSyntax           = 102   // Incorrect syntax near '%s'.
	ErrNumUndeclaredVar    = 137   // Must declare the scalar variable "%s".
	ErrNumInvalidColumn    = 207   // Invalid column name '%s'.
	ErrNumInvalidObject    = 208   // Invalid object name '%s'.
	ErrNumConversion       = 245   // Conversion failed ...
	ErrNumNotNull          = 515   // Cannot insert the value NULL into column ...
	ErrNumConstraint       = 547   // The statement conflicted with a constraint.
	ErrNumDatabaseMissing  = 911   // Database '%s' does not exist.
	ErrNumProcMissing      = 2812  // Could not find stored procedure '%s'.
	ErrNumObjectExists     = 2714  // There is already an object named '%s' in the database.
	ErrNumDuplicateKey     = 2627  // Violation of UNIQUE KEY constraint ...
	ErrNumCommitNoTran     = 3902  // The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.
	ErrNumRollbackNoTran   = 3903  // The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.
	ErrNumCannotOpenDB     = 4060  // Cannot open database "%s" requested by the login.
	ErrNumNotAParameter    = 8145  // %s is not a parameter for procedure %s.
	ErrNumMissingParameter = 201   // Procedure or function '%s' expects parameter '%s', which was not supplied.
	ErrNumLoginFailed      = 18456 // Login failed for user '%s'.
	ErrNumUserDefined      = 50000 // RAISERROR with a message text.
	ErrNumMessageNotFound  = 18054 // RAISERROR with a number missing from sys.messages.
	ErrNumNameExists       = 14261 // The specified @%s ('%s') already exists.
	ErrNumDoesNotExist     = 14262 // The specified @%s ('%s') does not exist.
	ErrNumInvalidValueList = 14266 // The specified '%s' is invalid (valid values are: %s).
	ErrNumInvalidSubsystem = 14234 // The specified '%s' is invalid (valid values are returned by %s).
	ErrNumAlreadyTargeted  = 14269 // Job '%s' is already targeted at server '%s'.
	ErrNumJobIDOrName      = 14294 // Supply either @job_id or @job_name to identify the job.
	ErrNumNoJobServer      = 14256 // Cannot start job '%s' (ID %s) because it does not have any job server ...
	ErrNumAgentRefused     = 22022 // SQLServerAgent Error: ...
	ErrNumScheduleIDOrName = 14373 // Supply either @schedule_id or @schedule_name to identify the schedule.
	ErrNumNotFakeSupported = 50000 // statement the fake does not implement (message says so)
	severityUserError      = 16
	severityLoginFailed    = 14
	severityInformational  = 0
	stateDefault           = 1
)

// sqlError is an error the fake reports to the client as an ERROR token.
// It never ends the connection.
type sqlError struct {
	Number int32
	State  uint8
	Class  uint8
	Msg    string
	Proc   string
}

func (e *sqlError) Error() string { return fmt.Sprintf("mssqltest: error %d: %s", e.Number, e.Msg) }

// sqlErrorf builds a severity 16, state 1 error.
func sqlErrorf(number int32, format string, args ...any) *sqlError {
	return &sqlError{Number: number, State: stateDefault, Class: severityUserError, Msg: fmt.Sprintf(format, args...)}
}

// unsupported reports T-SQL the fake does not implement, saying so plainly.
func unsupported(what string) *sqlError {
	return sqlErrorf(ErrNumNotFakeSupported, "the msx fake TDS server (SQLite) does not support %s", what)
}
