package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/schemas/problem"
)

// Kinds of the objects a plan lists.
const (
	KindTarget   = "target"
	KindGroup    = "group"
	KindMember   = "member" // NAME is "GROUP/SERVER"
	KindJob      = "job"
	KindOperator = "operator"
	KindAlert    = "alert"
	KindToken    = "token"
	KindSetting  = "setting"
)

// Actions: what applying does (or did) with one object.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
	// ActionPending: it waits for a target server to enlist into msx; run msx migrate again
	// once it has.
	ActionPending = "pending"
	// ActionNotMigrated: it cannot come across; Reason says why.
	ActionNotMigrated = "not migrated"
	// ActionNote: it comes across with a loss that Reason describes, or (a setting) msx does
	// not take it from the source.
	ActionNote = "note"
	// ActionLeftOut: it is not part of what is migrated (a local job of the master: msx job
	// import --from-server takes those); Reason says where it goes.
	ActionLeftOut = "left out"
)

// Item is one line of a plan.
type Item struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Action  string   `json:"action"`
	Reason  string   `json:"reason,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// TargetPlan says how one target server moves to msx.
type TargetPlan struct {
	Server   string `json:"server"`
	Location string `json:"location,omitempty"`
	// Enlisted: the server is already a target of the msx master.
	Enlisted bool `json:"enlisted"`
	// Token is the enlistment token created for it, bound to its name, shown once (empty in a
	// dry run, for an enlisted server, and when an unused token bound to it exists: TokenID).
	Token   string    `json:"token,omitempty"`
	TokenID string    `json:"token_id,omitempty"`
	Expires time.Time `json:"token_expires,omitzero"`
	// Enlist is the command that enlists the server into msx; Defect is the T-SQL that
	// defects it from the old master, to run on it once it runs under msx.
	Enlist string `json:"enlist,omitempty"`
	Defect string `json:"defect"`
}

// Plan is what Run did, or, in a dry run, would do.
type Plan struct {
	Source  string         `json:"source"`
	Master  string         `json:"master"`
	DryRun  bool           `json:"dry_run"`
	Counts  map[string]int `json:"counts"`
	Items   []Item         `json:"items"`
	Targets []TargetPlan   `json:"targets,omitempty"`
}

// NotMigrated returns the items that did not come across.
func (p *Plan) NotMigrated() []Item {
	var out []Item
	for _, it := range p.Items {
		if it.Action == ActionNotMigrated {
			out = append(out, it)
		}
	}
	return out
}

func (p *Plan) add(it Item) {
	p.Items = append(p.Items, it)
	p.Counts[it.Action]++
}

// DefectSQL is the T-SQL that defects a target server from its MSX master.
const DefectSQL = "EXEC msdb.dbo.sp_msx_defect;"

// Migrator applies what Read found to an msx master through its API.
type Migrator struct {
	API *client.Client
	// TokenTTL is the life of each enlistment token; 0 is the master's default (24 h).
	TokenTTL time.Duration
	// Progress, when set, is called after each job with how many are done of how many.
	Progress func(done, total int)
	// Today fills schedules' missing start dates; zero means now.
	Today time.Time
}

// masterState is what the msx master holds, read before planning.
type masterState struct {
	enlisted map[string]bool
	groups   map[string][]string // upper-case name -> members
	tokens   []tokenRecord
	natsURL  string
}

type tokenRecord struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Server  string    `json:"server"`
	Expires time.Time `json:"expires"`
	UsedAt  time.Time `json:"used_at"`
	Revoked bool      `json:"revoked"`
}

// Run compares src with the master and, unless dryRun, applies the differences: groups and
// their enlisted members, operators, jobs (with their enlisted target servers), alerts, and an
// enlistment token for each target server not enlisted yet. Objects are compared with what the
// master holds, so a second run changes only what changed at the source. Anything that cannot
// come across is an item with ActionNotMigrated and its reason; Run goes on with the others and
// returns the plan with a nil error (see Plan.NotMigrated). An error is returned only when the
// master cannot be read.
func (m *Migrator) Run(ctx context.Context, src *Source, dryRun bool) (*Plan, error) {
	p := &Plan{Source: src.Server, Master: m.API.Base, DryRun: dryRun, Counts: map[string]int{}}
	st, err := m.state(ctx)
	if err != nil {
		return nil, err
	}
	for _, it := range src.Skipped {
		p.add(it)
	}
	valid := m.planTargets(ctx, p, src, st, dryRun)
	m.planGroups(ctx, p, src, st, valid, dryRun)
	m.planOperators(ctx, p, src.Operators, dryRun)
	m.planJobs(ctx, p, src, st, valid, dryRun)
	m.planAlerts(ctx, p, src.Alerts, dryRun)
	if !src.History.Known {
		p.add(Item{Kind: KindSetting, Name: "job history limits", Action: ActionNote,
			Reason: "not applied: sp_get_sqlagent_properties did not answer; msx keeps, by default, the last 100 runs per job and target for 90 days"})
	} else {
		p.add(Item{Kind: KindSetting, Name: "job history limits", Action: ActionNote,
			Reason: fmt.Sprintf("not applied: SQL Server Agent keeps %s in all and %s per job; msx keeps, by default, the last 100 runs per job and target "+
				"for 90 days, set where the master starts (bus.Layout HistoryPerJob, HistoryMaxAge), not through its API",
				limit(src.History.MaxRows), limit(src.History.MaxRowsPerJob))})
	}
	return p, nil
}

func limit(n int) string {
	if n <= 0 {
		return "every row"
	}
	return fmt.Sprintf("%d rows", n)
}

func (m *Migrator) state(ctx context.Context) (*masterState, error) {
	st := &masterState{enlisted: map[string]bool{}, groups: map[string][]string{}}
	var ts []struct {
		Name string `json:"server_name"`
	}
	if err := m.API.Do(ctx, http.MethodGet, "/api/v1/targetservers", nil, &ts); err != nil {
		return nil, fmt.Errorf("read the master's target servers: %w", err)
	}
	for _, t := range ts {
		st.enlisted[strings.ToUpper(t.Name)] = true
	}
	var gs []struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	if err := m.API.Do(ctx, http.MethodGet, "/api/v1/groups", nil, &gs); err != nil {
		return nil, fmt.Errorf("read the master's groups: %w", err)
	}
	for _, g := range gs {
		st.groups[strings.ToUpper(g.Name)] = g.Members
	}
	if err := m.API.Do(ctx, http.MethodGet, "/api/v1/tokens", nil, &st.tokens); err != nil {
		return nil, fmt.Errorf("read the master's tokens: %w", err)
	}
	return st, nil
}

// planTargets gives each target server a token unless it is enlisted or has an unused one, and
// returns the canonical names of the valid target servers.
func (m *Migrator) planTargets(ctx context.Context, p *Plan, src *Source, st *masterState, dryRun bool) map[string]string {
	valid := map[string]string{} // upper-case msdb name -> canonical msx name
	now := time.Now()
	for _, t := range src.Targets {
		canon, err := jobs.CanonicalServerName(t.Name)
		if err != nil {
			p.add(Item{Kind: KindTarget, Name: t.Name, Action: ActionNotMigrated,
				Reason: fmt.Sprintf("not a valid msx server name: %v; rename the server, or enlist it under a valid name and target its jobs by hand", err)})
			continue
		}
		valid[strings.ToUpper(strings.TrimSpace(t.Name))] = canon
		tp := TargetPlan{Server: canon, Location: t.Location, Enlisted: st.enlisted[canon], Defect: DefectSQL}
		if tp.Enlisted {
			p.add(Item{Kind: KindTarget, Name: canon, Action: ActionUnchanged, Reason: "enlisted into msx"})
			p.Targets = append(p.Targets, tp)
			continue
		}
		i := slices.IndexFunc(st.tokens, func(r tokenRecord) bool {
			return r.Role == "enlist" && strings.EqualFold(r.Server, canon) && r.UsedAt.IsZero() && !r.Revoked &&
				(r.Expires.IsZero() || r.Expires.After(now))
		})
		switch {
		case i >= 0:
			r := st.tokens[i]
			tp.TokenID, tp.Expires = r.ID, r.Expires
			tp.Enlist = m.enlistCommand(canon, "TOKEN", st.natsURL)
			p.add(Item{Kind: KindToken, Name: canon, Action: ActionUnchanged,
				Reason: fmt.Sprintf("an unused enlistment token bound to it exists (id %s, expires %s); it is shown only when created: "+
					"use it, or revoke it (msx token revoke %s) and run msx migrate again", r.ID, r.Expires.Format(time.RFC3339), r.ID)})
		case dryRun:
			p.add(Item{Kind: KindToken, Name: canon, Action: ActionCreate, Reason: "enlistment token bound to this server"})
		default:
			var reply struct {
				Token   string    `json:"token"`
				ID      string    `json:"id"`
				Expires time.Time `json:"expires"`
				NATSURL string    `json:"nats_url"`
			}
			body := map[string]string{"role": "enlist", "server": canon, "description": "msx migrate from " + src.Server}
			if m.TokenTTL > 0 {
				body["ttl"] = m.TokenTTL.String()
			}
			if err := m.API.Do(ctx, http.MethodPost, "/api/v1/tokens", body, &reply); err != nil {
				p.add(Item{Kind: KindToken, Name: canon, Action: ActionNotMigrated, Reason: "the master refused the token: " + err.Error()})
				break
			}
			if reply.NATSURL != "" {
				st.natsURL = reply.NATSURL
			}
			tp.Token, tp.TokenID, tp.Expires = reply.Token, reply.ID, reply.Expires
			tp.Enlist = m.enlistCommand(canon, reply.Token, reply.NATSURL)
			p.add(Item{Kind: KindToken, Name: canon, Action: ActionCreate, Reason: "enlistment token bound to this server"})
		}
		p.add(Item{Kind: KindTarget, Name: canon, Action: ActionPending,
			Reason: "enlist it into msx with its token, run msx migrate again to give it its jobs and groups, then defect it from " + src.Server})
		p.Targets = append(p.Targets, tp)
	}
	return valid
}

func (m *Migrator) enlistCommand(server, token, natsURL string) string {
	if natsURL == "" {
		natsURL = "NATS_URL"
	}
	return fmt.Sprintf("msx target --name %s --token %s --nats %s", shellQuote(server), token, natsURL)
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters (a
// HOST\INSTANCE name holds a backslash).
func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkGroupName is the master's rule for group names (master/registry): 1 to 128 characters,
// no comma (14289).
func checkGroupName(name string) error {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return errors.New("the name is empty")
	case len(n) > jobs.MaxNameLen:
		return fmt.Errorf("the name is %d characters long; the limit is %d", len(n), jobs.MaxNameLen)
	case strings.Contains(n, ","):
		return errors.New("the name contains a comma (14289)")
	}
	return nil
}

func (m *Migrator) planGroups(ctx context.Context, p *Plan, src *Source, st *masterState, valid map[string]string, dryRun bool) {
	for _, g := range src.Groups {
		if err := checkGroupName(g.Name); err != nil {
			p.add(Item{Kind: KindGroup, Name: g.Name, Action: ActionNotMigrated, Reason: "not a valid msx group name: " + err.Error()})
			continue
		}
		members, exists := st.groups[strings.ToUpper(strings.TrimSpace(g.Name))]
		switch {
		case exists:
			p.add(Item{Kind: KindGroup, Name: g.Name, Action: ActionUnchanged})
		case dryRun:
			p.add(Item{Kind: KindGroup, Name: g.Name, Action: ActionCreate})
		default:
			if err := m.API.Do(ctx, http.MethodPost, "/api/v1/groups", map[string]string{"name": g.Name}, nil); err != nil {
				p.add(Item{Kind: KindGroup, Name: g.Name, Action: ActionNotMigrated, Reason: "the master refused it: " + err.Error()})
				continue
			}
			p.add(Item{Kind: KindGroup, Name: g.Name, Action: ActionCreate})
		}
		for _, s := range g.Members {
			name := g.Name + "/" + s
			canon, ok := valid[strings.ToUpper(strings.TrimSpace(s))]
			switch {
			case !ok:
				p.add(Item{Kind: KindMember, Name: name, Action: ActionNotMigrated, Reason: "the server is not migrated (see its target item)"})
			case !st.enlisted[canon]:
				p.add(Item{Kind: KindMember, Name: name, Action: ActionPending, Reason: canon + " is not enlisted into msx yet"})
			case slices.ContainsFunc(members, func(x string) bool { return strings.EqualFold(x, canon) }):
				p.add(Item{Kind: KindMember, Name: name, Action: ActionUnchanged})
			case dryRun:
				p.add(Item{Kind: KindMember, Name: name, Action: ActionCreate})
			default:
				err := m.API.Do(ctx, http.MethodPost, "/api/v1/groups/"+client.Path(g.Name)+"/members", map[string]string{"server": canon}, nil)
				if err != nil {
					p.add(Item{Kind: KindMember, Name: name, Action: ActionNotMigrated, Reason: "the master refused it: " + err.Error()})
					continue
				}
				p.add(Item{Kind: KindMember, Name: name, Action: ActionCreate})
			}
		}
	}
}

// applyResult is the part of the master's answer to POST /api/v1/jobs that Run reads.
type applyResult struct {
	Created  bool     `json:"created"`
	Changes  []string `json:"changes"`
	Warnings []string `json:"warnings"`
}

func (m *Migrator) planJobs(ctx context.Context, p *Plan, src *Source, st *masterState, valid map[string]string, dryRun bool) {
	today := m.Today
	if today.IsZero() {
		today = time.Now()
	}
	for i, sj := range src.Jobs {
		it := m.planJob(ctx, sj, st, valid, today, dryRun)
		p.add(it)
		if m.Progress != nil {
			m.Progress(i+1, len(src.Jobs))
		}
	}
}

func (m *Migrator) planJob(ctx context.Context, sj SourceJob, st *masterState, valid map[string]string, today time.Time, dryRun bool) Item {
	j := sj.Job.Clone()
	it := Item{Kind: KindJob, Name: j.Name, Notes: slices.Clone(sj.Notes)}
	var servers, pending []string
	for _, s := range j.Targets.Servers {
		canon, ok := valid[strings.ToUpper(strings.TrimSpace(s))]
		switch {
		case !ok:
			it.Notes = append(it.Notes, fmt.Sprintf("target server '%s' is not migrated (see its target item)", s))
		case st.enlisted[canon]:
			servers = append(servers, canon)
		default:
			pending = append(pending, canon)
		}
	}
	j.Targets.Servers = servers
	if len(pending) > 0 {
		it.Notes = append(it.Notes, fmt.Sprintf("not yet applied to %s: not enlisted into msx; run msx migrate again once they are",
			strings.Join(pending, ", ")))
	}
	// Validate a normalised copy; the master normalises what it is sent, and keeps the start
	// date it gave a schedule that has none (so a run on another day changes nothing).
	n := j.Clone()
	n.Normalize(today)
	if probs := n.Validate(); len(probs) > 0 {
		it.Action, it.Reason = ActionNotMigrated, "not a valid msx job: "+joinProblems(probs)
		return it
	}
	// One apply: the master compares with what it holds and changes nothing for an unchanged
	// job, and its answer says what it created or changed (or, in a dry run, would).
	path := "/api/v1/jobs"
	if dryRun {
		path += "?dry_run=true"
	}
	var res applyResult
	if err := m.API.Do(ctx, http.MethodPost, path, j, &res); err != nil {
		it.Action, it.Reason = ActionNotMigrated, "the master refused it: "+explain(err)
		return it
	}
	it.Changes = res.Changes
	it.Notes = append(it.Notes, res.Warnings...)
	switch {
	case res.Created:
		it.Action, it.Changes = ActionCreate, nil
	case len(res.Changes) == 0:
		it.Action = ActionUnchanged
	default:
		it.Action = ActionUpdate
	}
	return it
}

func joinProblems(l problem.List) string {
	parts := make([]string, 0, len(l))
	for _, pr := range l {
		parts = append(parts, pr.String())
	}
	return strings.Join(parts, "; ")
}

// explain flattens an API error with its problems into one line.
func explain(err error) string {
	var ce *client.Error
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		return err.Error()
	}
	return joinProblems(ce.Problems)
}

func (m *Migrator) planOperators(ctx context.Context, p *Plan, ops []notify.Operator, dryRun bool) {
	for _, o := range ops {
		o.Normalize()
		if probs := o.Validate(); len(probs) > 0 {
			p.add(Item{Kind: KindOperator, Name: o.Name, Action: ActionNotMigrated, Reason: "not a valid msx operator: " + joinProblems(probs)})
			continue
		}
		p.add(putNamed(ctx, m.API, KindOperator, "/api/v1/operators", o.Name, o, dryRun))
	}
}

func (m *Migrator) planAlerts(ctx context.Context, p *Plan, alerts []notify.Alert, dryRun bool) {
	for _, a := range alerts {
		a.Normalize()
		if probs := a.Validate(); len(probs) > 0 {
			p.add(Item{Kind: KindAlert, Name: a.Name, Action: ActionNotMigrated, Reason: "not a valid msx alert: " + joinProblems(probs)})
			continue
		}
		p.add(putNamed(ctx, m.API, KindAlert, "/api/v1/alerts", a.Name, a, dryRun))
	}
}

// putNamed creates an operator or alert, or, when the master has one of that name that
// differs, sends the fields read (PATCH keeps those msx added, such as a webhook).
func putNamed[T any](ctx context.Context, c *client.Client, kind, base, name string, v T, dryRun bool) Item {
	it := Item{Kind: kind, Name: name}
	var cur T
	err := c.Do(ctx, http.MethodGet, base+"/"+client.Path(name), nil, &cur)
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusNotFound:
		it.Action = ActionCreate
		if !dryRun {
			if err := c.Do(ctx, http.MethodPost, base, v, nil); err != nil {
				it.Action, it.Reason = ActionNotMigrated, "the master refused it: "+explain(err)
			}
		}
		return it
	case err != nil:
		it.Action, it.Reason = ActionNotMigrated, "the master cannot be read: "+err.Error()
		return it
	}
	changes, err := overlay(cur, v)
	if err != nil {
		it.Action, it.Reason = ActionNotMigrated, err.Error()
		return it
	}
	if len(changes) == 0 {
		it.Action = ActionUnchanged
		return it
	}
	it.Action, it.Changes = ActionUpdate, changes
	if !dryRun {
		if err := c.Do(ctx, http.MethodPatch, base+"/"+client.Path(name), v, nil); err != nil {
			it.Action, it.Reason, it.Changes = ActionNotMigrated, "the master refused it: "+explain(err), nil
		}
	}
	return it
}

// overlay reports which fields of v differ from cur, as PATCH would apply them: fields v
// leaves out (empty) keep cur's value.
func overlay[T any](cur, v T) ([]string, error) {
	var a, b map[string]json.RawMessage
	ca, err := json.Marshal(cur)
	if err == nil {
		err = json.Unmarshal(ca, &a)
	}
	if err != nil {
		return nil, fmt.Errorf("read what the master holds: %w", err)
	}
	cb, _ := json.Marshal(v)
	_ = json.Unmarshal(cb, &b)
	var changes []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if !bytes.Equal(a[k], b[k]) {
			old := string(a[k])
			if old == "" {
				old = "(none)"
			}
			changes = append(changes, fmt.Sprintf("%s: %s -> %s", k, old, b[k]))
		}
	}
	return changes, nil
}
