// Package target is the msx target agent: it enlists one SQL Server instance with a master,
// reads its own instructions from the bus in posting order, applies each exactly once against
// its local database, reports what it did, and sends heartbeats that carry what an MSX poll
// carries plus a digest of the jobs it holds.
//
// Instruction states on a target:
//
//	posted ──delivered──> applying ──commit──> applied ──outbox──> reported
//	                          │                   ▲
//	                          └──error──> failed ─┘ (recorded, reported; later ones go on)
//
// A redelivered instruction (same id) is recognised in the local database and has no effect.
package target
