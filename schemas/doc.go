// Package schemas holds msx's wire types: every message on the bus is a JSON document whose
// "type" field names it and its version (msx.instruction.v1, ...). Each type has a JSON Schema in
// schemas/wire/ (embedded), and Decode validates a document against its schema before it is
// unmarshalled, so a malformed message from a peer is rejected with a reason, never half-read.
//
// Subpackages: jobs (the job model), schedule (schedule arithmetic), problem (validation findings).
//
// Enumerations on the wire are append-only; a receiver that meets a type it does not know
// rejects it with ErrUnknownType and carries on.
package schemas
