// Package bench is the engine of `msx bench`: it starts an embedded NATS JetStream server and a
// master, runs a fleet of real target agents in the same process (each with its own data
// directory and its own NATS connection, speaking the real protocol), measures enlistment,
// job fan-out, job start, result ingestion, schedule lateness and memory, and measures the bare
// JetStream work that corresponds to each in the same run, so every figure comes with the floor
// it should be compared to.
//
// The master and the targets share one process, so the memory figures are process RSS deltas
// (VmRSS from /proc/self/status), not separate process sizes.
//
// Connections are opened Config.Dials at a time (`--dials`, default 100), by the raw phases and
// the fleet alike: a target holds its slot from its launch until its first connection is up.
// Thousands of TLS handshakes at once on a small machine time out, and a real fleet staggers
// its starts. With Config.Masters (`--masters 3`) a last phase measures failover on a cluster of
// its own (failover.go): the leader's node and master are stopped at once, Rounds times, and
// the takeover time is reported against the lease TTL.
package bench
