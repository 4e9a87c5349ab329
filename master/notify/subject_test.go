package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestResultOnAnotherJobsSubjectNotNotified: a failed result whose body names a job that
// notifies, published on the subject of a job that notifies nobody, is refused by the
// notifier as by the master (the notifier picks the job from the subject and decodes only the
// results of jobs that notify); the genuine failure published after it is notified.
func TestResultOnAnotherJobsSubjectNotNotified(t *testing.T) {
	t.Parallel()
	f := newFixture(t, notify.Config{})
	f.startTarget(t, "sqln9")
	f.addOperator(t, model.Operator{Name: model.DefaultOperator, EmailAddress: "dba@example.com"})
	cmd, _ := failing(t)
	f.apply(t, "Loud", cmd, func(j *jobs.Job) { j.NotifyLevelEmail = 2 }, "SQLN9")
	f.apply(t, "Quiet", "true", func(*jobs.Job) {}, "SQLN9")
	loud, _ := f.m.Catalog.ByName("Loud")
	quiet, _ := f.m.Catalog.ByName("Quiet")

	now := time.Now().UTC()
	forged := schemas.RunResult{RunID: "forged-run", Phase: schemas.PhaseFinished, JobID: loud.JobID, JobName: loud.Name,
		VersionNumber: loud.VersionNumber, Server: "SQLN9", InvokedBy: "test", Started: now, Finished: now, RunStatus: int(jobs.RunFailed)}
	data, err := schemas.Encode(&forged)
	if err != nil {
		t.Fatal(err)
	}
	_, js := f.srv.ConnectMaster(t)
	if _, err := js.Publish(t.Context(), bus.ResultSubject(jobs.ServerToken("SQLN9"), quiet.JobID), data); err != nil {
		t.Fatalf("publish the forged result: %v", err)
	}

	f.run(t, "Loud", "SQLN9", 1) // published after the forged one: notified after it was read
	ids := f.waitNotified(t, 1)
	for id := range ids {
		if strings.HasPrefix(id, "forged-run/") {
			t.Errorf("the result on another job's subject was notified: %v", ids)
		}
	}
	if len(ids) != 1 {
		t.Errorf("notifications %v, want only the genuine failure", ids)
	}
}
