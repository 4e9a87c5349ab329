package target

import (
	"context"
	"fmt"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/errorlog"
	"github.com/msx-project/msx/target/store"
)

// Event forwarding modes (Config.ForwardEvents).
const (
	ForwardUnhandled = errorlog.ModeUnhandled
	ForwardAll       = errorlog.ModeAll
	ForwardOff       = "off"
)

// errorLogKey is the meta key of the error log position (errorlog.Position).
const errorLogKey = "errorlog_position"

// checkForwarding fills in and validates the event forwarding settings of c.
func checkForwarding(c *Config) error {
	switch c.ForwardEvents {
	case "":
		c.ForwardEvents = ForwardUnhandled
	case ForwardUnhandled, ForwardAll, ForwardOff:
	default:
		return fmt.Errorf("%w: --forward-events %q: use unhandled (errors no enabled local alert handles), all, or off", ErrConfig, c.ForwardEvents)
	}
	if c.ForwardSeverity == 0 {
		c.ForwardSeverity = errorlog.DefaultSeverity
	}
	if c.ForwardSeverity < 1 || c.ForwardSeverity > 25 {
		return fmt.Errorf("%w: --forward-severity %d is outside 1..25", ErrConfig, c.ForwardSeverity)
	}
	if c.ErrorLogInterval <= 0 {
		c.ErrorLogInterval = errorlog.DefaultInterval
	}
	return nil
}

// errorLogPoller returns the poller that forwards the SQL Server's errors, or nil when there is
// no SQL Server or forwarding is off.
func (a *Agent) errorLogPoller() *errorlog.Poller {
	if a.cfg.SQLDSN == "" || a.cfg.ForwardEvents == ForwardOff {
		return nil
	}
	p, err := errorlog.New(errorlog.Config{DB: a.localDB, Sink: eventSink{a}, Mode: a.cfg.ForwardEvents,
		Severity: a.cfg.ForwardSeverity, Interval: a.cfg.ErrorLogInterval, Location: a.cfg.TimeZone,
		Logger: a.cfg.Logger.With("server", a.id.ServerName)})
	if err != nil { // checkForwarding validated the settings
		a.log.Error("SQL Server errors are not forwarded", "err", err)
		return nil
	}
	return p
}

// eventSink keeps the error log position in the store and queues the errors as events.
type eventSink struct{ a *Agent }

var _ errorlog.Sink = eventSink{}

func (s eventSink) Position(ctx context.Context) (errorlog.Position, bool, error) {
	var p errorlog.Position
	ok, err := s.a.store.Get(ctx, errorLogKey, &p)
	return p, ok, err
}

// Forward queues the events, then moves the position: a crash in between queues them again
// with the same ids, and JetStream keeps one of each.
func (s eventSink) Forward(ctx context.Context, entries []errorlog.Entry, pos errorlog.Position) error {
	if len(entries) > 0 {
		msgs := make([]store.OutMsg, len(entries))
		for i, e := range entries {
			msg := e.Message
			if msg == "" {
				msg = fmt.Sprintf("Error: %d, Severity: %d, State: %d.", e.Number, e.Severity, e.State)
			}
			msgs[i] = eventMsg(s.a.id.ServerName, s.a.id.Token, schemas.Event{ID: e.ID, Time: e.Time.UTC(),
				Severity: e.Severity, Source: "sqlserver", Message: msg, ErrorCode: e.Number})
		}
		if err := s.a.store.Enqueue(ctx, msgs...); err != nil {
			return err
		}
		s.a.wakeOutbox()
	}
	return s.a.store.Set(ctx, errorLogKey, pos)
}
