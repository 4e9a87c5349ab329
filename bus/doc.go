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
//	msx.rpc.*      core request-reply    enlist, defect, consumer.<t> (no persistence)
//	msx.out.<t>.<job>  core NATS         a running step's live output (best effort, no stream)
//
// With authentication (Auth), the master and every asset above live in one account, each target
// in an account of its own and clients without a key in an enlist-only account; the target and
// enlist accounts reach the master's only through service imports of their own subjects, so any
// answer a caller causes is routed back into the caller's account and never into a stream.
// Targets create no consumers: the master makes each target's one instruction consumer
// (InstrConsumerConfig) when the target asks on ConsumerSubject. SECURITY.md has the details.
//
// bus imports neither master nor target.
package bus
