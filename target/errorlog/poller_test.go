package errorlog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the "sqlserver" driver

	"github.com/msx-project/msx/internal/mssqltest"
	"github.com/msx-project/msx/target/errorlog"
)

// memSink is a Sink in memory.
type memSink struct {
	mu      sync.Mutex
	pos     errorlog.Position
	saved   bool
	entries []errorlog.Entry
	fail    error // Forward fails with it
}

var _ errorlog.Sink = (*memSink)(nil)

func (s *memSink) Position(context.Context) (errorlog.Position, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos, s.saved, nil
}

func (s *memSink) Forward(_ context.Context, entries []errorlog.Entry, pos errorlog.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.entries = append(s.entries, entries...)
	s.pos, s.saved = pos, true
	return nil
}

// take returns the entries forwarded since the last take, as "number/severity/message".
func (s *memSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.entries {
		out = append(out, fmt.Sprintf("%d/%d/%s", e.Number, e.Severity, e.Message))
	}
	s.entries = nil
	return out
}

// past is where pollers of the fake start, before anything the tests log.
var past = func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local) }

func newPoller(t *testing.T, db *sql.DB, sink errorlog.Sink, mode string) *errorlog.Poller {
	t.Helper()
	p, err := errorlog.New(errorlog.Config{DB: db, Sink: sink, Mode: mode, Now: past})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func poll(t *testing.T, p *errorlog.Poller) {
	t.Helper()
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatalf("Poll: %v", err)
	}
}

func logError(t *testing.T, fake *mssqltest.Server, number, severity int, msg string) {
	t.Helper()
	if err := fake.LogError(number, severity, 1, msg); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: forwarded %q, want %q", what, got, want)
	}
}

func TestNewConfig(t *testing.T) {
	db := &sql.DB{}
	for _, tt := range []struct {
		name string
		cfg  errorlog.Config
		want error
	}{
		{"no database", errorlog.Config{Sink: &memSink{}}, errorlog.ErrNoDatabase},
		{"unknown mode", errorlog.Config{DB: db, Sink: &memSink{}, Mode: "some"}, errorlog.ErrMode},
		{"severity too high", errorlog.Config{DB: db, Sink: &memSink{}, Severity: 26}, errorlog.ErrSeverity},
		{"severity negative", errorlog.Config{DB: db, Sink: &memSink{}, Severity: -1}, errorlog.ErrSeverity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := errorlog.New(tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestPoller runs against the fake TDS server; with MSSQL_DSN set, TestPollerSQLServer reads a
// real SQL Server's log without writing to it.
func TestPoller(t *testing.T) {
	t.Run("threshold", func(t *testing.T) {
		fake := mssqltest.Start(t)
		sink := &memSink{}
		p := newPoller(t, fake.Client(t), sink, errorlog.ModeUnhandled)
		if err := fake.LogMessage("Server", "SQL Server is starting at normal priority base (=7)."); err != nil {
			t.Fatal(err)
		}
		logError(t, fake, 50000, 16, "below the threshold")
		logError(t, fake, 9002, 17, "The transaction log for database 'sales' is full due to 'LOG_BACKUP'.")
		logError(t, fake, 50000, 20, "fatal")
		poll(t, p)
		check(t, "severities 16, 17, 20", sink.take(), "9002/17/The transaction log for database 'sales' is full due to 'LOG_BACKUP'.", "50000/20/fatal")
		poll(t, p)
		check(t, "second poll", sink.take())
	})

	t.Run("threshold set", func(t *testing.T) {
		fake := mssqltest.Start(t)
		sink := &memSink{}
		p, err := errorlog.New(errorlog.Config{DB: fake.Client(t), Sink: sink, Severity: 20, Now: past})
		if err != nil {
			t.Fatal(err)
		}
		logError(t, fake, 9002, 17, "full")
		logError(t, fake, 824, 24, "I/O")
		poll(t, p)
		check(t, "threshold 20", sink.take(), "824/24/I/O")
	})

	alerts := func(t *testing.T, fake *mssqltest.Server) {
		t.Helper()
		for _, a := range []struct {
			name       string
			msgID, sev int
			enabled    bool
		}{
			{name: "823 handled", msgID: 823, enabled: true},
			{name: "824 disabled", msgID: 824, enabled: false},
			{name: "severity 21", sev: 21, enabled: true},
		} {
			if err := fake.AddAlert(a.name, a.msgID, a.sev, a.enabled); err != nil {
				t.Fatal(err)
			}
		}
		logError(t, fake, 823, 24, "handled by number")
		logError(t, fake, 824, 24, "alert disabled")
		logError(t, fake, 605, 21, "handled by severity")
		logError(t, fake, 9002, 17, "no alert")
	}
	t.Run("unhandled mode", func(t *testing.T) {
		fake := mssqltest.Start(t)
		sink := &memSink{}
		p := newPoller(t, fake.Client(t), sink, "") // the default
		alerts(t, fake)
		poll(t, p)
		check(t, "unhandled", sink.take(), "824/24/alert disabled", "9002/17/no alert")

		// An alert disabled later no longer handles its error.
		if err := fake.SetAlertEnabled("823 handled", false); err != nil {
			t.Fatal(err)
		}
		logError(t, fake, 823, 24, "now unhandled")
		poll(t, p)
		check(t, "after disabling", sink.take(), "823/24/now unhandled")
	})
	t.Run("all mode", func(t *testing.T) {
		fake := mssqltest.Start(t)
		sink := &memSink{}
		p := newPoller(t, fake.Client(t), sink, errorlog.ModeAll)
		alerts(t, fake)
		poll(t, p)
		check(t, "all", sink.take(), "823/24/handled by number", "824/24/alert disabled", "605/21/handled by severity", "9002/17/no alert")
	})

	t.Run("restart neither repeats nor skips", func(t *testing.T) {
		fake := mssqltest.Start(t)
		db := fake.Client(t)
		sink := &memSink{}
		// Lines of one LogDate, so that the position falls inside a date: SQL Server writes to
		// the centisecond and busy servers log several errors at once.
		date := "2024-05-01 12:34:56.780"
		insert := func(number int, msg string) {
			t.Helper()
			if _, err := fake.DB().Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES (?, 'spid60', ?), (?, 'spid60', ?)`,
				date, fmt.Sprintf("Error: %d, Severity: 17, State: 1.", number), date, msg); err != nil {
				t.Fatal(err)
			}
		}
		insert(1001, "one")
		insert(1002, "two")
		poll(t, newPoller(t, db, sink, errorlog.ModeAll))
		check(t, "first poller", sink.take(), "1001/17/one", "1002/17/two")
		if want := 4; sink.pos.Count != want {
			t.Errorf("position = %+v, want %d lines at %s", sink.pos, want, date)
		}

		insert(1003, "three")
		logError(t, fake, 1004, 18, "four")
		p := newPoller(t, db, sink, errorlog.ModeAll) // a restarted agent
		poll(t, p)
		check(t, "restarted poller", sink.take(), "1003/17/three", "1004/18/four")
		poll(t, newPoller(t, db, sink, errorlog.ModeAll))
		check(t, "restarted again", sink.take())

		// A failed Forward moves nothing: the next poll forwards the same error.
		logError(t, fake, 1005, 19, "five")
		sink.fail = errors.New("outbox full")
		if _, err := p.Poll(t.Context()); err == nil {
			t.Fatal("Poll with a failing sink: no error")
		}
		sink.fail = nil
		poll(t, p)
		check(t, "after a failed forward", sink.take(), "1005/19/five")
	})

	t.Run("first start skips the old log", func(t *testing.T) {
		fake := mssqltest.Start(t)
		old := time.Now().Add(-time.Minute).Format("2006-01-02 15:04:05.000")
		if _, err := fake.DB().Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES (?, 'spid60', ?), (?, 'spid60', ?)`,
			old, "Error: 9002, Severity: 17, State: 1.", old, "before the agent"); err != nil {
			t.Fatal(err)
		}
		sink := &memSink{}
		p, err := errorlog.New(errorlog.Config{DB: fake.Client(t), Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		poll(t, p)
		check(t, "first poll", sink.take())
		if !sink.saved {
			t.Error("first poll saved no position")
		}
		logError(t, fake, 9002, 17, "after the agent")
		poll(t, p)
		check(t, "second poll", sink.take(), "9002/17/after the agent")
	})

	t.Run("an Error line waits once for its message", func(t *testing.T) {
		fake := mssqltest.Start(t)
		sink := &memSink{}
		p := newPoller(t, fake.Client(t), sink, errorlog.ModeAll)
		if err := fake.LogMessage("spid70", "Error: 3041, Severity: 17, State: 1."); err != nil {
			t.Fatal(err)
		}
		poll(t, p)
		check(t, "header alone", sink.take())
		poll(t, p)
		check(t, "header alone, polled again", sink.take(), "3041/17/")

		logError(t, fake, 3013, 17, "BACKUP DATABASE is terminating abnormally.")
		poll(t, p)
		check(t, "with its message", sink.take(), "3013/17/BACKUP DATABASE is terminating abnormally.")
	})
}

func TestEntryFields(t *testing.T) {
	fake := mssqltest.Start(t)
	sink := &memSink{}
	p := newPoller(t, fake.Client(t), sink, errorlog.ModeAll)
	if _, err := fake.DB().Exec(`INSERT INTO errorlog (LogDate, ProcessInfo, Text) VALUES
		('2024-05-01 12:34:56.780', 'spid52', 'Error: 9002, Severity: 17, State: 2.'),
		('2024-05-01 12:34:56.780', 'spid52', 'The transaction log is full.')`); err != nil {
		t.Fatal(err)
	}
	poll(t, p)
	if len(sink.entries) != 1 {
		t.Fatalf("entries = %+v", sink.entries)
	}
	e := sink.entries[0]
	want := errorlog.Entry{ID: "sqlserver-20240501T123456.780-1", Time: time.Date(2024, 5, 1, 12, 34, 56, 780e6, time.Local),
		ProcessInfo: "spid52", Number: 9002, Severity: 17, State: 2, Message: "The transaction log is full."}
	if e.ID != want.ID || !e.Time.Equal(want.Time) || e.ProcessInfo != want.ProcessInfo || e.Number != want.Number ||
		e.Severity != want.Severity || e.State != want.State || e.Message != want.Message {
		t.Errorf("entry = %+v, want %+v", e, want)
	}
}

// TestPollerSQLServer reads the error log of the SQL Server of MSSQL_DSN from a day back: it
// checks that xp_readerrorlog takes the DATETIME start and that the lines parse. It writes
// nothing to the log (that needs RAISERROR ... WITH LOG and sysadmin).
func TestPollerSQLServer(t *testing.T) {
	dsn := os.Getenv("MSSQL_DSN")
	if dsn == "" {
		t.Skip("MSSQL_DSN not set: to run against SQL Server 2022, see README (SQL Server)")
	}
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sink := &memSink{}
	p, err := errorlog.New(errorlog.Config{DB: db, Sink: sink, Severity: 1,
		Now: func() time.Time { return time.Now().Add(-24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Poll(t.Context())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if !sink.saved || sink.pos.LogDate.Before(time.Now().Add(-25*time.Hour)) {
		t.Errorf("position after the first poll = %+v (saved %v)", sink.pos, sink.saved)
	}
	t.Logf("%d errors in the last day, position %+v", n, sink.pos)
	before := sink.pos
	poll(t, p)
	if sink.pos.LogDate.Before(before.LogDate) {
		t.Errorf("position went back: %+v after %+v", sink.pos, before)
	}
}
