// Package bus is msx's only channel between master and targets: NATS JetStream.
//
// It owns the embedded server (with a lock on its data directory and a logger that never exits
// the process), connection options (targets reconnect forever), subject names built from
// validated tokens, and the streams and KV buckets that hold the master's state:
//
//	asset          subjects              holds
//	MSX_INSTR      msx.instr.<t>         the download list: instructions in posting order
//	MSX_APPLIED    msx.applied.<t>       what each target did with each instruction
//	MSX_LEDGER     msx.ledger.>          master-only ledger edits (error cleared)
//	MSX_STATUS     msx.status.<t>        last heartbeat per target (MaxMsgsPerSubject 1, TTL)
//	MSX_RESULTS    msx.result.<t>.<job>  run outcomes and step history
//	MSX_EVENTS     msx.event.<t>.<sev>   forwarded events
//	KV msx_*       keys by id            targets, groups, tokens
//	msx.rpc.*      core request-reply    enlist, defect (no persistence)
//
// bus imports neither master nor target.
package bus
