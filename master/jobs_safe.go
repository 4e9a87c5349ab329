package master

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// PlanJob says what ApplyJob would do with j, changing nothing: the changes, the version, and
// per target the instructions it would post (instance_id 0). It returns the errors ApplyJob
// would return for an invalid job.
func (m *Master) PlanJob(ctx context.Context, j jobs.Job) (ApplyResult, error) {
	m.jobMu.Lock()
	defer m.jobMu.Unlock()
	res, _, err := m.applyOrPlan(ctx, j.Clone(), true)
	return res, err
}

// plannedPosts lists instructions as a dry run shows them: not posted, so instance_id 0.
func plannedPosts(out []outgoing) []Posted {
	ps := make([]Posted, 0, len(out))
	for _, o := range out {
		ps = append(ps, Posted{TargetServer: o.t.ServerName, Operation: o.in.Operation.String()})
	}
	return ps
}

// checkChains refuses a job whose on_success_start or on_failure_start would close a cycle
// with the jobs in the catalog (a chain that never ends). jobMu is held.
func (m *Master) checkChains(j jobs.Job) error {
	if j.OnSuccessStart == "" && j.OnFailureStart == "" {
		return nil
	}
	list := []jobs.Job{j}
	for _, o := range m.Catalog.All() {
		if !strings.EqualFold(o.Name, j.Name) {
			list = append(list, o)
		}
	}
	if c := jobs.ChainCycle(list); c != nil {
		return coded(CodeInvalidValue, "%w: %w: %s; a chain of jobs must end: remove on_success_start or on_failure_start from one of them",
			ErrInvalid, jobs.ErrChainCycle, strings.Join(c, " -> "))
	}
	return nil
}

// applyWarnings returns what is allowed in j but probably not meant: steps that no run
// reaches, a chain to a job that does not exist (yet) or that is not applied to all of j's
// targets (the chained job runs on the same target, so there it does not start), and
// disabled_on servers the job is not applied to. jobMu is held.
func (m *Master) applyWarnings(j jobs.Job) []string {
	var w []string
	if ids := j.Unreachable(); len(ids) > 0 {
		w = append(w, fmt.Sprintf("step(s) %s can never run: no step's action leads there (the default on_success_action is 1, quit "+
			"with success; set on_success_action: 3 to go to the next step)", joinInts(ids)))
	}
	mine := m.expected(j)
	for _, c := range []struct{ field, name string }{{"on_success_start", j.OnSuccessStart}, {"on_failure_start", j.OnFailureStart}} {
		if c.name == "" {
			continue
		}
		other, ok := m.Catalog.ByName(c.name)
		if !ok {
			w = append(w, fmt.Sprintf("%s: job '%s' does not exist; the chain starts nothing until it is applied", c.field, c.name))
			continue
		}
		theirs := m.expected(other)
		var missing []string
		for _, name := range sortedKeys(mine) {
			if _, ok := theirs[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			w = append(w, fmt.Sprintf("%s: job '%s' is not applied to %s; the chain starts nothing there (msx job target %q --server ...)",
				c.field, other.Name, shortList(missing), other.Name))
		}
	}
	for _, s := range j.DisabledOn {
		if _, ok := mine[s]; !ok {
			w = append(w, fmt.Sprintf("disabled_on: the job is not applied to %s", s))
		}
	}
	return w
}

func joinInts(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}

// shortList names up to 5 servers and counts the rest.
func shortList(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
}

// SetJobEnabled enables or disables a job (sp_update_job @enabled): on every target when
// servers is empty, otherwise on those target servers only (the job's disabled_on list), and
// posts the new version to its targets. Enabling a job on some servers while it is disabled
// everywhere is refused: enable it first, then disable it where it must stay off.
func (m *Master) SetJobEnabled(ctx context.Context, name string, enabled bool, servers []string) (ApplyResult, error) {
	return m.editJob(ctx, name, func(j *jobs.Job) error {
		if len(servers) == 0 {
			j.Enabled = &enabled
			if enabled {
				j.DisabledOn = nil
			}
			return nil
		}
		if enabled && !j.IsEnabled() {
			return fmt.Errorf("%w: job '%s' is disabled on every target: enable it with `msx job enable %q`, then disable it where it must stay off",
				ErrInvalid, j.Name, j.Name)
		}
		ts := m.expected(*j)
		for _, s := range servers {
			c, err := jobs.CanonicalServerName(s)
			if err != nil {
				return coded(CodeInvalidName, "--server %q: %w", s, err)
			}
			if _, ok := ts[c]; !ok {
				return coded(CodeUnknown, "Job '%s' is not applied to target server '%s' (msx job target %q --server %s)", j.Name, c, j.Name, c)
			}
			i := slices.Index(j.DisabledOn, c)
			switch {
			case !enabled && i < 0:
				j.DisabledOn = append(j.DisabledOn, c)
			case enabled && i >= 0:
				j.DisabledOn = slices.Delete(j.DisabledOn, i, i+1)
			}
		}
		return nil
	})
}

// startTargets returns the targets of job j that a start names: every target of the job when
// servers and groups are empty, otherwise the servers named and the members of the groups
// named, each of which must be a target of the job.
func (m *Master) startTargets(j jobs.Job, servers, groups []string) (map[string]registry.Target, error) {
	all := m.expected(j)
	if len(servers)+len(groups) == 0 {
		return all, nil
	}
	out := map[string]registry.Target{}
	add := func(name string) error {
		t, ok := all[strings.ToUpper(strings.TrimSpace(name))]
		if !ok {
			return coded(CodeUnknown, "Job '%s' is not applied to target server '%s' (msx job target %q --server %s)", j.Name, name, j.Name, name)
		}
		out[t.ServerName] = t
		return nil
	}
	for _, s := range servers {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		gr, ok := m.Reg.Group(g)
		if !ok {
			return nil, coded(CodeUnknown, "The specified target server group ('%s') does not exist (msx group list)", g)
		}
		for _, s := range gr.Members {
			if _, ok := all[s]; ok {
				out[s] = all[s]
			}
		}
	}
	return out, nil
}
