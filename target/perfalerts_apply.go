package target

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/target/store"
)

// SET-ALERTS: the master sends each target the whole set of enabled performance-condition
// alerts in its scope (master/perfalerts.go) whenever it changes. The target checks it
// (schemas/notify.ParsePerfAlertSet: at most MaxPerfAlerts, names unique, conditions valid),
// stores it in its store's meta table in the instruction's transaction, so it survives a
// restart and goes at defection, then hands it to the evaluator after the commit. Applying the
// same set twice changes nothing. The digest of the set held goes in every heartbeat
// (alert_digest), so the master repairs a target that holds another set.
//
// The alerts of --perf-alerts FILE (Config.PerfAlerts) are evaluated as well; an alert of the
// master's set replaces a local one of the same name.

// perfAlertSet is a SET-ALERTS set, checked.
type perfAlertSet = []model.Alert

// keyPerfAlerts is the meta key of the set held.
const keyPerfAlerts = "perf_alerts"

// perfState is the set of performance alerts the master sent, as far as heartbeats and the
// evaluator need it.
type perfState struct {
	mu     sync.Mutex
	digest string
	eval   *perfEvaluator // nil without a SQL Server
}

// alertDigest is the digest of the set held, for heartbeats.
func (a *Agent) alertDigest() string {
	a.perf.mu.Lock()
	defer a.perf.mu.Unlock()
	return a.perf.digest
}

// loadPerfAlerts reads the set held and sets its digest. A target that never received a
// SET-ALERTS reports no digest, so that an older master, whose heartbeat schema does not know
// the field, still takes its heartbeats.
func (a *Agent) loadPerfAlerts(ctx context.Context) ([]model.Alert, error) {
	set := []model.Alert{}
	held, err := a.store.Get(ctx, keyPerfAlerts, &set)
	if err != nil {
		return nil, fmt.Errorf("read the performance alerts held: %w", err)
	}
	if err := model.CheckPerfAlertSet(set); err != nil {
		// Stored by this agent after the same check: a changed file. Evaluate none; the
		// master's drift repair sends the set again.
		a.log.Error("performance alerts held are not valid: none evaluated until the master sends them again", "err", err)
		set = []model.Alert{}
	}
	a.perf.mu.Lock()
	a.perf.digest = ""
	if held {
		a.perf.digest = model.PerfAlertDigest(set)
	}
	a.perf.mu.Unlock()
	return set, nil
}

// preparePerfAlerts checks the set of a SET-ALERTS instruction; a bad one fails it.
func (a *Agent) preparePerfAlerts(in *schemas.Instruction, p *pending) error {
	set, err := model.ParsePerfAlertSet(in.Alerts)
	if err != nil {
		return busErr(CodeBadInstruction, fmt.Sprintf("SET-ALERTS refused: %v", err))
	}
	if in.ObjectID != "" && in.ObjectID != model.PerfAlertDigest(set) {
		return busErr(CodeBadInstruction, fmt.Sprintf("SET-ALERTS refused: the set's digest is %s, the instruction says %s (altered in transit, or a master of another version)",
			model.PerfAlertDigest(set), in.ObjectID))
	}
	p.alerts = set
	return nil
}

// applyPerfAlerts stores the set inside the instruction's transaction.
func applyPerfAlerts(ctx context.Context, tx *sql.Tx, p *pending) error {
	return store.SetTx(ctx, tx, keyPerfAlerts, p.alerts)
}

// committedPerfAlerts makes the stored set the one evaluated and reported.
func (a *Agent) committedPerfAlerts(p *pending) {
	a.perf.mu.Lock()
	a.perf.digest = model.PerfAlertDigest(p.alerts)
	e := a.perf.eval
	a.perf.mu.Unlock()
	if e != nil {
		e.set(p.alerts)
		return
	}
	if len(p.alerts) > 0 {
		a.log.Warn("performance alerts received, but this target has no SQL Server (--sql): they are kept, not evaluated", "alerts", len(p.alerts))
	}
}
