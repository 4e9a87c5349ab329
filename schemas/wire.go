package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// ProtocolVersion is the version of the master/target protocol a build speaks. A master accepts
// targets of its own version and the two before it, as MSX does (14306 otherwise).
//
// History:
//   - 1 (2026-11-25): first protocol: enlist/defect RPC, instructions 1-9, heartbeats with job
//     digest, applied reports.
//   - 2 (2026-12-02): the master makes each target's instruction consumer (msx.rpc.consumer.<t>,
//     ConsumerRequest); targets may no longer create consumers. A protocol-1 target enlists but,
//     on a bus with authentication, cannot read its instructions: upgrade it.
const ProtocolVersion = 2

// MinProtocolVersion is the oldest target protocol this master accepts.
const MinProtocolVersion = max(1, ProtocolVersion-2)

// Message types.
const (
	TypeEnlistRequest     = "msx.enlist.request.v1"
	TypeEnlistReply       = "msx.enlist.reply.v1"
	TypeDefectRequest     = "msx.defect.request.v1"
	TypeDefectReply       = "msx.defect.reply.v1"
	TypeConsumerRequest   = "msx.consumer.request.v1"
	TypeConsumerReply     = "msx.consumer.reply.v1"
	TypeInstruction       = "msx.instruction.v1"
	TypeInstructionStatus = "msx.instruction.status.v1"
	TypeHeartbeat         = "msx.heartbeat.v1"
	TypeLedgerClear       = "msx.ledger.clear.v1"
	TypeRunResult         = "msx.run.result.v1"
	TypeEvent             = "msx.event.v1"
	TypeAudit             = "msx.audit.v1"
)

// Error is an error that crosses the bus: a stable numeric code (the SQL Server message number
// where MSX has one for the same condition) and a message. Receivers match codes, never text.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message + " (" + strconv.Itoa(e.Code) + ")" }

// EnlistRequest is sent by a target on msx.rpc.enlist. A first enlistment carries a one-time
// token; enlisting again (RE-ENLIST, restart with new location) is signed with the target's key.
type EnlistRequest struct {
	Type               string    `json:"type"`
	ProtocolVersion    int       `json:"protocol_version"`
	ServerName         string    `json:"server_name"`
	Location           string    `json:"location,omitempty"`
	TimeZoneAdjustment int       `json:"time_zone_adjustment"`
	LocalTime          time.Time `json:"local_time"`
	PollInterval       int       `json:"poll_interval"`
	Version            string    `json:"version"`
	EnlistedBy         string    `json:"enlisted_by,omitempty"`
	Token              string    `json:"token,omitempty"`
	PublicKey          string    `json:"public_key"`
	Signature          string    `json:"signature,omitempty"`
}

// SignedBytes returns the bytes a target signs to prove its identity on re-enlistment and defection.
func SignedBytes(parts ...string) []byte {
	b, _ := json.Marshal(parts)
	return b
}

// EnlistReply answers an EnlistRequest.
type EnlistReply struct {
	Type         string    `json:"type"`
	Error        *Error    `json:"error,omitempty"`
	ServerID     int       `json:"server_id,omitempty"`
	ServerName   string    `json:"server_name,omitempty"`
	MasterName   string    `json:"master_name,omitempty"`
	EnlistDate   time.Time `json:"enlist_date,omitzero"`
	PollInterval int       `json:"poll_interval,omitempty"`
	// StartSeq is the first MSX_INSTR sequence this enlistment reads from; earlier messages on
	// the target's subject belong to a previous enlistment.
	StartSeq uint64 `json:"start_seq,omitempty"`
}

// DefectRequest is sent by a target on msx.rpc.defect (normal defection).
type DefectRequest struct {
	Type       string    `json:"type"`
	ServerName string    `json:"server_name"`
	Time       time.Time `json:"time"`
	Signature  string    `json:"signature"`
}

// ConsumerRequest is sent by a target on msx.rpc.consumer.<token>: it asks the master to
// (re)create its instruction consumer, delivering from StartSeq (the sequence after the last one
// the target applied). The token in the subject says who asks; the signature over ("consumer",
// token, StartSeq, Time) proves it where accounts do not (an external NATS with one account for
// all targets).
type ConsumerRequest struct {
	Type      string    `json:"type"`
	StartSeq  uint64    `json:"start_seq"`
	Time      time.Time `json:"time"`
	Signature string    `json:"signature"`
}

// Signed is the third part signed with SignedBytes("consumer", token, r.Signed()).
func (r *ConsumerRequest) Signed() string {
	return strconv.FormatUint(r.StartSeq, 10) + " " + r.Time.UTC().Format(time.RFC3339Nano)
}

// ConsumerReply answers a ConsumerRequest with the consumer to pull from.
type ConsumerReply struct {
	Type     string `json:"type"`
	Error    *Error `json:"error,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Consumer string `json:"consumer,omitempty"`
	StartSeq uint64 `json:"start_seq,omitempty"`
}

// DefectReply answers a DefectRequest.
type DefectReply struct {
	Type  string `json:"type"`
	Error *Error `json:"error,omitempty"`
}

// Operation is a download-list instruction code, as in msdb.dbo.sysdownloadlist.
type Operation int

// Operations. Append-only.
const (
	OpInsert    Operation = 1
	OpUpdate    Operation = 2
	OpDelete    Operation = 3
	OpStart     Operation = 4
	OpStop      Operation = 5
	OpReEnlist  Operation = 6
	OpDefect    Operation = 7
	OpSyncTime  Operation = 8
	OpSetPoll   Operation = 9
	OpSetAlerts Operation = 10 // msx: the target's performance alerts become Instruction.Alerts
	maxOperatio           = OpSetAlerts
)

var opNames = [...]string{"", "INSERT", "UPDATE", "DELETE", "START", "STOP", "RE-ENLIST", "DEFECT", "SYNC-TIME", "SET-POLL", "SET-ALERTS"}

func (o Operation) String() string {
	if o >= 1 && o <= maxOperatio {
		return opNames[o]
	}
	return "UNKNOWN(" + strconv.Itoa(int(o)) + ")"
}

// ObjectType returns "job" or "server": the object an operation acts on.
func (o Operation) ObjectType() string {
	if o >= OpReEnlist {
		return "server"
	}
	return "job"
}

// Instruction is one row of the download list, posted on msx.instr.<target>.
// Its stream sequence is the row's instance_id (posting order).
type Instruction struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Operation  Operation `json:"operation"`
	ObjectID   string    `json:"object_id,omitempty"` // job id; empty DELETE = all master jobs
	ObjectName string    `json:"object_name,omitempty"`
	Target     string    `json:"target"`
	Source     string    `json:"source"`
	Posted     time.Time `json:"posted"`
	// PollInterval is the new interval in seconds for SET-POLL.
	PollInterval int `json:"poll_interval,omitempty"`
	// Job is the full job snapshot for INSERT, with its version number.
	Job json.RawMessage `json:"job,omitempty"`
	// Alerts is, for SET-ALERTS, the whole set of enabled performance-condition alerts in
	// scope for the target (a JSON array of schemas/notify.Alert; [] clears it). ObjectID is
	// the set's digest (schemas/notify.PerfAlertDigest).
	Alerts json.RawMessage `json:"alerts,omitempty"`
}

// Applied statuses of an instruction on a target.
const (
	StatusApplied = "applied"
	StatusFailed  = "failed"
)

// InstructionStatus reports what a target did with one instruction, on msx.applied.<target>.
type InstructionStatus struct {
	Type          string    `json:"type"`
	InstructionID string    `json:"instruction_id"`
	Seq           uint64    `json:"seq"`
	Status        string    `json:"status"`
	Downloaded    time.Time `json:"downloaded"`
	Error         *Error    `json:"error,omitempty"`
}

// Heartbeat is what a poll carries in MSX, published on msx.status.<target>.
type Heartbeat struct {
	Type               string    `json:"type"`
	ServerName         string    `json:"server_name"`
	Sent               time.Time `json:"sent"`
	LocalTime          string    `json:"local_time"`
	TimeZoneAdjustment int       `json:"time_zone_adjustment"`
	PollInterval       int       `json:"poll_interval"`
	// IntervalMS is how often heartbeats are sent; the master suspects the target offline after
	// three missed intervals. It equals poll_interval unless a test or operator shortens it.
	IntervalMS      int64  `json:"interval_ms"`
	Version         string `json:"version"`
	ProtocolVersion int    `json:"protocol_version"`
	// JobDigest summarises the job ids and versions the target holds; Jobs counts them.
	JobDigest  string `json:"job_digest"`
	Jobs       int    `json:"jobs"`
	AppliedSeq uint64 `json:"applied_seq"`
	// ClockOffsetMS is the target clock minus the master clock at the last SYNC-TIME.
	ClockOffsetMS int64  `json:"clock_offset_ms"`
	Database      string `json:"database,omitempty"`
	// Disk is the state of the target's data directory; absent from agents older than this
	// field (read as "ok").
	Disk *DiskState `json:"disk,omitempty"`
	// Held lists the job ids and versions whose digest is JobDigest, so the master can tell
	// which jobs differ when the digest is not the one it expects. Sent when the digest changed
	// since the previous heartbeat and on every HeldEvery-th heartbeat, and only while the target
	// holds at most MaxHeld jobs; absent otherwise and from older agents.
	Held map[string]int `json:"held,omitempty"`
	// AlertDigest is the digest of the SET-ALERTS set the target holds
	// (schemas/notify.PerfAlertDigest), for drift repair; absent from older agents and from
	// agents that never received a SET-ALERTS (so that an older master takes their heartbeats).
	AlertDigest string `json:"alert_digest,omitempty"`
}

// MaxHeld bounds Heartbeat.Held: a target holding more jobs sends the digest alone.
const MaxHeld = 1000

// HeldEvery is how often (in heartbeats) a target sends Held while its digest does not change,
// so that a master that restarted learns it.
const HeldEvery = 10

// Disk states a heartbeat reports (append-only).
const (
	DiskOK   = "ok"   // the data directory takes writes
	DiskLow  = "low"  // free space is below the agent's warning threshold
	DiskFull = "full" // writes fail: reports are held in memory until space returns
)

// DiskState is the state of a target's data directory, as its heartbeat reports it.
type DiskState struct {
	State     string `json:"state"`
	FreeBytes int64  `json:"free_bytes,omitempty"`
	// HeldReports counts run reports and events held in memory because the disk refused them.
	HeldReports int    `json:"held_reports,omitempty"`
	Message     string `json:"message,omitempty"`
}

// LedgerClear clears the error of one download-list row; master only, on msx.ledger.clear.
type LedgerClear struct {
	Type    string    `json:"type"`
	Seq     uint64    `json:"seq"`
	Cleared time.Time `json:"cleared"`
	By      string    `json:"by,omitempty"`
}

// Run phases of a RunResult.
const (
	PhaseStarted  = "started"
	PhaseFinished = "finished"
)

// RunResult reports a run of a job on a target, on msx.result.<target>.<job>: once when it
// starts (phase "started", run_status 4) and once when it ends (phase "finished", with the
// job outcome row and one row per step attempt). The run id is the Nats-Msg-Id prefix, so a
// resent report is stored once.
type RunResult struct {
	Type          string            `json:"type"`
	RunID         string            `json:"run_id"`
	Phase         string            `json:"phase"`
	JobID         string            `json:"job_id"`
	JobName       string            `json:"job_name"`
	VersionNumber int               `json:"version_number"`
	Server        string            `json:"server"`
	InvokedBy     string            `json:"invoked_by"`
	Started       time.Time         `json:"started"`
	Finished      time.Time         `json:"finished,omitzero"`
	RunStatus     int               `json:"run_status"`
	Message       string            `json:"message,omitempty"`
	Rows          []json.RawMessage `json:"rows,omitempty"` // jobs.HistoryRow documents
	// JobDeleted says the target deleted the job after this run (its delete_level matched), so
	// the master stops expecting this version of it there.
	JobDeleted bool `json:"job_deleted,omitempty"`

	// Skipped says the firing did not run: the job was still running and its overlap policy
	// skipped it (or a queued firing was dropped). Such a result is a "finished" history row
	// with run_status 3 that changes neither the job's last outcome nor its run counts.
	Skipped bool `json:"skipped,omitempty"`
	// Due is when the schedule wanted the run, set when it started later than that: a
	// catch-up of a firing missed while the agent was stopped, or a queued firing.
	Due time.Time `json:"due,omitzero"`
	// LateSeconds is how many seconds after Due the run started.
	LateSeconds int64 `json:"late_seconds,omitempty"`
}

// Event severities, as SQL Server's: 10 informational, 16 error, 20 critical.
const (
	SeverityInfo     = 10
	SeverityWarning  = 14
	SeverityError    = 16
	SeverityCritical = 20
)

// Event is a forwarded event, on msx.event.<target>.<severity>.
type Event struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	Server    string    `json:"server"`
	Time      time.Time `json:"time"`
	Severity  int       `json:"severity"`
	Source    string    `json:"source"` // job, step, instruction, agent, sqlserver, master
	Message   string    `json:"message"`
	ErrorCode int       `json:"error_code,omitempty"`
	JobID     string    `json:"job_id,omitempty"`
	JobName   string    `json:"job_name,omitempty"`
	StepID    int       `json:"step_id,omitempty"`
	RunID     string    `json:"run_id,omitempty"`
	// Alert names the alert whose performance condition became true (source "performance").
	Alert string `json:"alert,omitempty"`
}

// JobSetDigest summarises a set of job ids and versions; targets send it in heartbeats and the
// master compares it with what each target should hold.
func JobSetDigest(versions map[string]int) string {
	ids := make([]string, 0, len(versions))
	for id := range versions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s:%d\n", id, versions[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Audit is one record of the append-only audit stream (msx.audit): who changed what, when and
// from where. A master signs every record it writes (Signer, Signature over SignedAuditBytes);
// readers show a record that does not verify as unverified, never as genuine.
type Audit struct {
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`
	From   string    `json:"from"`
	Action string    `json:"action"` // e.g. "POST /api/v1/jobs", "enlist", "defect", "repair"
	// Object names what the action is about: "job Nightly", "group Web", "server SQL01",
	// "token 8c745a872536" (a token's id, never the token).
	Object string `json:"object,omitempty"`
	Status int    `json:"status"` // HTTP status of the change; 200 for bus actions that succeeded
	Detail string `json:"detail,omitempty"`
	// Changes lists what changed: the diff `msx job apply` prints, members added or removed,
	// the servers an instruction was posted to.
	Changes []string `json:"changes,omitempty"`
	// Count is how many refused requests of one source this record stands for (flood
	// aggregation); 0 or 1 means one.
	Count int `json:"count,omitempty"`
	// Signer is the public nkey of the master that wrote the record; Signature its signature
	// (base64) over SignedAuditBytes.
	Signer    string `json:"signer,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// SignedAuditBytes returns the bytes a master signs for an audit record: the record with an
// empty Signature, encoded as JSON.
func SignedAuditBytes(a Audit) []byte {
	a.Signature = ""
	a.Type = TypeAudit
	a.Time = a.Time.UTC()
	b, _ := json.Marshal(a)
	return b
}
