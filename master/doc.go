// Package master is the msx master: it enlists targets, keeps the registry, groups and the
// download list in JetStream, posts instructions, follows heartbeats and reports, and answers
// the API (master/api). All of its state lives in JetStream, so a restarted master, or another
// master on the same NATS cluster, rebuilds exactly the same view.
package master
