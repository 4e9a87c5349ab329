package runner

import (
	"fmt"
	"testing"

	"github.com/msx-project/msx/schemas/jobs"
)

func BenchmarkRun(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			s := steps(n)
			for i := range s {
				s[i].OnSuccessAction = jobs.ActionNextStep
				s[i].Command = "EXEC dbo.IndexOptimize @Databases = N'$(ESCAPE_SQUOTE(JOBNAME))', @Step = $(STEPID)"
			}
			job := jobs.Job{JobID: "6F9619FF-8B86-D011-B42D-00C04FC964FF", Name: "bench", Steps: s}
			r := newFakeRunner(&fakeExecutor{forget: true}, Config{})
			b.ReportAllocs()
			for b.Loop() {
				if out := r.Run(b.Context(), job, RunInfo{InvokedBy: "operator"}); out.Status != jobs.RunSucceeded {
					b.Fatalf("status %v: %s", out.Status, out.Job.Message)
				}
			}
		})
	}
}
