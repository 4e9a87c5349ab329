//go:build unix

package master_test

import (
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestIntegrationLiveOutputOnStandby: a real target on the authenticated bus streams a CmdExec
// step's output while it runs; the standby master relays it (core NATS is cluster-wide), with
// the server taken from the subject, the secret variable's value masked, seq without gaps, and
// the step's and the run's end.
func TestIntegrationLiveOutputOnStandby(t *testing.T) {
	srv := bustest.RunSecureServer(t)
	m1, _ := startMasterOn(t, srv, "MSX1")
	m2, _ := startMasterOn(t, srv, "MSX2")
	if !m1.Leading() || m2.Leading() {
		t.Fatalf("leading: MSX1 %v, MSX2 %v", m1.Leading(), m2.Leading())
	}
	f := &fixture{url: srv.ClientURL(), ca: srv.CAFile, auth: srv.Auth, m: m1}
	a := f.startTarget(t, "LIVE01")
	f.waitOnline(t, a)
	if _, err := m1.SetVar(t.Context(), "PW", "hunter22", "LIVE01", "", true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.ApplyJob(t.Context(), jobs.Job{Name: "live job", Variables: []jobs.Variable{{Name: "PW", Secret: true}},
		Steps: []jobs.Step{{StepName: "print", Subsystem: jobs.SubsystemCmdExec,
			Command: "echo \"first $(VAR:PW)\"; sleep 1; echo second"}},
		Targets: jobs.Targets{Servers: []string{"LIVE01"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, func() bool { _, ok := m2.Catalog.ByName("live job"); return ok }, "MSX2 sees the job")
	st, err := m2.FollowOutput("live01", "live job")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := m1.StartJob(t.Context(), "live job", "LIVE01", false); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var seq uint64
	for {
		var ev masterEvent
		select {
		case e := <-st.C:
			ev = masterEvent{e.Server, e.Job, e.Chunk, e.Missed}
		case <-time.After(patience):
			t.Fatalf("no live output on the standby; so far %q", text.String())
		}
		if ev.server != "LIVE01" || ev.job != "live job" || ev.missed != 0 || ev.c.Seq != seq+1 {
			t.Fatalf("event %+v after seq %d", ev, seq)
		}
		seq = ev.c.Seq
		if ev.c.Kind == schemas.OutputText {
			if text.Len() == 0 {
				// The first line came while the step still sleeps: the run is not finished.
				if rows, _ := m2.History(t.Context(), "live job", "LIVE01", 10); len(rows) > 0 && rows[0].RunStatus != jobs.RunInProgress {
					t.Fatalf("history %+v before the first chunk was relayed", rows[0])
				}
			}
			text.WriteString(ev.c.Text)
		}
		if ev.c.Kind == schemas.OutputRunEnd {
			if ev.c.RunStatus != int(jobs.RunSucceeded) {
				t.Fatalf("run end %+v", ev.c)
			}
			break
		}
	}
	if text.String() != "first "+jobs.Masked+"\nsecond\n" {
		t.Fatalf("relayed output %q: want both lines with the secret masked", text.String())
	}
	if strings.Contains(text.String(), "hunter22") {
		t.Fatal("the secret crossed the bus")
	}
}

type masterEvent struct {
	server, job string
	c           schemas.OutputChunk
	missed      int64
}
