package target

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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
// Base rows ("<counter> base") are read with their counters (perfalert_counters.go).
const perfQuery = `SELECT RTRIM(object_name), RTRIM(counter_name), RTRIM(instance_name), cntr_value, cntr_type FROM sys.dm_os_performance_counters WHERE RTRIM(counter_name) IN (`

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
	// missing: its counter (or its base row) was not found at the last evaluation (logged
	// once); sample: the previous reading of a per-second or average counter.
	on, missing bool
	fired       time.Time
	sample      perfSample
}

// perfEvaluator evaluates the performance conditions of alerts on the SQL Server every
// interval and raises an event (source "performance", naming the alert) when one becomes
// true, and again while it stays true only after delay_between_responses (never, when 0). The
// master's alert service answers the event (notifications, job start). The alerts are those of
// --perf-alerts (local) and the set the master sent (SET-ALERTS, see perfalerts_apply.go);
// set replaces the latter. Only its goroutine touches its state, but next: no lock.
type perfEvaluator struct {
	db       *sql.DB
	local    []model.Alert
	alerts   []*perfAlert
	interval time.Duration
	raise    func(ctx context.Context, evs []schemas.Event) error
	log      *slog.Logger
	now      func() time.Time
	// next is a set the master sent, not yet taken by the loop; wake tells the loop.
	next atomic.Pointer[[]model.Alert]
	wake chan struct{}
	// failing: the last query failed (logged once until it works again).
	failing bool
}

func newPerfEvaluator(db *sql.DB, local []model.Alert, interval time.Duration, raise func(context.Context, []schemas.Event) error, log *slog.Logger) *perfEvaluator {
	e := &perfEvaluator{db: db, local: local, interval: interval, raise: raise, log: log, now: time.Now, wake: make(chan struct{}, 1)}
	e.rebuild(nil)
	return e
}

// set replaces the master's set of alerts; the loop takes it before its next evaluation.
func (e *perfEvaluator) set(remote []model.Alert) {
	e.next.Store(&remote)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// rebuild makes the alerts watched the local ones and remote (an alert of remote replaces a
// local one of the same name). An alert whose condition did not change keeps its state, so a
// new set does not raise again what is already true.
func (e *perfEvaluator) rebuild(remote []model.Alert) {
	old := map[string]*perfAlert{}
	for _, a := range e.alerts {
		old[strings.ToUpper(a.name)] = a
	}
	byName := map[string]model.Alert{}
	var order []string
	for _, list := range [][]model.Alert{e.local, remote} {
		for _, a := range list {
			k := strings.ToUpper(strings.TrimSpace(a.Name))
			if _, ok := byName[k]; !ok {
				order = append(order, k)
			}
			byName[k] = a
		}
	}
	e.alerts = e.alerts[:0:0]
	for _, k := range order {
		a := byName[k]
		c, err := model.ParsePerfCondition(a.PerformanceCondition)
		if err != nil || !a.IsEnabled() {
			continue // checkPerfAlerts and the SET-ALERTS check refused bad ones; disabled ones are not watched
		}
		pa := &perfAlert{name: a.Name, cond: c, delay: time.Duration(a.DelayBetweenResponses) * time.Second}
		if o := old[k]; o != nil && o.cond == c {
			pa.on, pa.missing, pa.fired, pa.sample = o.on, o.missing, o.fired, o.sample
		}
		e.alerts = append(e.alerts, pa)
	}
}

// perfEvaluator loads the set of performance alerts the master sent and returns the agent's
// evaluator of them and of Config.PerfAlerts, or nil without a SQL Server.
func (a *Agent) perfEvaluator(ctx context.Context) (*perfEvaluator, error) {
	remote, err := a.loadPerfAlerts(ctx)
	if err != nil {
		return nil, err
	}
	if a.localDB == nil || a.cfg.SQLDSN == "" {
		return nil, nil
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
	e.rebuild(remote)
	a.perf.mu.Lock()
	a.perf.eval = e
	a.perf.mu.Unlock()
	return e, nil
}

// Run evaluates every interval until ctx ends. A failing query or event write is logged and
// retried at the next tick: it never stops the agent.
func (e *perfEvaluator) Run(ctx context.Context) error {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		if next := e.next.Swap(nil); next != nil {
			e.rebuild(*next)
			e.log.Info("performance alerts set by the master", "alerts", len(*next), "watched", len(e.alerts))
		}
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
		case <-e.wake:
		}
	}
}

// evaluate reads the counters once and raises the events of the conditions that became true.
func (e *perfEvaluator) evaluate(ctx context.Context) error {
	if len(e.alerts) == 0 {
		return nil
	}
	counters := map[string]bool{}
	var args []any
	var marks []string
	for _, a := range e.alerts {
		for _, name := range []string{a.cond.Counter, a.cond.Counter + baseCounterSuffix} {
			if k := strings.ToLower(name); !counters[k] {
				counters[k] = true
				args = append(args, name)
				marks = append(marks, fmt.Sprintf("@p%d", len(args)))
			}
		}
	}
	qctx, cancel := context.WithTimeout(ctx, max(e.interval, 5*time.Second))
	defer cancel()
	rows, err := e.db.QueryContext(qctx, perfQuery+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return fmt.Errorf("read sys.dm_os_performance_counters: %w", err)
	}
	var got []perfRow
	for rows.Next() {
		var r perfRow
		if err := rows.Scan(&r.object, &r.counter, &r.instance, &r.value, &r.typ); err != nil {
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
		var r perfRow
		found := false
		for _, g := range got {
			if g.typ != cntrRawBase && a.cond.MatchesCounter(g.object, g.counter, g.instance) {
				r, found = g, true
				break
			}
		}
		value, ready, noBase := 0.0, false, false
		if found {
			value, ready, noBase, a.sample = counterValue(r, got, a.sample, now)
		}
		if !found || noBase {
			if !a.missing {
				what := "its counter is not on this SQL Server"
				if noBase {
					what = fmt.Sprintf("its counter (type %d) needs the row '%s%s', not on this SQL Server", r.typ, r.counter, baseCounterSuffix)
				}
				e.log.Warn("performance alert: "+what+"; the condition stays false until it appears",
					"alert", a.name, "condition", a.cond.String())
			}
			a.missing, a.on = true, false
			continue
		}
		a.missing = false
		if !ready {
			continue // a first sample of a per-second counter: judged at the next one
		}
		on := a.cond.True(value)
		rising := on && !a.on
		again := on && a.on && a.delay > 0 && now.Sub(a.fired) >= a.delay
		a.on = on
		if !rising && !again {
			continue
		}
		h := sha256.Sum256([]byte(strings.ToLower(a.name)))
		evs = append(evs, schemas.Event{ID: fmt.Sprintf("perf-%s-%d", hex.EncodeToString(h[:8]), now.UnixNano()), Time: now.UTC(),
			Severity: schemas.SeverityWarning, Source: model.SourcePerformance, Alert: a.name,
			Message: fmt.Sprintf("The performance condition of alert '%s' is true: %s (value %s).", a.name, a.cond.String(), formatValue(value))})
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

// formatValue shows a counter's value as Performance Monitor does: whole numbers without
// decimals, rates and ratios with two.
func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
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
