//go:build faults

// Package faults_test is msx's fault-injection suite: targets and masters killed with SIGKILL
// and restarted, partitions, duplicated messages, a JetStream cluster node killed under load, a
// full disk, garbage on every subject, an INSERT that keeps failing while heartbeats go by, and
// a 500-job deploy under one-second heartbeats. The HA scenarios run three masters on a
// three-node cluster (R3 state): the leader killed mid-way through one 1,000-target fan-out
// (its link slowed by a proxy) and between fan-outs, the leader partitioned from the others,
// all masters restarted at once; each checks one leader at every
// sample, takeover within the lease TTL and one renew period, and that nothing was posted,
// applied or counted twice. TestRemoteSiteThroughLeafNode proves deploy/nats (hub cluster and
// site leaf node). Every scenario ends with an exact count: each
// instruction applied once on its target (the target's `applied` table against the master's
// ledger) and each run reported once (finished results per run id on MSX_RESULTS, and the rows
// the job's step wrote). Run it with `make test-faults`.
package faults_test
