// Package master is the msx master: it enlists targets, keeps the registry, groups and the
// download list in JetStream, posts instructions, follows heartbeats and reports, and answers
// the API (master/api). All of its state lives in JetStream, so a restarted master, or another
// master on the same NATS cluster, rebuilds the same view.
//
// # Several masters
//
// One master leads (master/internal/leader: a KV lease). When it takes over it raises a fence
// in every stream and bucket it writes (MSX_INSTR, MSX_AUDIT, MSX_LEDGER, msx_targets,
// msx_groups, msx_jobs, msx_vars): each of its writes expects its term marker to be the last one, so the
// writes of a master that was deposed meanwhile are refused (ErrNotLeader) and store nothing.
// Leading is true only once the fences are raised. Fan-outs are posted as atomic batches of up
// to leader.MaxBatch instructions, the first one fenced (post.go). What is not fenced is listed
// in the README ("Several masters").
//
// Every master follows the streams and watches the buckets. A result whose target or job the
// view does not know yet waits (park.go) until the watch delivers them; a deletion another
// master made is followed by dropping what this master keeps about the job or target.
//
// # Locks
//
// No lock that a view or the ingestion of reports takes is held across I/O. Changes of jobs
// and group membership are planned under jobMu (with their catalog and registry writes) and
// posted outside it, in turns taken in planning order (order.go): for each target a later
// version of a job is never overtaken by an earlier one. Variable values (vars.go) are changed
// under jobMu too: their INSERTs are resolved per target and take their turn like the others.
package master
