package errorlog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// Modes of Config.Mode, as MSX's "forward events: unhandled events only / all events".
const (
	// ModeUnhandled forwards the errors no enabled local alert handles. The default.
	ModeUnhandled = "unhandled"
	// ModeAll forwards every error at or above the threshold.
	ModeAll = "all"
)

// Defaults of Config.
const (
	DefaultSeverity = 17
	DefaultInterval = 30 * time.Second
)

// maxLines bounds the log lines one poll consumes (a long outage, a chatty log); the rest waits
// for the next poll.
const maxLines = 5000

// queryTimeout bounds one poll when the caller's context has no deadline.
const queryTimeout = 30 * time.Second

// readLog reads the current SQL Server error log (0) from @start, oldest first. See the package
// comment for why xp_readerrorlog.
const readLog = `EXEC master.dbo.xp_readerrorlog 0, 1, NULL, NULL, @start, NULL, N'asc'`

// readAlerts reads what the enabled local alerts handle.
const readAlerts = `SELECT message_id, severity FROM msdb.dbo.sysalerts WHERE enabled = 1`

// Config configures a Poller. The zero value of each optional field is its default.
type Config struct {
	// DB is the SQL Server whose error log is read. Required.
	DB *sql.DB
	// Sink keeps the position and receives the entries to forward. Required.
	Sink Sink
	// Mode is ModeUnhandled (default) or ModeAll.
	Mode string
	// Severity is the threshold: errors of this severity and above are forwarded. 1..25;
	// default 17 (DefaultSeverity).
	Severity int
	// Interval is how often the log is read; default 30 s (DefaultInterval).
	Interval time.Duration
	// Location is the SQL Server's time zone: LogDate is its local time. Default time.Local.
	Location *time.Location
	// Logger; default: discard.
	Logger *slog.Logger
	// Now returns the current time, where the first poll starts; default time.Now.
	Now func() time.Time
}

// Sink keeps a Poller's position and forwards its entries. The target agent satisfies it with
// its store and outbox.
type Sink interface {
	// Position returns the saved position; ok is false when none was saved.
	Position(ctx context.Context) (pos Position, ok bool, err error)
	// Forward queues entries (possibly none) and then saves pos, the position after them.
	Forward(ctx context.Context, entries []Entry, pos Position) error
}

// Position is how far a Poller has read the error log: the LogDate of the last line it
// consumed and how many lines with that LogDate it consumed. LogDate is the SQL Server's wall
// clock, in UTC as the driver returns DATETIME values.
type Position struct {
	LogDate time.Time `json:"log_date"`
	Count   int       `json:"count"`
}

// Entry is one error read from the log.
type Entry struct {
	// ID is unique and stable for the error's place in the log: "sqlserver-" LogDate "-" the
	// line's index among the lines of that LogDate.
	ID string
	// Time is LogDate in Config.Location.
	Time        time.Time
	ProcessInfo string
	Number      int
	Severity    int
	State       int
	// Message is the line after the "Error:" line; empty if SQL Server wrote none.
	Message string
}

// Poller reads the error log and forwards errors. Create it with New.
type Poller struct {
	cfg   Config
	log   *slog.Logger
	start Position // where the first poll starts when the sink has no position

	mu   sync.Mutex // one poll at a time
	held string     // ID of an "Error:" line held back once because its message was not there yet
}

// New returns a Poller for cfg with its defaults filled in. It returns an error wrapping
// ErrNoDatabase, ErrMode or ErrSeverity when cfg cannot work.
func New(cfg Config) (*Poller, error) {
	if cfg.DB == nil || cfg.Sink == nil {
		return nil, ErrNoDatabase
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeUnhandled
	case ModeUnhandled, ModeAll:
	default:
		return nil, fmt.Errorf("%w: %q (use %s or %s)", ErrMode, cfg.Mode, ModeUnhandled, ModeAll)
	}
	if cfg.Severity == 0 {
		cfg.Severity = DefaultSeverity
	}
	if cfg.Severity < 1 || cfg.Severity > 25 {
		return nil, fmt.Errorf("%w: %d", ErrSeverity, cfg.Severity)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Poller{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "target.errorlog")
	p.start = Position{LogDate: wallClock(cfg.Now().In(cfg.Location)).Truncate(time.Second)}
	return p, nil
}

// Run polls every Config.Interval until ctx ends. Errors are logged and the next poll tries
// again: a SQL Server that is down does not stop the agent. It returns nil when ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	p.log.Info("forwarding SQL Server errors from the error log", "mode", p.cfg.Mode, "severity", p.cfg.Severity)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("error log not read, will retry", "err", err, "wait", p.cfg.Interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll reads the log lines written since the position once, hands the errors to forward and the
// new position to the Sink, and returns how many errors it forwarded. Nothing moves when it
// fails: the next poll reads the same lines again.
func (p *Poller) Poll(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, queryTimeout)
		defer cancel()
	}
	pos, saved, err := p.cfg.Sink.Position(ctx)
	if err != nil {
		return 0, fmt.Errorf("read error log position: %w", err)
	}
	if !saved {
		pos = p.start
	}
	lines, err := p.read(ctx, pos)
	if err != nil {
		return 0, err
	}
	entries, next := p.pair(lines, pos)
	if next == pos && saved {
		return 0, nil
	}
	fwd, err := p.filter(ctx, entries)
	if err != nil {
		return 0, err
	}
	if err := p.cfg.Sink.Forward(ctx, fwd, next); err != nil {
		return 0, fmt.Errorf("forward SQL Server errors: %w", err)
	}
	if len(fwd) > 0 {
		p.log.Info("SQL Server errors forwarded", "count", len(fwd), "read", len(entries))
	}
	return len(fwd), nil
}

// line is one error log line after the position.
type line struct {
	date time.Time
	proc string
	text string
	n    int // index among the lines of this date, from 1
}

// read returns the lines after pos, at most maxLines. It asks for lines from a second before
// pos, so that neither DATETIME rounding of @start nor whether the start is inclusive can lose
// one, and drops those it consumed before.
func (p *Poller) read(ctx context.Context, pos Position) ([]line, error) {
	var start any // NULL: the whole log
	if pos.LogDate.Year() > 1900 {
		start = mssql.DateTime1(pos.LogDate.Add(-time.Second))
	}
	rows, err := p.cfg.DB.QueryContext(ctx, readLog, sql.Named("start", start))
	if err != nil {
		return nil, fmt.Errorf("read error log: %w", err)
	}
	defer rows.Close()
	var (
		out []line
		cur time.Time
		n   int
	)
	for rows.Next() {
		var l line
		var proc, text sql.NullString
		if err := rows.Scan(&l.date, &proc, &text); err != nil {
			return nil, fmt.Errorf("read error log: %w", err)
		}
		l.proc, l.text = proc.String, text.String
		if !l.date.Equal(cur) {
			cur, n = l.date, 0
		}
		n++
		if l.date.Before(pos.LogDate) || (l.date.Equal(pos.LogDate) && n <= pos.Count) {
			continue
		}
		l.n = n
		out = append(out, l)
		if len(out) == maxLines {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read error log: %w", err)
	}
	return out, rows.Close()
}

// pair turns lines into entries, each "Error:" line with the line after it when that line has
// the same LogDate and ProcessInfo, and returns the position after the last line consumed. An
// "Error:" line that ends the lines is held back once, since SQL Server may not have written its
// message yet; the next poll forwards it, with or without one.
func (p *Poller) pair(lines []line, pos Position) ([]Entry, Position) {
	var out []Entry
	next := pos
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		num, sev, state, ok := ParseHeader(l.text)
		if !ok {
			next = Position{LogDate: l.date, Count: l.n}
			continue
		}
		e := Entry{
			ID:   fmt.Sprintf("sqlserver-%s-%d", l.date.Format("20060102T150405.000"), l.n),
			Time: inLocation(l.date, p.cfg.Location), ProcessInfo: l.proc, Number: num, Severity: sev, State: state,
		}
		if i+1 == len(lines) && p.held != e.ID {
			p.held = e.ID
			break
		}
		next = Position{LogDate: l.date, Count: l.n}
		if i+1 < len(lines) {
			m := lines[i+1]
			if _, _, _, hdr := ParseHeader(m.text); !hdr && m.date.Equal(l.date) && m.proc == l.proc {
				e.Message = m.text
				next = Position{LogDate: m.date, Count: m.n}
				i++
			}
		}
		out = append(out, e)
	}
	return out, next
}

// filter returns the entries to forward: at or above the threshold, and in ModeUnhandled not
// handled by an enabled alert.
func (p *Poller) filter(ctx context.Context, entries []Entry) ([]Entry, error) {
	var out []Entry
	for _, e := range entries {
		if e.Severity >= p.cfg.Severity {
			out = append(out, e)
		}
	}
	if p.cfg.Mode == ModeAll || len(out) == 0 {
		return out, nil
	}
	handled, err := p.alerts(ctx)
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, e := range out {
		if handled(e.Number, e.Severity) {
			p.log.Debug("SQL Server error handled by a local alert, not forwarded", "error", e.Number, "severity", e.Severity)
			continue
		}
		kept = append(kept, e)
	}
	return kept, nil
}

// alerts returns whether an enabled alert of msdb.dbo.sysalerts handles an error: one on its
// number, or one on its severity (message_id 0).
func (p *Poller) alerts(ctx context.Context) (func(number, severity int) bool, error) {
	rows, err := p.cfg.DB.QueryContext(ctx, readAlerts)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	numbers, severities := map[int]bool{}, map[int]bool{}
	for rows.Next() {
		var msgID, sev sql.NullInt64
		if err := rows.Scan(&msgID, &sev); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		switch {
		case msgID.Int64 != 0:
			numbers[int(msgID.Int64)] = true
		case sev.Int64 != 0:
			severities[int(sev.Int64)] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return func(number, severity int) bool { return numbers[number] || severities[severity] }, nil
}

// wallClock returns t's wall clock as a UTC time, the way the driver returns DATETIME values.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// inLocation reads the wall clock of t (as the driver returns it) in loc.
func inLocation(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}
