// Package bench is the engine of `msx bench`: it starts an embedded NATS JetStream server and a
// master, runs a fleet of real target agents in the same process (each with its own data
// directory and its own NATS connection, speaking the real protocol), measures enlistment,
// job fan-out, job start, result ingestion, schedule lateness and memory, and measures the bare
// JetStream work that corresponds to each in the same run, so every figure comes with the floor
// it should be compared to.
//
// The execution phase (exec.go, `--exec-jobs`, `--exec-window`, `--exec-step`) gives every
// target of the fleet J jobs on a 1-second cron schedule (UTC), all starting at one second after
// every job reached the fleet, and counts from the targets' started and finished reports (on
// msx.result.>, as the observer sees them) the runs due in a window of whole seconds: runs
// started per second fleet-wide, each start minus its second (lateness, below 1 s by
// construction: a run more than a second late counts against the next second, whose own firing
// the scheduler then skips, so it shows as a missed firing), missed and skipped firings, and the
// runs the master counted. Its raw floor is as many timers due each second, each wake-up
// async-publishing two result messages. The jobs are deleted at the end of the phase.
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
