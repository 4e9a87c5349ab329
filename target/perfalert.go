package target

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target/store"
)

// DefaultPerfInterval is how often performance conditions are evaluated, as SQL Server
// Agent polls its performance counters every 20 seconds.
const DefaultPerfInterval = 20 * time.Second

// perfQuery reads the counters the conditions name. RTRIM, because the names are NCHAR(128)
// padded with blanks; the object's instance prefix ("SQLServer:", "MSSQL$INST:") is compared
// in Go (PerfCondition.MatchesCounter).
const perfQuery = `SELECT RTRIM(object_name), RTRIM(counter_name), RTRIM(instance_name), cntr_value FROM sys.dm_os_performance_counters WHERE RTRIM(counter_name) IN (`

// checkPerfAlerts validates Config.PerfAlerts and fills PerfInterval.
func checkPerfAlerts(c *Config) error {
	if c.PerfInterval <= 0 {
		c.PerfInterval = DefaultPerfInterval
	}
	for _, a := range c.PerfAlerts {
		if _, err := model.ParsePerfCondition(a.PerformanceCondition); err != nil {
			return fmt.Errorf("%w: performance alert %q: %v", ErrConfig, a.Name, err)
		}
		if strings.TrimSpace(a.Name) == "" {
			return fmt.Errorf("%w: a performance alert needs a name: the master answers the event by the alert's name", ErrConfig)
		}
	}
	if len(c.PerfAlerts) > 0 && c.SQLDSN == "" {
		return fmt.Errorf("%w: performance alerts read sys.dm_os_performance_counters: give the SQL Server with --sql", ErrConfig)
	}
	return nil
}

// perfAlert is one condition being watched and what the evaluator remembers of it.
type perfAlert struct {
	name  string
	cond  model.PerfCondition
	delay time.Duration
	// on: the condition was true at the last evaluation; fired: when it last raised an event;
	// missing: its counter was not found at the last evaluation (logged once).
	on, missing bool
	fired       time.Time
}

// perfEvaluator evaluates the performance conditions of alerts on the SQL Server every
// interval and raises an event (source "performance", naming the alert) when one becomes
// true, and again while it stays true only after delay_between_responses (never, when 0). The
// master's alert service answers the event (notifications, job start). Only its goroutine
// touches its state: no lock.
type perfEvaluator struct {
	db       *sql.DB
	alerts   []*perfAlert
	interval time.Duration
	raise    func(ctx context.Context, evs []schemas.Event) error
	log      *slog.Logger
	now      func() time.Time
	// failing: the last query failed (logged once until it works again).
	failing bool
}

func newPerfEvaluator(db *sql.DB, alerts []model.Alert, interval time.Duration, raise func(context.Context, []schemas.Event) error, log *slog.Logger) *perfEvaluator {
	e := &perfEvaluator{db: db, interval: interval, raise: raise, log: log, now: time.Now}
	for _, a := range alerts {
		c, err := model.ParsePerfCondition(a.PerformanceCondition)
		if err != nil || !a.IsEnabled() {
			continue // checkPerfAlerts refused bad ones; disabled ones are not watched
		}
		e.alerts = append(e.alerts, &perfAlert{name: a.Name, cond: c, delay: time.Duration(a.DelayBetweenResponses) * time.Second})
	}
	return e
}

// perfEvaluator returns the agent's evaluator, or nil without a SQL Server or alerts.
func (a *Agent) perfEvaluator() *perfEvaluator {
	if a.localDB == nil || a.cfg.SQLDSN == "" || len(a.cfg.PerfAlerts) == 0 {
		return nil
	}
	raise := func(ctx context.Context, evs []schemas.Event) error {
		msgs := make([]store.OutMsg, len(evs))
		for i, ev := range evs {
			msgs[i] = eventMsg(a.id.ServerName, a.id.Token, ev)
		}
		if err := a.store.Enqueue(ctx, msgs...); err != nil {
			return err
		}
		a.wakeOutbox()
		return nil
	}
	e := newPerfEvaluator(a.localDB, a.cfg.PerfAlerts, a.cfg.PerfInterval, raise, a.log.With("component", "perfalert"))
	if len(e.alerts) == 0 {
		return nil
	}
	return e
}

// Run evaluates every interval until ctx ends. A failing query or event write is logged and
// retried at the next tick: it never stops the agent.
func (e *perfEvaluator) Run(ctx context.Context) error {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		if err := e.evaluate(ctx); err != nil && ctx.Err() == nil {
			if !e.failing {
				e.log.Warn("performance conditions not evaluated; retrying every interval", "interval", e.interval, "err", err)
			}
			e.failing = true
		} else if e.failing && err == nil {
			e.failing = false
			e.log.Info("performance conditions evaluated again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// evaluate reads the counters once and raises the events of the conditions that became true.
func (e *perfEvaluator) evaluate(ctx context.Context) error {
	counters := map[string]bool{}
	var args []any
	var marks []string
	for _, a := range e.alerts {
		if k := strings.ToLower(a.cond.Counter); !counters[k] {
			counters[k] = true
			args = append(args, a.cond.Counter)
			marks = append(marks, fmt.Sprintf("@p%d", len(args)))
		}
	}
	qctx, cancel := context.WithTimeout(ctx, max(e.interval, 5*time.Second))
	defer cancel()
	rows, err := e.db.QueryContext(qctx, perfQuery+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return fmt.Errorf("read sys.dm_os_performance_counters: %w", err)
	}
	type row struct {
		object, counter, instance string
		value                     int64
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.object, &r.counter, &r.instance, &r.value); err != nil {
			rows.Close()
			return fmt.Errorf("read sys.dm_os_performance_counters: %w", err)
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sys.dm_os_performance_counters: %w", err)
	}
	now := e.now()
	var evs []schemas.Event
	var fired []*perfAlert
	for _, a := range e.alerts {
		found, value := false, int64(0)
		for _, r := range got {
			if a.cond.MatchesCounter(r.object, r.counter, r.instance) {
				found, value = true, r.value
				break
			}
		}
		if !found {
			if !a.missing {
				e.log.Warn("performance alert: its counter is not on this SQL Server; the condition stays false until it appears",
					"alert", a.name, "condition", a.cond.String())
			}
			a.missing, a.on = true, false
			continue
		}
		a.missing = false
		on := a.cond.True(float64(value))
		rising := on && !a.on
		again := on && a.on && a.delay > 0 && now.Sub(a.fired) >= a.delay
		a.on = on
		if !rising && !again {
			continue
		}
		h := sha256.Sum256([]byte(strings.ToLower(a.name)))
		evs = append(evs, schemas.Event{ID: fmt.Sprintf("perf-%s-%d", hex.EncodeToString(h[:8]), now.UnixNano()), Time: now.UTC(),
			Severity: schemas.SeverityWarning, Source: model.SourcePerformance, Alert: a.name,
			Message: fmt.Sprintf("The performance condition of alert '%s' is true: %s (value %d).", a.name, a.cond.String(), value)})
		fired = append(fired, a)
	}
	if len(evs) == 0 {
		return nil
	}
	if err := e.raise(ctx, evs); err != nil {
		for _, a := range fired {
			a.on = false // not raised: raise it at the next tick
		}
		return fmt.Errorf("queue the performance alert events: %w", err)
	}
	for _, a := range fired {
		a.fired = now
		e.log.Info("performance alert raised", "alert", a.name, "condition", a.cond.String())
	}
	return nil
}

// LoadPerfAlerts reads the performance-condition alerts of a JSON file for Config.PerfAlerts
// (msx target --perf-alerts): an array of alerts, or an object with an "alerts" array, as
// `msx alert list -o json` prints them. Alerts without a performance_condition are skipped;
// a bad condition is an error naming the alert.
func LoadPerfAlerts(path string) ([]model.Alert, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: performance alerts file: %v", ErrConfig, err)
	}
	var list []model.Alert
	if err := json.Unmarshal(b, &list); err != nil {
		var obj struct {
			Alerts []model.Alert `json:"alerts"`
		}
		if err2 := json.Unmarshal(b, &obj); err2 != nil {
			return nil, fmt.Errorf("%w: performance alerts file %s is not a JSON array of alerts (the output of msx alert list -o json): %v", ErrConfig, path, err)
		}
		list = obj.Alerts
	}
	var out []model.Alert
	for _, a := range list {
		if a.PerformanceCondition == "" {
			continue
		}
		if _, err := model.ParsePerfCondition(a.PerformanceCondition); err != nil {
			return nil, fmt.Errorf("%w: performance alerts file %s, alert %q: %v", ErrConfig, path, a.Name, err)
		}
		out = append(out, a)
	}
	return out, nil
}
