package api_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/master/api"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas"
)

// BenchmarkOutputLatency measures live output latency in one run: a chunk published on core
// NATS as a target would, to an SSE client of GET /api/v1/jobs/{name}/output (decode, check,
// relay, HTTP, client parse), beside a raw core NATS publish to a subscriber on the same server.
// Chunks go one at a time (the next after the previous arrived), so each is a latency, not a
// queueing delay. It reports p50 and p99 of both, in microseconds.
//
//	go test -run '^$' -bench OutputLatency -benchtime 2000x ./master/api/
func BenchmarkOutputLatency(b *testing.B) {
	f := newOutputFixture(b)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	arrived := make(chan time.Duration, 1)
	opened := make(chan struct{})
	c := &client.Client{Base: f.srv.URL, Token: f.viewer}
	go func() {
		_ = c.Stream(ctx, "/api/v1/jobs/Nightly/output?server=SQL01", func(ev client.Event) error {
			if ev.Comment {
				select {
				case <-opened:
				default:
					close(opened)
				}
				return nil
			}
			var o api.OutputEvent
			if err := json.Unmarshal(ev.Data, &o); err != nil {
				return err
			}
			arrived <- time.Since(o.Sent)
			return nil
		})
	}()
	<-opened

	// Raw core NATS: a subscriber on its own connection, as the master's is.
	raw := make(chan time.Duration, 1)
	sc, err := nats.Connect(f.nc.ConnectedUrl())
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Subscribe("bench.raw", func(m *nats.Msg) {
		raw <- time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Data))))
	}); err != nil {
		b.Fatal(err)
	}
	if err := sc.Flush(); err != nil {
		b.Fatal(err)
	}

	text := "a line of output such as a step prints, about eighty bytes long, then a newline\n"
	var sse, nat []time.Duration
	buf := make([]byte, 8+len(text))
	copy(buf[8:], text)
	b.ResetTimer()
	for i := range b.N {
		c := schemas.OutputChunk{Type: schemas.TypeOutputChunk, Kind: schemas.OutputText, JobID: f.jobID, RunID: "R1",
			Seq: uint64(i + 1), StepID: 1, StepName: "one", Text: text, Sent: time.Now()}
		data, _ := json.Marshal(c)
		f.raw(b, "SQL01", data)
		sse = append(sse, <-arrived)

		binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
		if err := f.nc.Publish("bench.raw", buf); err != nil {
			b.Fatal(err)
		}
		nat = append(nat, <-raw)
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds())
	}
	b.ReportMetric(pct(sse, 0.50), "sse_p50_µs")
	b.ReportMetric(pct(sse, 0.99), "sse_p99_µs")
	b.ReportMetric(pct(nat, 0.50), "nats_p50_µs")
	b.ReportMetric(pct(nat, 0.99), "nats_p99_µs")
}
