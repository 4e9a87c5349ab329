package master_test

import (
	"slices"
	"testing"

	"github.com/msx-project/msx/master"
)

// TestIntegrationUndeployPlans: each destructive verb's plan lists exactly the jobs that the
// change takes away from each server (a job a server also gets another way stays), and the
// change then posts a DELETE for each planned job and no other.
func TestIntegrationUndeployPlans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startTarget(t, "sqlp1")
	b := f.startTarget(t, "sqlp2")
	f.waitOnline(t, a)
	f.waitOnline(t, b)
	ctx := t.Context()
	if _, err := f.m.Reg.AddGroup(ctx, "Web"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sqlp1", "sqlp2"} {
		if _, _, err := f.m.AddMember(ctx, "Web", s); err != nil {
			t.Fatal(err)
		}
	}
	viaGroup := cmdJob(t, "via group", "echo g")
	viaGroup.Targets.Servers, viaGroup.Targets.Groups = nil, []string{"Web"}
	f.apply(t, viaGroup)
	both := cmdJob(t, "group and server", "echo b", "sqlp1")
	both.Targets.Groups = []string{"Web"}
	f.apply(t, both)
	f.apply(t, cmdJob(t, "server only", "echo s", "sqlp2"))

	desc := func(p master.UndeployPlan) []string {
		var out []string
		for _, u := range p.Undeploy {
			out = append(out, u.Job+"@"+u.Server)
		}
		slices.Sort(out)
		return out
	}
	plan := func(p master.UndeployPlan, err error) master.UndeployPlan {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		p    master.UndeployPlan
		want []string
	}{
		{"delete group", plan(f.m.PlanDeleteGroup("web")), []string{"group and server@SQLP2", "via group@SQLP1", "via group@SQLP2"}},
		{"remove member", plan(f.m.PlanRemoveMember("Web", "sqlp1")), []string{"via group@SQLP1"}},
		{"delete target", plan(f.m.PlanDeleteTarget("sqlp2", false)), []string{"group and server@SQLP2", "server only@SQLP2", "via group@SQLP2"}},
		{"delete job", plan(f.m.PlanDeleteJob("group and server")), []string{"group and server@SQLP1", "group and server@SQLP2"}},
	} {
		if got := desc(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("%s: plan %q, want %q", tc.name, got, tc.want)
		}
	}
	p := plan(f.m.PlanDeleteGroup("Web"))
	posted, err := f.m.DeleteGroup(ctx, "Web")
	if err != nil {
		t.Fatal(err)
	}
	if len(posted) != len(p.Undeploy) {
		t.Errorf("group delete posted %+v, plan said %q", posted, desc(p))
	}
	for _, r := range posted {
		if r.Operation != "DELETE" {
			t.Errorf("group delete posted %+v", r)
		}
	}
}
