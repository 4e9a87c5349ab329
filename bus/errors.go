package bus

import "errors"

// ErrDirLocked is returned by LockDir when another process holds the data directory.
var ErrDirLocked = errors.New("data directory is in use by another msx process")

// ErrJetStreamUnavailable is returned by StartServer when the embedded server started but
// JetStream did not come up (usually a full disk or a store directory that cannot be written).
var ErrJetStreamUnavailable = errors.New("JetStream is not available on the embedded server")

// ErrInvalidToken is returned when a subject token holds a character NATS gives a meaning to.
var ErrInvalidToken = errors.New("invalid subject token")
