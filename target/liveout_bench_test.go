package target

import (
	"testing"
	"time"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/runner"
)

// BenchmarkLiveOutputWrite is what live output adds to each write a step's output makes (100
// bytes, a line): the masking of two secret values and the bounded buffer, publishing to a real
// NATS server with a subscriber. MB/s is the step's output rate it sustains, far above the
// 32 KiB/s a step sends (the rest is counted as dropped, never waited for).
//
//	go test -run '^$' -bench LiveOutputWrite ./target/
func BenchmarkLiveOutputWrite(b *testing.B) {
	s := bustest.RunServer(b, b.TempDir())
	nc, _ := bustest.Connect(b, s.ClientURL())
	sub, err := nc.SubscribeSync(bus.OutputSubject("SQL01", "J1"))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	job := jobs.Job{JobID: "J1", Name: "bench", Variables: []jobs.Variable{{Name: "A", Secret: true, Value: "hunter22"}, {Name: "B", Secret: true, Value: "s3cr3t-key"}}}
	l := newLiveRun(nc.Publish, nil, "SQL01", job, "R1", defaultLiveLimits)
	st := l.Step(jobs.Step{StepID: 1, StepName: "bench"}, 0)
	m := runner.NewLiveMask(st, []string{"hunter22", "s3cr3t-key"}, job.MaskSecrets)
	line := []byte("2026-12-02 14:00:00 processed batch 42 of 1000: 12345 rows, 678 ms, nothing to report here\n")
	b.SetBytes(int64(len(line)))
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		_, _ = m.Write(line)
	}
	b.StopTimer()
	m.Flush()
	st.End(jobs.RunSucceeded)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}
