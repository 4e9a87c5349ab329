package registry

import "errors"

// Errors, each with the SQL Server message number MSX gives the same condition (see Code).
var (
	// ErrUnknownTarget: "The specified target server ('%s') does not exist." (14262)
	ErrUnknownTarget = errors.New("The specified target server does not exist")
	// ErrUnknownGroup: "The specified target server group ('%s') does not exist." (14262)
	ErrUnknownGroup = errors.New("The specified target server group does not exist")
	// ErrGroupExists: "The specified target server group ('%s') already exists." (14261)
	ErrGroupExists = errors.New("The specified target server group already exists")
	// ErrGroupName: group names may not contain commas (14289) and must be 1..128 characters.
	ErrGroupName = errors.New("The target server group name is invalid")
	// ErrAlreadyMember: "Target server '%s' is already a member of group '%s'." (14263)
	ErrAlreadyMember = errors.New("The target server is already a member of the group")
	// ErrNotMember: "Target server '%s' is not a member of group '%s'." (14264)
	ErrNotMember = errors.New("The target server is not a member of the group")
	// ErrBadRecord: a record in a registry bucket is not valid; it is quarantined.
	ErrBadRecord = errors.New("registry record is not valid")
)

// Code returns the SQL Server message number for a registry error, or 0.
func Code(err error) int {
	switch {
	case errors.Is(err, ErrUnknownTarget), errors.Is(err, ErrUnknownGroup):
		return 14262
	case errors.Is(err, ErrGroupExists):
		return 14261
	case errors.Is(err, ErrGroupName):
		return 14289
	case errors.Is(err, ErrAlreadyMember):
		return 14263
	case errors.Is(err, ErrNotMember):
		return 14264
	}
	return 0
}
