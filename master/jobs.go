package master

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// ApplyResult says what `msx job apply` did, or, with DryRun, what it would do: then Posted
// lists the instructions it would post (instance_id 0) and nothing was changed.
type ApplyResult struct {
	Job     jobs.Job `json:"job"`
	Created bool     `json:"created"`
	Changes []string `json:"changes"`
	Posted  []Posted `json:"posted"`
	// Warnings are things about the job that are allowed but probably not meant (steps no
	// path reaches, a chain to a job that does not exist yet); see applyWarnings.
	Warnings []string `json:"warnings,omitempty"`
	DryRun   bool     `json:"dry_run,omitempty"`
}

// expected returns the targets a job is applied to now: its servers plus the current members of
// its groups (membership is live, unlike MSX, which expands groups once), less those that
// deleted this version after a run (delete_level).
func (m *Master) expected(j jobs.Job) map[string]registry.Target { return m.expectedIf(j, whatIf{}) }

// consumedBy reports whether target t deleted this version of job j after a run (delete_level).
func (m *Master) consumedBy(j jobs.Job, t registry.Target) bool {
	v, ok := m.out.consumedVersion(t.Token, j.JobID)
	return ok && v == j.VersionNumber
}

// namedBy returns the enlisted targets job j names, directly or through its groups (whatever
// they deleted after a run), ordered by server name. It reads the job's own lists and groups:
// its cost is that of the job's targets, not of the fleet.
func (m *Master) namedBy(j jobs.Job) []registry.Target {
	var out []registry.Target
	m.eachNamed(j, func(t registry.Target) { out = append(out, t) })
	slices.SortFunc(out, func(a, b registry.Target) int { return strings.Compare(a.ServerName, b.ServerName) })
	return out
}

// eachNamed calls fn once for each enlisted target job j names, in no particular order.
func (m *Master) eachNamed(j jobs.Job, fn func(registry.Target)) {
	seen := map[string]bool{}
	add := func(name string) {
		if t, ok := m.Reg.Target(name); ok && !seen[t.ServerName] {
			seen[t.ServerName] = true
			fn(t)
		}
	}
	for _, s := range j.Targets.Servers {
		add(s)
	}
	for _, g := range j.Targets.Groups {
		if gr, ok := m.Reg.Group(g); ok {
			for _, s := range gr.Members {
				add(s)
			}
		}
	}
}

// JobOutcomeCounts returns how many targets job j is applied to and on how many its last run
// failed: the figures of a job summary, without building the job's servers grid (JobCounts).
func (m *Master) JobOutcomeCounts(j jobs.Job) (targets, failed int) {
	targets, by := m.JobCounts(j)
	return targets, by.Failed
}

// appliedTo reports whether job j names the server, directly or through one of its groups.
func (m *Master) appliedTo(j jobs.Job, server string) bool {
	if slices.ContainsFunc(j.Targets.Servers, func(s string) bool { return strings.EqualFold(s, server) }) {
		return true
	}
	for _, g := range j.Targets.Groups {
		if gr, ok := m.Reg.Group(g); ok && slices.Contains(gr.Members, server) {
			return true
		}
	}
	return false
}

// JobsFor returns the jobs a target should hold: those applied to it, less those it deleted
// after a run (delete_level) and those that use a variable without a value for it (vars.go).
func (m *Master) JobsFor(server string) []jobs.Job {
	t, ok := m.Reg.Target(server)
	if !ok {
		return nil
	}
	var out []jobs.Job
	for _, j := range m.Catalog.All() {
		if m.appliedTo(j, t.ServerName) && !m.consumedBy(j, t) && m.resolves(t, j) {
			out = append(out, j)
		}
	}
	return out
}

// expectedDigest is the digest of the job set a target should hold (schemas.JobSetDigest).
func (m *Master) expectedDigest(server string) string {
	v := map[string]int{}
	for _, j := range m.JobsFor(server) {
		v[j.JobID] = j.VersionNumber
	}
	return schemas.JobSetDigest(v)
}

// deliveries returns what moves a fleet from job old (nil: none) to job new (nil: deleted):
// INSERT of the full snapshot to every target that gains the job or holds an older definition,
// DELETE to every target that loses it. It does no I/O.
func (m *Master) deliveries(before map[string]registry.Target, old, new *jobs.Job) []outgoing {
	after := map[string]registry.Target{}
	if new != nil {
		after = m.expected(*new)
	}
	var out []outgoing
	defChanged := old == nil || new == nil || old.VersionNumber != new.VersionNumber
	for _, name := range sortedKeys(after) {
		if _, had := before[name]; had && !defChanged {
			continue
		}
		out = m.deliverTo(out, before, after[name], old, *new) // resolved for the target (vars.go)
	}
	for _, name := range sortedKeys(before) {
		if _, keep := after[name]; keep {
			continue
		}
		out = append(out, outgoing{before[name], schemas.Instruction{Operation: schemas.OpDelete, ObjectID: old.JobID, ObjectName: old.Name}})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// validate normalises and validates a job, including its targets (14262 for unknown ones).
func (m *Master) validate(j *jobs.Job) error {
	j.Normalize(time.Now())
	probs := j.Validate()
	probs = append(probs, j.CheckTargets(
		func(s string) bool { _, ok := m.Reg.Target(s); return ok },
		func(g string) bool { _, ok := m.Reg.Group(g); return ok })...)
	return probs.Err()
}

// ApplyJob creates or updates a job by name (case-insensitive). A changed definition gets a new
// version number and is posted, as a full snapshot, to every target; target changes post
// INSERT or DELETE to the servers that gain or lose the job. Steps and schedules are part of
// the definition: there is no MSX 14547 gap.
func (m *Master) ApplyJob(ctx context.Context, j jobs.Job) (ApplyResult, error) {
	m.jobMu.Lock()
	res, out, err := m.applyLocked(ctx, j.Clone()) // Clone: Normalize must not change the caller's job
	return m.postApplied(ctx, res, out, err)
}

// postApplied posts the deliveries of a change applyLocked made, in its turn, and reports it;
// jobMu is held by the caller and released here, before the posts.
func (m *Master) postApplied(ctx context.Context, res ApplyResult, out []outgoing, err error) (ApplyResult, error) {
	if err != nil || res.Posted == nil || res.DryRun { // nil: nothing changed
		m.jobMu.Unlock()
		return res, err
	}
	res.Posted, err = m.postInTurn(ctx, out)
	m.log.Info("job applied", "job", res.Job.Name, "version", res.Job.VersionNumber, "created", res.Created, "posted", len(res.Posted))
	return res, err
}

// applyLocked is ApplyJob with jobMu held: it stores the job and returns what to post.
func (m *Master) applyLocked(ctx context.Context, j jobs.Job) (ApplyResult, []outgoing, error) {
	return m.applyOrPlan(ctx, j, false)
}

// applyOrPlan applies j and returns what to post, or with dryRun only says what applying it
// would change and post. jobMu is held.
func (m *Master) applyOrPlan(ctx context.Context, j jobs.Job, dryRun bool) (ApplyResult, []outgoing, error) {
	old, exists := m.Catalog.ByName(j.Name)
	if exists {
		keepStartDates(&j, old)
	}
	if err := m.validate(&j); err != nil {
		return ApplyResult{}, nil, err
	}
	if err := m.checkChains(j); err != nil {
		return ApplyResult{}, nil, err
	}
	res := ApplyResult{Created: !exists, DryRun: dryRun, Warnings: m.applyWarnings(j)}
	var before map[string]registry.Target
	var oldp *jobs.Job
	if exists {
		oldp = &old
		before = m.expected(old)
		j.JobID = old.JobID
		j.VersionNumber = old.VersionNumber
		res.Changes = jobs.Diff(old, j)
		if old.Digest() != j.Digest() {
			j.VersionNumber++
		}
		if len(res.Changes) == 0 && j.VersionNumber == old.VersionNumber {
			res.Job = old
			res.Changes = []string{}
			return res, nil, nil
		}
	} else {
		j.JobID = uuid.NewString()
		j.VersionNumber = 1
		res.Changes = []string{"created"}
	}
	if dryRun {
		res.Job = j
		m.vars.dryRun = true // a dry run raises no event for a missing variable (vars.go)
		res.Posted = plannedPosts(m.deliveries(before, oldp, &j))
		m.vars.dryRun = false
		return res, nil, nil
	}
	if err := m.Catalog.Put(ctx, j); err != nil {
		return res, nil, err
	}
	res.Job = j
	res.Posted = []Posted{}
	return res, m.deliveries(before, oldp, &j), nil
}

// keepStartDates gives the schedules of an updated job that omit active_start_date the date the
// stored schedule of the same name got when it was created, so that the same document applied
// on a later day is not a change (the default is "today", as in SQL Agent).
func keepStartDates(j *jobs.Job, old jobs.Job) {
	for i, s := range j.Schedules {
		if s.ActiveStartDate != 0 {
			continue
		}
		for _, o := range old.Schedules {
			if strings.EqualFold(o.Name, s.Name) {
				j.Schedules[i].ActiveStartDate = o.ActiveStartDate
			}
		}
	}
}

// DeleteJob deletes a job and posts DELETE to every target that holds it.
func (m *Master) DeleteJob(ctx context.Context, name string) ([]Posted, error) {
	m.jobMu.Lock()
	j, err := m.Catalog.Get(name)
	if err != nil {
		m.jobMu.Unlock()
		return nil, err
	}
	before := m.expected(j)
	if err := m.Catalog.Delete(ctx, j.JobID); err != nil {
		m.jobMu.Unlock()
		return nil, err
	}
	m.out.forgetJob(j.JobID)
	return m.postInTurn(ctx, m.deliveries(before, &j, nil))
}

// RetargetJob adds (or, with remove, takes away) servers and groups of a job. MSX answers
// "Job applied to %ld new servers." (14240) / "Job removed from %ld servers." (14241).
func (m *Master) RetargetJob(ctx context.Context, name string, servers, groups []string, remove bool) (ApplyResult, error) {
	if len(servers)+len(groups) == 0 {
		return ApplyResult{}, fmt.Errorf("%w: name at least one --server or --group", ErrInvalid)
	}
	edit := func(list, names []string) []string {
		for _, n := range names {
			i := slices.IndexFunc(list, func(s string) bool { return strings.EqualFold(s, n) })
			if remove && i >= 0 {
				list = slices.Delete(list, i, i+1)
			} else if !remove && i < 0 {
				list = append(list, n)
			}
		}
		return list
	}
	return m.editJob(ctx, name, func(j *jobs.Job) error {
		j.Targets.Servers = edit(j.Targets.Servers, servers)
		j.Targets.Groups = edit(j.Targets.Groups, groups)
		return nil
	})
}

// editJob reads, edits and applies a job under one lock, so that two edits at once both take
// effect; the deliveries are posted after the lock is released, in their turn. An error from
// edit is returned and nothing is applied.
func (m *Master) editJob(ctx context.Context, name string, edit func(j *jobs.Job) error) (ApplyResult, error) {
	m.jobMu.Lock()
	j, err := m.Catalog.Get(name)
	if err != nil {
		m.jobMu.Unlock()
		return ApplyResult{}, err
	}
	j = j.Clone()
	if err := edit(&j); err != nil {
		m.jobMu.Unlock()
		return ApplyResult{}, err
	}
	res, out, err := m.applyLocked(ctx, j)
	return m.postApplied(ctx, res, out, err)
}

// membershipChanged re-delivers every job of a group after its membership changed.
func (m *Master) membershipChanged(ctx context.Context, change func() error) ([]Posted, error) {
	m.jobMu.Lock()
	all := m.Catalog.All()
	before := make([]map[string]registry.Target, len(all))
	for i, j := range all {
		before[i] = m.expected(j)
	}
	vars := m.varSnapshots("") // resolved jobs, which membership changes too (vars.go)
	if err := change(); err != nil {
		m.jobMu.Unlock()
		return nil, err
	}
	var out []outgoing
	for i, j := range all {
		out = append(out, m.deliveries(before[i], &all[i], &j)...)
	}
	out = append(out, m.varMembership(vars)...)
	return m.postInTurn(ctx, out)
}

// AddMember adds a server to a group and posts the group's jobs to it.
func (m *Master) AddMember(ctx context.Context, group, server string) (registry.Group, []Posted, error) {
	var g registry.Group
	posted, err := m.membershipChanged(ctx, func() (err error) {
		g, err = m.Reg.AddMember(ctx, group, server)
		return err
	})
	return g, posted, err
}

// RemoveMember removes a server from a group and posts DELETE of the jobs it no longer gets.
func (m *Master) RemoveMember(ctx context.Context, group, server string) ([]Posted, error) {
	return m.membershipChanged(ctx, func() error { return m.Reg.RemoveMember(ctx, group, server) })
}

// DeleteGroup deletes a group, removes it from the targets of every job, and posts DELETE of
// the jobs its members no longer get.
func (m *Master) DeleteGroup(ctx context.Context, name string) ([]Posted, error) {
	return m.membershipChanged(ctx, func() error {
		if err := m.Reg.DeleteGroup(ctx, name); err != nil {
			return err
		}
		return m.dropFromJobs(ctx, name, func(j *jobs.Job) *[]string { return &j.Targets.Groups })
	})
}

// dropServerFromJobs removes a deleted target from every job's servers.
func (m *Master) dropServerFromJobs(ctx context.Context, server string) error {
	m.jobMu.Lock()
	defer m.jobMu.Unlock()
	return m.dropFromJobs(ctx, server, func(j *jobs.Job) *[]string { return &j.Targets.Servers })
}

// dropFromJobs removes name (case-insensitive) from the list of every job that has it; jobMu is
// held by the caller.
func (m *Master) dropFromJobs(ctx context.Context, name string, list func(*jobs.Job) *[]string) error {
	for _, j := range m.Catalog.All() {
		j = j.Clone()
		l := list(&j)
		i := slices.IndexFunc(*l, func(s string) bool { return strings.EqualFold(s, name) })
		if i < 0 {
			continue
		}
		*l = slices.Delete(*l, i, i+1)
		if err := m.Catalog.Put(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// StartJob posts START (or STOP) of a job to one of its targets, or to all of them.
func (m *Master) StartJob(ctx context.Context, name, server string, stop bool) ([]Posted, error) {
	var servers []string
	if server != "" {
		servers = []string{server}
	}
	return m.StartJobOn(ctx, name, servers, nil, stop)
}

// StartJobOn posts START (or STOP) of a job to the servers named and the members of the groups
// named, each of which must be a target of the job, or to every target of the job when both
// are empty.
func (m *Master) StartJobOn(ctx context.Context, name string, servers, groups []string, stop bool) ([]Posted, error) {
	return m.StartJobWith(ctx, name, StartOptions{Servers: servers, Groups: groups, Stop: stop})
}

// StartOptions says where StartJobWith posts, and how it recognises a retry of a request.
type StartOptions struct {
	// Servers and Groups name the targets of the job to post to; none: every target of the job.
	Servers, Groups []string
	// Stop posts STOP instead of START.
	Stop bool
	// IdempotencyKey, when set, makes a retry of the same request within the instruction
	// stream's duplicate window (10 minutes, bus/streams.go) post nothing new: each
	// target's instruction id is derived from the key, so JetStream stores it once, and the
	// retry answers the rows of the first try, marked Duplicate. 1 to 64 characters of
	// [A-Za-z0-9_-] (CheckIdempotencyKey); empty: every call posts.
	IdempotencyKey string
}

// StartJobWith posts START (or STOP) of a job as o says (see StartJobOn). An invalid
// o.IdempotencyKey is an error wrapping ErrInvalid, and nothing is posted.
func (m *Master) StartJobWith(ctx context.Context, name string, o StartOptions) ([]Posted, error) {
	if o.IdempotencyKey != "" {
		if err := CheckIdempotencyKey(o.IdempotencyKey); err != nil {
			return nil, err
		}
	}
	j, err := m.Catalog.Get(name)
	if err != nil {
		return nil, err
	}
	ts, err := m.startTargets(j, o.Servers, o.Groups)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 && len(o.Servers)+len(o.Groups) > 0 {
		return nil, fmt.Errorf("%w: no target of job '%s' is in the groups named", ErrInvalid, j.Name)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: job '%s' has no target servers: apply it with `msx job target`", ErrInvalid, j.Name)
	}
	op := schemas.OpStart
	if o.Stop {
		op = schemas.OpStop
	}
	var out []outgoing
	for _, n := range sortedKeys(ts) {
		in := schemas.Instruction{Operation: op, ObjectID: j.JobID, ObjectName: j.Name}
		if o.IdempotencyKey != "" {
			in.ID = idempotentID(o.IdempotencyKey, op, j.JobID, ts[n].Token)
		}
		out = append(out, outgoing{ts[n], in})
	}
	return m.postAll(ctx, out)
}

// InstructionCounts are a job's instructions not yet downloaded and those that failed with an
// error nobody cleared.
type InstructionCounts = ledger.Counts

// JobInstructionCounts returns the InstructionCounts of every job with pending or failed
// instructions, by job id, from the counts the download list keeps.
func (m *Master) JobInstructionCounts() map[string]InstructionCounts {
	return m.Ledger.JobCounts()
}
