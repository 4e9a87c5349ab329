package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/internal/leader"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// Per-target variables (jobs.Variable). Values are set for a server or a group and kept in the
// msx_vars bucket, written through the leader's fence like the catalog. The master resolves
// them when it builds each target's INSERT snapshot (insertFor): server over group over the
// job's default. The snapshot keeps the job's version number; a target replaces a held
// snapshot of the same version when its content differs, so a changed value reaches exactly
// the targets whose resolved job changed, and drift repair (which compares job ids and
// versions) sees nothing to repair. A job that uses a variable without a value for a target
// is not among the jobs that target should hold (JobsFor): it is not posted there, an event
// names the variable, and a target that held an older version gets a DELETE.

// VarValue is a variable's value set for one server or one group.
type VarValue struct {
	Name   string    `json:"name"`
	Server string    `json:"server,omitempty"`
	Group  string    `json:"group,omitempty"`
	Value  string    `json:"value"`
	Secret bool      `json:"secret,omitempty"`
	SetBy  string    `json:"set_by,omitempty"`
	SetAt  time.Time `json:"set_at"`
}

// VarRow is a variable as `msx var list` shows it: a value set (From "server" or "group"),
// or, for one server, the value it resolves to (From "server", "group G", "default", or ""
// with Error saying why there is none). Secret values are always Masked.
type VarRow struct {
	Name   string `json:"name"`
	Server string `json:"server,omitempty"`
	Group  string `json:"group,omitempty"`
	Value  string `json:"value"`
	Secret bool   `json:"secret,omitempty"`
	From   string `json:"from,omitempty"`
	Error  string `json:"error,omitempty"`
}

// VarChange is what a set or unset did: the value as shown (masked when secret), what
// changed (for the audit record), and the instructions it posted.
type VarChange struct {
	Var     VarRow   `json:"variable"`
	Changes []string `json:"changes"`
	Posted  []Posted `json:"posted"`
}

// varStore is the in-memory copy of msx_vars, kept current by a watch.
type varStore struct {
	kv       jetstream.KeyValue
	fence    *leader.Fence
	mu       sync.RWMutex
	by       map[string]VarValue // by key
	revs     map[string]uint64
	loadedAt uint64
	// dryRun (guarded by jobMu) is set while a dry run plans: varMissing raises nothing.
	dryRun bool
	// raised holds the ids of missing-variable events already raised, so that one is
	// raised once per job version, target and missing set.
	raised sync.Map
}

// varKey is the bucket key of a value: s.<hex server>.<NAME> or g.<hex group>.<NAME>.
func varKey(name, server, group string) string {
	if server != "" {
		return "s." + hex.EncodeToString([]byte(strings.ToUpper(server))) + "." + name
	}
	return "g." + hex.EncodeToString([]byte(strings.ToUpper(group))) + "." + name
}

func openVars(ctx context.Context, js jetstream.JetStream) (*varStore, error) {
	kv, err := js.KeyValue(ctx, bus.BucketVars)
	if err != nil {
		return nil, fmt.Errorf("open variables: %w", err)
	}
	s := &varStore{kv: kv, fence: leader.NewKVFence(js, bus.BucketVars), by: map[string]VarValue{}, revs: map[string]uint64{}}
	if s.loadedAt, err = bus.LastRevision(ctx, kv); err != nil {
		return nil, err
	}
	err = bus.LoadAll(ctx, kv, func(k string) bool { return k != leader.FenceKey }, func(v VarValue) {
		s.by[varKey(v.Name, v.Server, v.Group)] = v
	})
	return s, err
}

// watch keeps the store current with the writes of other masters until ctx ends.
func (s *varStore) watch(ctx context.Context, log *slog.Logger) error {
	return bus.WatchFrom(ctx, s.kv, s.loadedAt+1, log, func(e jetstream.KeyValueEntry) {
		if e.Key() == leader.FenceKey {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.Revision() <= s.revs[e.Key()] {
			return
		}
		s.revs[e.Key()] = e.Revision()
		if e.Operation() != jetstream.KeyValuePut {
			delete(s.by, e.Key())
			return
		}
		var v VarValue
		if err := json.Unmarshal(e.Value(), &v); err != nil || varKey(v.Name, v.Server, v.Group) != e.Key() {
			log.Warn("variable record ignored: not a value stored under its key", "key", e.Key(), "revision", e.Revision())
			delete(s.by, e.Key())
			return
		}
		s.by[e.Key()] = v
	})
}

func (s *varStore) get(name, server, group string) (VarValue, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.by[varKey(name, server, group)]
	return v, ok
}

func (s *varStore) all() []VarValue {
	s.mu.RLock()
	out := make([]VarValue, 0, len(s.by))
	for _, v := range s.by {
		out = append(out, v)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b VarValue) int {
		return strings.Compare(a.Name+"\x00"+a.Server+"\x00"+a.Group, b.Name+"\x00"+b.Server+"\x00"+b.Group)
	})
	return out
}

// put stores v (del: deletes it) through the fence and in the copy.
func (s *varStore) put(ctx context.Context, v VarValue, del bool) error {
	k := varKey(v.Name, v.Server, v.Group)
	var rev uint64
	var err error
	if del {
		err = s.fence.KVDelete(ctx, k)
	} else {
		var b []byte
		if b, err = json.Marshal(v); err == nil {
			rev, err = s.fence.KVPut(ctx, k, b)
		}
	}
	if err != nil {
		return fmt.Errorf("store variable %s: %w", v.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if del {
		delete(s.by, k)
		return nil
	}
	s.revs[k] = max(s.revs[k], rev)
	s.by[k] = v
	return nil
}

// varOf returns the value of variable name for target t and where it comes from: the server's,
// else that of the one group of t that sets it. Two groups setting it is an error naming both.
func (m *Master) varOf(t registry.Target, name string) (VarValue, string, bool, error) {
	if v, ok := m.vars.get(name, t.ServerName, ""); ok {
		return v, "server", true, nil
	}
	var found []VarValue
	for _, g := range m.Reg.GroupsOf(t.ServerName) {
		if v, ok := m.vars.get(name, "", g); ok {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return VarValue{}, "", false, nil
	case 1:
		return found[0], "group " + found[0].Group, true, nil
	}
	return VarValue{}, "", false, coded(CodeInvalidValue, "target server '%s' is in groups '%s' and '%s', which both set variable %s: set it for the server itself (--server %s) or unset it in one group",
		t.ServerName, found[0].Group, found[1].Group, name, t.ServerName)
}

// resolveFor returns job j as target t runs it: disabled there if it is (ForTarget), with its
// variables replaced by their values for t. It does no I/O.
func (m *Master) resolveFor(t registry.Target, j jobs.Job) (jobs.Job, error) {
	j = j.ForTarget(t.ServerName)
	if len(j.Variables) == 0 {
		return j, nil // a job that declares none uses none (Validate)
	}
	vals := map[string]string{}
	for _, n := range j.VarRefs() {
		v, _, ok, err := m.varOf(t, n)
		if err != nil {
			return j, fmt.Errorf("job '%s' is not applied to target server '%s': %w", j.Name, t.ServerName, err)
		}
		if ok {
			vals[n] = v.Value
		}
	}
	r, err := j.Resolve(vals)
	if err != nil {
		return j, fmt.Errorf("job '%s' is not applied to target server '%s': %w there: set it with `msx var set NAME VALUE --server %s` (or --group), or give the variable a default",
			j.Name, t.ServerName, err, t.ServerName)
	}
	return r, nil
}

// resolves reports whether job j resolves for target t. A job that declares no variable
// always does: JobsFor (every heartbeat's expected digest) pays nothing for it.
func (m *Master) resolves(t registry.Target, j jobs.Job) bool {
	if len(j.Variables) == 0 {
		return true
	}
	_, err := m.resolveFor(t, j)
	return err == nil
}

// appendInsert appends the INSERT of job j's snapshot for target t, resolved (resolveFor), to
// out; a job that does not resolve there is not appended, and an event naming the variable is
// raised on the target (once per job version and reason), after the caller's locks are gone.
func (m *Master) appendInsert(out []outgoing, t registry.Target, j jobs.Job) []outgoing {
	r, err := m.resolveFor(t, j)
	if err != nil {
		m.varMissing(t, j, err)
		return out
	}
	b, _ := json.Marshal(r) // a jobs.Job always marshals
	return append(out, outgoing{t, schemas.Instruction{Operation: schemas.OpInsert, ObjectID: j.JobID, ObjectName: j.Name, Job: b}})
}

// deliverTo appends what moves target t to job new (a changed definition, or a target that
// gains the job): its INSERT, or, when new does not resolve there, a DELETE of the older
// version the target held (before: the targets of old) if it resolved.
func (m *Master) deliverTo(out []outgoing, before map[string]registry.Target, t registry.Target, old *jobs.Job, new jobs.Job) []outgoing {
	n := len(out)
	if out = m.appendInsert(out, t, new); len(out) > n {
		return out
	}
	if _, had := before[t.ServerName]; had && old != nil && m.resolves(t, *old) {
		out = append(out, outgoing{t, schemas.Instruction{Operation: schemas.OpDelete, ObjectID: old.JobID, ObjectName: old.Name}})
	}
	return out
}

// varMissing logs and raises the event of a job not applied to a target for want of a value.
// The event names the job and the variables, never a value.
func (m *Master) varMissing(t registry.Target, j jobs.Job, err error) {
	sum := sha256.Sum256([]byte(err.Error()))
	id := fmt.Sprintf("vars-%s-%s-v%d-%s", t.Token, j.JobID, j.VersionNumber, hex.EncodeToString(sum[:4]))
	if m.vars.dryRun {
		return
	}
	if _, dup := m.vars.raised.LoadOrStore(id, true); dup {
		return
	}
	m.log.Warn("job not applied to a target: variable", "job", j.Name, "target", t.ServerName, "err", err)
	ev := schemas.Event{ID: id, Severity: schemas.SeverityError, Message: err.Error(), JobID: j.JobID, JobName: j.Name}
	go func() { // not under the caller's jobMu
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.raise(ctx, t, ev); err != nil {
			m.vars.raised.Delete(id)
			m.log.Error("event of a missing variable lost", "target", t.ServerName, "err", err)
		}
	}()
}

// SetVar sets variable name to value for a server or a group (exactly one) and posts the new
// snapshot of every job using it to exactly the targets whose resolved job changed.
func (m *Master) SetVar(ctx context.Context, name, value, server, group string, secret bool, by string) (VarChange, error) {
	if err := jobs.CheckVarValue(value); err != nil {
		return VarChange{}, fmt.Errorf("%w: variable %s: %v", ErrInvalid, name, err)
	}
	if secret && len(value) < jobs.MinSecretLen {
		return VarChange{}, fmt.Errorf("%w: variable %s: a secret value needs at least %d characters (a shorter one cannot be masked in step output without masking ordinary text)", ErrInvalid, name, jobs.MinSecretLen)
	}
	v := VarValue{Value: value, Secret: secret, SetBy: by, SetAt: time.Now().UTC()}
	return m.changeVar(ctx, name, server, group, &v)
}

// UnsetVar removes the value of a variable for a server or a group, and posts like SetVar.
func (m *Master) UnsetVar(ctx context.Context, name, server, group string) (VarChange, error) {
	return m.changeVar(ctx, name, server, group, nil)
}

// changeVar sets (v) or unsets (nil) a value under jobMu, then posts in its turn.
func (m *Master) changeVar(ctx context.Context, name, server, group string, v *VarValue) (VarChange, error) {
	n, err := jobs.VarName(strings.TrimSpace(name))
	if err != nil {
		return VarChange{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	key := VarValue{Name: n}
	switch {
	case (server == "") == (group == ""):
		return VarChange{}, fmt.Errorf("%w: name one target server (--server S) or one group (--group G) for variable %s", ErrInvalid, n)
	case server != "":
		t, err := m.Target(server)
		if err != nil {
			return VarChange{}, err
		}
		key.Server = t.ServerName
	default:
		g, ok := m.Reg.Group(strings.TrimSpace(group))
		if !ok {
			return VarChange{}, coded(CodeUnknown, "The specified @group_name ('%s') does not exist.", group)
		}
		key.Group = g.Name
	}
	m.jobMu.Lock()
	old, had := m.vars.get(n, key.Server, key.Group)
	if v == nil && !had {
		m.jobMu.Unlock()
		return VarChange{}, coded(CodeUnknown, "variable %s has no value for %s: nothing to unset", n, scopeOf(key))
	}
	if v != nil {
		v.Name, v.Server, v.Group = n, key.Server, key.Group
		v.Secret = v.Secret || (had && old.Secret) // a secret stays secret until unset
		if err := m.checkGroupConflict(*v); err != nil {
			m.jobMu.Unlock()
			return VarChange{}, err
		}
	}
	before := m.varSnapshots(n)
	w, del := key, v == nil
	if v != nil {
		w = *v
	}
	if err := m.vars.put(ctx, w, del); err != nil {
		m.jobMu.Unlock()
		return VarChange{}, err
	}
	out := m.varDeliveries(n, before)
	res := VarChange{Var: m.shown(w, scopeFrom(w)), Changes: []string{changeText(w, del, m.isSecret(w))}}
	if del {
		res.Var.Value = ""
	}
	res.Posted, err = m.postInTurn(ctx, out)
	m.log.Info("variable changed", "name", n, "scope", scopeOf(w), "unset", del, "posted", len(res.Posted))
	return res, err
}

func scopeOf(v VarValue) string {
	if v.Server != "" {
		return "server " + v.Server
	}
	return "group " + v.Group
}

func scopeFrom(v VarValue) string {
	if v.Server != "" {
		return "server"
	}
	return "group"
}

func changeText(v VarValue, del, secret bool) string {
	if del {
		return fmt.Sprintf("unset %s for %s", v.Name, scopeOf(v))
	}
	val := fmt.Sprintf("%q", v.Value)
	if secret {
		val = jobs.Masked + " (secret)"
	}
	return fmt.Sprintf("set %s for %s to %s", v.Name, scopeOf(v), val)
}

// checkGroupConflict refuses a group value when a member of the group is in another group that
// sets the same variable and has no value of its own (the two would compete).
func (m *Master) checkGroupConflict(v VarValue) error {
	if v.Group == "" {
		return nil
	}
	g, _ := m.Reg.Group(v.Group)
	for _, s := range g.Members {
		if _, own := m.vars.get(v.Name, s, ""); own {
			continue
		}
		for _, other := range m.Reg.GroupsOf(s) {
			if strings.EqualFold(other, g.Name) {
				continue
			}
			if _, ok := m.vars.get(v.Name, "", other); ok {
				return coded(CodeInvalidValue, "variable %s cannot be set for group '%s': its member '%s' is also in group '%s', which sets %s too; set it for the server itself (--server %s) first, or unset it in group '%s'",
					v.Name, g.Name, s, other, v.Name, s, other)
			}
		}
	}
	return nil
}

// varSnap is the resolved form of one job on one target: its digest, or why it does not resolve.
type varSnap struct {
	t      registry.Target
	j      jobs.Job
	digest string
	err    error
}

// varSnapshots resolves every job that uses variable name (every job that uses one: "") on
// each of its targets, by job id and target token. jobMu is held.
func (m *Master) varSnapshots(name string) map[string]varSnap {
	out := map[string]varSnap{}
	for _, j := range m.Catalog.All() {
		if refs := j.VarRefs(); len(refs) == 0 || name != "" && !slices.Contains(refs, name) {
			continue
		}
		for _, t := range m.expected(j) {
			s := varSnap{t: t, j: j}
			r, err := m.resolveFor(t, j)
			if s.err = err; err == nil {
				s.digest = r.Digest()
			}
			out[j.JobID+"/"+t.Token] = s
		}
	}
	return out
}

// varDeliveries compares the resolved jobs before a change of variable name with after it and
// returns, for exactly the targets whose resolved job changed, the new snapshot (or, when it no
// longer resolves, a DELETE and an event). jobMu is held.
func (m *Master) varDeliveries(name string, before map[string]varSnap) []outgoing {
	after := m.varSnapshots(name)
	var out []outgoing
	for _, k := range sortedKeys(after) {
		a := after[k]
		b, had := before[k]
		if !had {
			continue // a target that gains the job: the job's own deliveries give it
		}
		if a.digest == b.digest && (a.err == nil) == (b.err == nil) && (a.err == nil || a.err.Error() == b.err.Error()) {
			continue
		}
		if a.err == nil {
			out = m.appendInsert(out, a.t, a.j)
			continue
		}
		m.varMissing(a.t, a.j, a.err)
		if b.err == nil {
			out = append(out, outgoing{a.t, schemas.Instruction{Operation: schemas.OpDelete, ObjectID: a.j.JobID, ObjectName: a.j.Name}})
		}
	}
	return out
}

// varMembership returns what a change of group membership changes in resolved jobs: a server
// that joins or leaves a group that sets a variable gets the job again (or loses it) even
// though the job's definition and targets did not change. before is varSnapshots("") taken
// before the change; the targets that gain or lose the job are left to the job's deliveries.
// jobMu is held.
func (m *Master) varMembership(before map[string]varSnap) []outgoing {
	return m.varDeliveries("", before)
}

// isSecret reports whether a value is shown masked: set as secret, or declared secret by a job.
func (m *Master) isSecret(v VarValue) bool {
	if v.Secret {
		return true
	}
	for _, j := range m.Catalog.All() {
		if d, ok := j.Variable(v.Name); ok && d.Secret {
			return true
		}
	}
	return false
}

// shown is v as a VarRow, masked when secret.
func (m *Master) shown(v VarValue, from string) VarRow {
	r := VarRow{Name: v.Name, Server: v.Server, Group: v.Group, Value: v.Value, Secret: m.isSecret(v), From: from}
	if r.Secret {
		r.Value = jobs.Masked
	}
	return r
}

// Vars lists the values set (server ""), or the variables of the jobs applied to one server
// with the value each resolves to there and where it comes from. Secret values are masked.
func (m *Master) Vars(server string) ([]VarRow, error) {
	if server == "" {
		vals := m.vars.all()
		out := make([]VarRow, 0, len(vals))
		for _, v := range vals {
			out = append(out, m.shown(v, scopeFrom(v)))
		}
		return out, nil
	}
	t, err := m.Target(server)
	if err != nil {
		return nil, err
	}
	decl := map[string]jobs.Variable{}
	for _, j := range m.Catalog.All() {
		if !m.appliedTo(j, t.ServerName) {
			continue
		}
		for _, d := range j.Variables {
			n := strings.ToUpper(d.Name)
			if p, ok := decl[n]; ok && p.Default != nil {
				d.Default = p.Default // the first default found is shown
			}
			d.Secret = d.Secret || decl[n].Secret
			decl[n] = d
		}
	}
	for _, v := range m.vars.all() {
		if _, ok := decl[v.Name]; !ok && (strings.EqualFold(v.Server, t.ServerName) || slices.ContainsFunc(m.Reg.GroupsOf(t.ServerName), func(g string) bool { return strings.EqualFold(g, v.Group) })) {
			decl[v.Name] = jobs.Variable{Name: v.Name}
		}
	}
	out := make([]VarRow, 0, len(decl))
	for _, n := range sortedKeys(decl) {
		d := decl[n]
		v, from, ok, err := m.varOf(t, n)
		var r VarRow
		switch {
		case err != nil:
			r = VarRow{Name: n, Secret: d.Secret, Error: err.Error()}
		case ok:
			r = m.shown(v, from)
		case d.Default != nil:
			r = m.shown(VarValue{Name: n, Value: *d.Default, Secret: d.Secret}, "default")
		default:
			r = VarRow{Name: n, Secret: d.Secret, Error: fmt.Sprintf("no value for server %s and no default: jobs using %s are not applied there", t.ServerName, n)}
		}
		r.Server, r.Group = t.ServerName, ""
		if err == nil && ok && v.Group != "" {
			r.Group = v.Group
		}
		r.Secret = r.Secret || d.Secret
		if r.Secret && r.Error == "" {
			r.Value = jobs.Masked
		}
		out = append(out, r)
	}
	return out, nil
}

// secretValues returns the values shown masked: those set as secret or for a variable a job
// declares secret (which has no default: Validate).
func (m *Master) secretValues() []string {
	secret := map[string]bool{}
	var out []string
	for _, j := range m.Catalog.All() {
		for _, d := range j.Variables {
			if d.Secret {
				secret[strings.ToUpper(d.Name)] = true
			}
		}
	}
	for _, v := range m.vars.all() {
		if (v.Secret || secret[v.Name]) && len(v.Value) >= jobs.MinSecretLen {
			out = append(out, v.Value)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// masker returns a function that replaces every secret value in a text with jobs.Masked:
// step output in history and event messages go through it before any reader sees them.
func (m *Master) masker() func(string) string {
	vals := m.secretValues()
	if len(vals) == 0 {
		return func(s string) string { return s }
	}
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, jobs.Masked)
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// maskHistory masks secret values in the messages (step output) of history rows.
func (m *Master) maskHistory(rows []jobs.HistoryRow) {
	mask := m.masker()
	for i := range rows {
		rows[i].Message, rows[i].Output = mask(rows[i].Message), mask(rows[i].Output)
	}
}

// maskEvents masks secret values in event messages.
func (m *Master) maskEvents(evs []EventRecord) {
	mask := m.masker()
	for i := range evs {
		evs[i].Message = mask(evs[i].Message)
	}
}

// maskOutcomes masks secret values in the last outcome messages of a job that declares
// variables (a job that declares none cannot put a value in its output).
func (m *Master) maskOutcomes(j jobs.Job, out []JobServer) {
	if len(j.Variables) == 0 {
		return
	}
	mask := m.masker()
	for i := range out {
		out[i].LastOutcomeMessage = mask(out[i].LastOutcomeMessage)
	}
}
