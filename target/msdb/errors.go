package msdb

import (
	"errors"
	"fmt"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/msx-project/msx/schemas"
)

// Error codes that cross the bus. Errors from SQL Server keep SQL Server's own number (14262 the
// job does not exist, 22022 refused by SQL Server Agent, ...).
const (
	// CodeNotExpressible: the job uses something SQL Server Agent cannot express (a cron
	// schedule, a schedule time zone other than the target's).
	CodeNotExpressible = 50020
	// CodeBadJobID: the job id is not a uniqueidentifier, which msdb requires.
	CodeBadJobID = 50021
	// CodeNoReturnStatus: an msdb procedure returned a non-zero status without an error.
	CodeNoReturnStatus = 50022
)

// ErrNoDB is returned by New when Config.DB is nil.
var ErrNoDB = errors.New("msdb: no SQL Server connection (msdb agent mode needs --sql)")

// numUnknownObject is SQL Server's "The specified %s ('%s') does not exist." (14262).
const numUnknownObject = 14262

// busError returns err as a *schemas.Error that says what was being done: the SQL Server error
// number when SQL Server raised one, so a DBA can look it up.
func busError(what string, err error) error {
	var be *schemas.Error
	if errors.As(err, &be) {
		return &schemas.Error{Code: be.Code, Message: what + ": " + be.Message}
	}
	var me mssql.Error
	if errors.As(err, &me) {
		return &schemas.Error{Code: int(me.Number), Message: fmt.Sprintf("%s: SQL Server error %d: %s", what, me.Number, me.Message)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// sqlNumber returns the SQL Server error number in err, 0 when there is none.
func sqlNumber(err error) int {
	var me mssql.Error
	if errors.As(err, &me) {
		return int(me.Number)
	}
	var be *schemas.Error
	if errors.As(err, &be) {
		return be.Code
	}
	return 0
}
