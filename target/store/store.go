// Package store is a target agent's local database: an embedded SQLite file in the agent's data
// directory holding its identity, the instructions it applied (so a redelivered instruction has
// no second effect), the jobs it holds, and an outbox of messages still to be published.
//
// Applying an instruction, recording it and queueing its report happen in one transaction: a
// crash at any point leaves either all three or none.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/msx-project/msx/schemas"
)

// ErrAlreadyApplied is returned by Apply when the instruction id was applied before.
var ErrAlreadyApplied = errors.New("instruction already applied")

// Refused reports whether err says the file system refused a write: it is full (SQLite's
// SQLITE_FULL, ENOSPC) or failed an I/O (SQLITE_IOERR, as when SQLite cannot size its
// shared-memory file on a full disk).
func Refused(err error) bool {
	var ce interface{ Code() int }
	if errors.As(err, &ce) {
		switch ce.Code() & 0xff {
		case sqliteIOErr, sqliteFull:
			return true
		}
	}
	return errors.Is(err, syscall.ENOSPC)
}

// SQLite's primary result codes that Refused looks for.
const (
	sqliteIOErr = 10
	sqliteFull  = 13
)

// ErrNotEnlisted is returned by Identity when the agent has not enlisted.
var ErrNotEnlisted = errors.New("target is not enlisted")

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applied (
  instruction_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  operation INTEGER NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
  job_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS running (
  run_id TEXT PRIMARY KEY,
  doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS processes (
  run_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pgid INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  step_id INTEGER NOT NULL,
  step_name TEXT NOT NULL,
  PRIMARY KEY (run_id, pid)
);
CREATE TABLE IF NOT EXISTS fired (
  job_id TEXT PRIMARY KEY,
  handled INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subject TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  payload BLOB NOT NULL,
  created TEXT NOT NULL
);`

// Store is an open local database. Its methods are safe for concurrent use.
type Store struct {
	db    *sql.DB
	stmts stmts
}

// Open opens (creating) the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open local database %s: %w", path, err)
	}
	// One writer: SQLite serialises writes anyway, and one connection keeps "database is locked"
	// out of the picture.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise local database %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// OpenReadOnly opens the database at path to read it on a file system that refuses writes
// (a full disk): immutable, so SQLite needs no lock or shared-memory file, and changes
// still in its write-ahead log are not seen. Every write fails.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("open local database %s read-only: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open local database %s read-only: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.closeStmts()
	return s.db.Close()
}

// DB exposes the database for the job runner's local catalogue.
func (s *Store) DB() *sql.DB { return s.db }

// Identity is what a target keeps of its enlistment.
type Identity struct {
	ServerName   string    `json:"server_name"` // canonical, e.g. SQL04\PROD
	Token        string    `json:"token"`       // subject token, e.g. SQL04~PROD
	ServerID     int       `json:"server_id"`
	MasterName   string    `json:"master_name"`
	Seed         string    `json:"seed"` // nkey seed: the target's private identity
	EnlistDate   time.Time `json:"enlist_date"`
	StartSeq     uint64    `json:"start_seq"`
	Location     string    `json:"location"`
	PollInterval int       `json:"poll_interval"`
	Version      string    `json:"version"`
	// TimeZoneAdjustment is the offset from UTC, in minutes, last reported.
	TimeZoneAdjustment int `json:"time_zone_adjustment"`
}

// Meta keys.
const (
	KeyIdentity    = "identity"
	KeyClockOffset = "clock_offset_ms"
)

// EnqueueAndSet queues msgs and writes a meta value in one transaction.
func (s *Store) EnqueueAndSet(ctx context.Context, key string, v any, msgs ...OutMsg) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := enqueueAll(ctx, tx, msgs); err != nil {
			return err
		}
		return setJSON(ctx, tx, key, v)
	})
}

// SetTx writes a meta value inside tx.
func SetTx(ctx context.Context, tx *sql.Tx, key string, v any) error {
	return setJSON(ctx, tx, key, v)
}

// Identity returns the saved identity, or ErrNotEnlisted.
func (s *Store) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	ok, err := s.getJSON(ctx, KeyIdentity, &id)
	if err != nil {
		return id, err
	}
	if !ok {
		return id, ErrNotEnlisted
	}
	return id, nil
}

// SaveIdentity stores the identity.
func (s *Store) SaveIdentity(ctx context.Context, id Identity) error {
	return setJSON(ctx, s.db, KeyIdentity, id)
}

// Forget deletes everything that came from the master (identity, jobs, applied instructions,
// outbox) and returns how many jobs were deleted. It is what defection does on a target.
func (s *Store) Forget(ctx context.Context) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM jobs`, `DELETE FROM applied`, `DELETE FROM outbox`, `DELETE FROM processes`, `DELETE FROM meta`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	return n, nil
}

// AppliedSeq returns the highest instruction stream sequence applied (0 if none).
func (s *Store) AppliedSeq(ctx context.Context) (uint64, error) {
	var v uint64
	_, err := s.getJSON(ctx, "applied_seq", &v)
	return v, err
}

// Applied reports whether an instruction id was applied, and its status.
func (s *Store) Applied(ctx context.Context, id string) (status string, ok bool, err error) {
	st, err := s.prepared(ctx, `SELECT status FROM applied WHERE instruction_id = ?`)
	if err != nil {
		return "", false, err
	}
	err = st.QueryRowContext(ctx, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return status, err == nil, err
}

// OutMsg is a message to publish once the transaction that queued it commits.
type OutMsg struct {
	Subject string
	MsgID   string // Nats-Msg-Id: JetStream drops a duplicate publish
	Payload []byte
}

// Apply runs fn and records instruction id at stream sequence seq as applied, together with the
// messages to publish about it, in one transaction. If fn fails, its changes are rolled back and
// the instruction is recorded as failed, with the messages that report builds from the failure.
// If the id was applied before, nothing runs and ErrAlreadyApplied comes back.
func (s *Store) Apply(ctx context.Context, seq uint64, id string, op int, fn func(tx *sql.Tx) error,
	report func(applyErr error) []OutMsg) (applyErr error, err error) {
	if _, ok, err := s.Applied(ctx, id); err != nil {
		return nil, err
	} else if ok {
		// A duplicate (same id at another sequence): no second effect, but its row on the
		// master is answered, so it does not stay pending.
		if err := s.duplicate(ctx, seq, report); err != nil {
			return nil, err
		}
		return nil, ErrAlreadyApplied
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("apply instruction %d: %w", seq, err)
	}
	if fn != nil {
		applyErr = fn(tx)
	}
	if applyErr != nil {
		tx.Rollback()
		if tx, err = s.db.BeginTx(ctx, nil); err != nil {
			return applyErr, fmt.Errorf("record failed instruction %d: %w", seq, err)
		}
	}
	defer tx.Rollback()
	status, errText := "applied", ""
	if applyErr != nil {
		status, errText = "failed", applyErr.Error()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO applied(instruction_id, seq, operation, status, error, applied_at) VALUES (?,?,?,?,?,?)`,
		id, seq, op, status, errText, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return applyErr, fmt.Errorf("record instruction %d: %w", seq, err)
	}
	if err := s.setSeqTx(ctx, tx, seq); err != nil {
		return applyErr, err
	}
	if report != nil {
		if err := enqueueAll(ctx, tx, report(applyErr)); err != nil {
			return applyErr, err
		}
	}
	if err := tx.Commit(); err != nil {
		return applyErr, fmt.Errorf("commit instruction %d: %w", seq, err)
	}
	return applyErr, nil
}

// duplicate moves the cursor past a duplicate at seq and queues its report.
func (s *Store) duplicate(ctx context.Context, seq uint64, report func(error) []OutMsg) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.setSeqTx(ctx, tx, seq); err != nil {
			return err
		}
		if report == nil {
			return nil
		}
		return enqueueAll(ctx, tx, report(nil))
	})
}

func (s *Store) setSeqTx(ctx context.Context, tx *sql.Tx, seq uint64) error {
	var cur uint64
	if _, err := getJSONTx(ctx, tx, "applied_seq", &cur); err != nil {
		return err
	}
	if seq > cur {
		return setJSON(ctx, tx, "applied_seq", seq)
	}
	return nil
}

// Enqueue adds messages to the outbox, in order, in one transaction.
func (s *Store) Enqueue(ctx context.Context, msgs ...OutMsg) error {
	if len(msgs) == 1 {
		return enqueue(ctx, s.db, msgs[0])
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return enqueueAll(ctx, tx, msgs) }); err != nil {
		return fmt.Errorf("queue messages: %w", err)
	}
	return nil
}

// Write is one change to the local database that reports something: the messages to queue,
// and the run-in-progress bookkeeping that goes with them.
type Write struct {
	// StartRun, when set, records run StartRun as in progress, with StartDoc (its "started"
	// report, kept to describe the run if the agent dies during it).
	StartRun string
	StartDoc []byte
	// FinishRun, when set, forgets run FinishRun and its process groups.
	FinishRun string
	// Msgs are queued in the outbox, in order.
	Msgs []OutMsg
}

// Commit makes ws, in order, in one transaction.
func (s *Store) Commit(ctx context.Context, ws ...Write) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, w := range ws {
			if w.StartRun != "" {
				if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO running(run_id, doc) VALUES (?, ?)`, w.StartRun, w.StartDoc); err != nil {
					return fmt.Errorf("record run %s: %w", w.StartRun, err)
				}
			}
			if w.FinishRun != "" {
				for _, q := range []string{`DELETE FROM running WHERE run_id = ?`, `DELETE FROM processes WHERE run_id = ?`} {
					if _, err := tx.ExecContext(ctx, q, w.FinishRun); err != nil {
						return fmt.Errorf("finish run %s: %w", w.FinishRun, err)
					}
				}
			}
			if err := enqueueAll(ctx, tx, w.Msgs); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunStarted records a run in progress, with doc (its "started" report, kept to describe the
// run if the agent dies during it), together with msgs, in one transaction.
func (s *Store) RunStarted(ctx context.Context, runID string, doc []byte, msgs ...OutMsg) error {
	return s.Commit(ctx, Write{StartRun: runID, StartDoc: doc, Msgs: msgs})
}

// RunFinished forgets a run in progress and its process groups, and queues msgs (its final
// report), in one transaction.
func (s *Store) RunFinished(ctx context.Context, runID string, msgs ...OutMsg) error {
	return s.Commit(ctx, Write{FinishRun: runID, Msgs: msgs})
}

// Interrupted returns the "started" reports of runs that were in progress when the agent
// stopped without finishing them (crash, kill -9, power loss).
func (s *Store) Interrupted(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, doc FROM running`)
	if err != nil {
		return nil, fmt.Errorf("read interrupted runs: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var doc []byte
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, err
		}
		out[id] = doc
	}
	return out, rows.Err()
}

// StepProcess is the process group of a running step of a run, recorded before the agent
// waits on it so that the agent's next life can find it after a crash.
type StepProcess struct {
	RunID     string
	StepID    int
	StepName  string
	PID, PGID int
	StartTime uint64 // of the main process, against pid reuse (0: unknown)
}

// ProcessStarted records a step's process group.
func (s *Store) ProcessStarted(ctx context.Context, p StepProcess) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO processes(run_id, pid, pgid, start_time, step_id, step_name) VALUES (?,?,?,?,?,?)`,
		p.RunID, p.PID, p.PGID, int64(p.StartTime), p.StepID, p.StepName)
	if err != nil {
		return fmt.Errorf("record process %d of run %s: %w", p.PID, p.RunID, err)
	}
	return nil
}

// ProcessEnded forgets a step's process group.
func (s *Store) ProcessEnded(ctx context.Context, runID string, pid int) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM processes WHERE run_id = ? AND pid = ?`, runID, pid); err != nil {
		return fmt.Errorf("forget process %d of run %s: %w", pid, runID, err)
	}
	return nil
}

// Processes returns the process groups recorded, by run id.
func (s *Store) Processes(ctx context.Context) (map[string][]StepProcess, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, pid, pgid, start_time, step_id, step_name FROM processes ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read processes: %w", err)
	}
	defer rows.Close()
	out := map[string][]StepProcess{}
	for rows.Next() {
		var p StepProcess
		var st int64
		if err := rows.Scan(&p.RunID, &p.PID, &p.PGID, &st, &p.StepID, &p.StepName); err != nil {
			return nil, fmt.Errorf("read processes: %w", err)
		}
		p.StartTime = uint64(st)
		out[p.RunID] = append(out[p.RunID], p)
	}
	return out, rows.Err()
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func enqueueAll(ctx context.Context, tx *sql.Tx, msgs []OutMsg) error {
	for _, m := range msgs {
		if err := enqueue(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func enqueue(ctx context.Context, x execer, m OutMsg) error {
	_, err := x.ExecContext(ctx, `INSERT INTO outbox(subject, msg_id, payload, created) VALUES (?,?,?,?)`,
		m.Subject, m.MsgID, m.Payload, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("queue message for %s: %w", m.Subject, err)
	}
	return nil
}

// Queued is an outbox row.
type Queued struct {
	ID int64
	OutMsg
}

// Outbox returns up to limit queued messages whose id is above after, oldest first.
func (s *Store) Outbox(ctx context.Context, after int64, limit int) ([]Queued, error) {
	return s.OutboxWindow(ctx, after, limit, 0)
}

// OutboxWindow returns up to limit queued messages whose id is above after, oldest first,
// stopping after the one that brings their payloads to maxBytes (0: no byte limit); at least
// one when any is queued.
func (s *Store) OutboxWindow(ctx context.Context, after int64, limit int, maxBytes int) ([]Queued, error) {
	st, err := s.prepared(ctx, `SELECT id, subject, msg_id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	rows, err := st.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []Queued
	bytes := 0
	for rows.Next() && (maxBytes <= 0 || bytes < maxBytes) {
		var q Queued
		if err := rows.Scan(&q.ID, &q.Subject, &q.MsgID, &q.Payload); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		bytes += len(q.Payload)
		out = append(out, q)
	}
	return out, rows.Err()
}

// Sent removes the published messages up to id from the outbox. On a full disk it fails; the
// caller remembers id and tries again, since a delete needs space too.
func (s *Store) Sent(ctx context.Context, id int64) error {
	st, err := s.prepared(ctx, `DELETE FROM outbox WHERE id <= ?`)
	if err == nil {
		_, err = st.ExecContext(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("forget sent messages: %w", err)
	}
	return nil
}

// JobDefinition is one job held, as the master sent it.
type JobDefinition struct {
	JobID      string
	Name       string
	Version    int
	Definition []byte // the jobs.Job JSON snapshot
}

// Jobs returns every job held, ordered by job id.
func (s *Store) Jobs(ctx context.Context) ([]JobDefinition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT job_id, name, version, definition FROM jobs ORDER BY job_id`)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	defer rows.Close()
	var out []JobDefinition
	for rows.Next() {
		var j JobDefinition
		var def string
		if err := rows.Scan(&j.JobID, &j.Name, &j.Version, &def); err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		j.Definition = []byte(def)
		out = append(out, j)
	}
	return out, rows.Err()
}

// DeleteJob deletes a job if the version held is version (a newer snapshot that arrived in the
// meantime stays) and reports whether it did.
func (s *Store) DeleteJob(ctx context.Context, jobID string, version int) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE job_id = ? AND version = ?`, jobID, version)
	if err != nil {
		return false, fmt.Errorf("delete job %s: %w", jobID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// JobDigest returns schemas.JobSetDigest of the jobs held, and their count. The master
// compares it with what the target should hold.
func (s *Store) JobDigest(ctx context.Context) (string, int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT job_id, version FROM jobs`)
	if err != nil {
		return "", 0, fmt.Errorf("job digest: %w", err)
	}
	defer rows.Close()
	versions := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return "", 0, err
		}
		versions[id] = v
	}
	return schemas.JobSetDigest(versions), len(versions), rows.Err()
}

// Get reads a meta value into v; ok is false when absent.
func (s *Store) Get(ctx context.Context, key string, v any) (bool, error) {
	return s.getJSON(ctx, key, v)
}

// Set writes a meta value.
func (s *Store) Set(ctx context.Context, key string, v any) error {
	return setJSON(ctx, s.db, key, v)
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Store) getJSON(ctx context.Context, key string, v any) (bool, error) {
	return getJSONTx(ctx, s.db, key, v)
}

func getJSONTx(ctx context.Context, q queryer, key string, v any) (bool, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	return true, nil
}

func setJSON(ctx context.Context, x execer, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := x.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, string(b)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
