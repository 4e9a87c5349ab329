package master

import (
	"fmt"
	"slices"
	"strings"

	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

// Undeploy is one job that a destructive change takes away from one target server (a DELETE
// posted to it).
type Undeploy struct {
	Job    string `json:"job"`
	JobID  string `json:"job_id"`
	Server string `json:"server"`
}

// UndeployPlan says what a destructive change would un-deploy, before it is made.
type UndeployPlan struct {
	Change   string     `json:"change"` // e.g. "delete group PROD"
	Undeploy []Undeploy `json:"undeploy"`
	// Defect is set when the change also posts DEFECT to a target (target delete).
	Defect string `json:"defect,omitempty"`
}

// whatIf is a change to groups that a plan simulates: group deleted, or one member removed.
type whatIf struct {
	group  string
	member string // "" with a group: the whole group goes
}

// expectedIf is expected(j) as it would be after change w.
func (m *Master) expectedIf(j jobs.Job, w whatIf) map[string]registry.Target {
	out := map[string]registry.Target{}
	add := func(name string) {
		if t, ok := m.Reg.Target(name); ok && !m.consumedBy(j, t) {
			out[t.ServerName] = t
		}
	}
	for _, s := range j.Targets.Servers {
		add(s)
	}
	for _, g := range j.Targets.Groups {
		gr, ok := m.Reg.Group(g)
		if !ok || (strings.EqualFold(g, w.group) && w.member == "") {
			continue
		}
		for _, s := range gr.Members {
			if !strings.EqualFold(g, w.group) || !strings.EqualFold(s, w.member) {
				add(s)
			}
		}
	}
	return out
}

// planIf lists the jobs that change w takes away from servers.
func (m *Master) planIf(change string, w whatIf) UndeployPlan {
	p := UndeployPlan{Change: change, Undeploy: []Undeploy{}}
	for _, j := range m.Catalog.All() {
		after := m.expectedIf(j, w)
		for _, name := range sortedKeys(m.expected(j)) {
			if _, keep := after[name]; !keep {
				p.Undeploy = append(p.Undeploy, Undeploy{Job: j.Name, JobID: j.JobID, Server: name})
			}
		}
	}
	return p
}

// PlanDeleteGroup says what deleting a group un-deploys: the group's jobs from the members that
// do not get them another way. 14262 if the group does not exist.
func (m *Master) PlanDeleteGroup(name string) (UndeployPlan, error) {
	g, ok := m.Reg.Group(name)
	if !ok {
		return UndeployPlan{}, coded(CodeUnknown, "The specified target server group ('%s') does not exist.", name)
	}
	return m.planIf("delete group "+g.Name, whatIf{group: g.Name}), nil
}

// PlanRemoveMember says what removing a server from a group un-deploys from it.
func (m *Master) PlanRemoveMember(group, server string) (UndeployPlan, error) {
	g, ok := m.Reg.Group(group)
	if !ok {
		return UndeployPlan{}, coded(CodeUnknown, "The specified target server group ('%s') does not exist.", group)
	}
	t, err := m.Target(server)
	if err != nil {
		return UndeployPlan{}, err
	}
	if !slices.Contains(g.Members, t.ServerName) {
		return UndeployPlan{}, fmt.Errorf("%w: target server '%s' is not a member of group '%s'", registry.ErrNotMember, t.ServerName, g.Name)
	}
	return m.planIf(fmt.Sprintf("remove %s from group %s", t.ServerName, g.Name), whatIf{group: g.Name, member: t.ServerName}), nil
}

// PlanDeleteTarget says what deleting a target un-deploys: every job it holds (through the
// DEFECT posted to it, unless noPostDefection).
func (m *Master) PlanDeleteTarget(name string, noPostDefection bool) (UndeployPlan, error) {
	t, err := m.Target(name)
	if err != nil {
		return UndeployPlan{}, err
	}
	p := UndeployPlan{Change: "delete target server " + t.ServerName, Undeploy: []Undeploy{}}
	if !noPostDefection {
		p.Defect = t.ServerName
	}
	for _, j := range m.JobsFor(t.ServerName) {
		p.Undeploy = append(p.Undeploy, Undeploy{Job: j.Name, JobID: j.JobID, Server: t.ServerName})
	}
	return p, nil
}

// PlanDeleteJob says what deleting a job un-deploys: the job from every server it is on.
func (m *Master) PlanDeleteJob(name string) (UndeployPlan, error) {
	j, err := m.Catalog.Get(name)
	if err != nil {
		return UndeployPlan{}, err
	}
	p := UndeployPlan{Change: "delete job " + j.Name, Undeploy: []Undeploy{}}
	for _, s := range sortedKeys(m.expected(j)) {
		p.Undeploy = append(p.Undeploy, Undeploy{Job: j.Name, JobID: j.JobID, Server: s})
	}
	return p, nil
}
