package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// raw measures bare NATS JetStream doing the work of each fleet measure, on the same server,
// before the fleet starts. Its streams use the settings of the msx streams they stand for.
func (b *bench) raw(ctx context.Context) error {
	progress(b.cfg, "raw JetStream: %d connections, request-reply, fan-out round trips, result ingestion", b.cfg.Targets)
	if err := b.rawEnlistRun(ctx); err != nil {
		return fmt.Errorf("enlist: %w", err)
	}
	if err := b.rawRoundTrips(ctx); err != nil {
		return fmt.Errorf("fan-out: %w", err)
	}
	if err := b.rawResultsRun(ctx); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	b.rawTimersRun(ctx)
	return nil
}

// rawEnlistRun: per target, a connection, one request answered after a KV put, then a second
// connection, all N at once (targets enlist on one connection and run on another).
func (b *bench) rawEnlistRun(ctx context.Context) error {
	e, n := b.e, b.cfg.Targets
	_, err := e.obsJS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "msx_bench_raw", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	resp, err := e.connect(ctx, "msx-bench-raw-responder")
	if err != nil {
		return err
	}
	defer resp.Close()
	rjs, _ := jetstream.New(resp)
	rkv, err := rjs.KeyValue(ctx, "msx_bench_raw")
	if err != nil {
		return err
	}
	// Up to rawRPCParallel requests are answered at once, as the master answers enlistments
	// (one at a time, 5,000 requests wait longer than their timeout).
	slots := make(chan struct{}, rawRPCParallel)
	sub, err := resp.QueueSubscribe("msxbench.rpc.enlist", "raw", func(m *nats.Msg) {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := rkv.Put(pctx, string(m.Data), m.Data); err != nil {
				_ = m.Respond([]byte("error: " + err.Error()))
				return
			}
			_ = m.Respond([]byte("ok"))
		}()
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	_ = resp.Flush()

	lat := make([]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			name := "RAW" + strconv.Itoa(i)
			nc, err := e.connect(ctx, name)
			if err != nil {
				errs <- err
				return
			}
			rep, err := nc.Request("msxbench.rpc.enlist", []byte(name), 60*time.Second)
			nc.Close()
			if err != nil || string(rep.Data) != "ok" {
				errs <- fmt.Errorf("request %s: %v", name, err)
				return
			}
			nc2, err := e.connect(ctx, name)
			if err != nil {
				errs <- err
				return
			}
			_ = nc2.Flush()
			lat[i] = time.Since(t0)
			nc2.Close()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	last := maxOf(lat)
	b.rawEnlist = Figures{Dist: distOf(lat), TotalMS: ms(last), PerSecond: round3(float64(n) / last.Seconds())}
	return nil
}

// rawRPCParallel is the raw enlistment responder's concurrency: the master's (master.rpcParallel).
const rawRPCParallel = 32

// rawRoundTrips: N connections, each with an ordered consumer on its own subject of a stream
// like MSX_INSTR; per round the publisher sends one message to each subject (async publish
// with Nats-Msg-Id) and each consumer publishes one reply to a stream like MSX_APPLIED, which
// the observer times, as it times the fleet's applied reports.
func (b *bench) rawRoundTrips(ctx context.Context) error {
	e, n := b.e, b.cfg.Targets
	for _, sc := range []jetstream.StreamConfig{
		{Name: "BENCH_RAW_DOWN", Subjects: []string{"msxbench.down.*"}, Retention: jetstream.LimitsPolicy, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage, MaxConsumers: bus.MaxConsumers},
		{Name: "BENCH_RAW_UP", Subjects: []string{"msxbench.up.*"}, Retention: jetstream.LimitsPolicy, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage, MaxConsumers: bus.MaxConsumers},
	} {
		if _, err := e.obsJS.CreateOrUpdateStream(ctx, sc); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{} // "round/i"
	changed := make(chan struct{}, 1)
	up, err := e.obs.Subscribe("msxbench.up.*", func(m *nats.Msg) {
		mu.Lock()
		arrived[string(m.Data)] = time.Now()
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	_ = up.SetPendingLimits(-1, -1)
	defer up.Unsubscribe()

	debug.FreeOSMemory()
	rss0 := rssBytes()
	conns := make([]*nats.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	defer func() { close(stop); consumers.Wait() }()
	sem := make(chan struct{}, 64)
	var setup sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		setup.Go(func() {
			defer func() { <-sem }()
			nc, err := e.connect(ctx, "msx-bench-raw-"+strconv.Itoa(i))
			if err != nil {
				errs <- err
				return
			}
			conns[i] = nc
			js, _ := jetstream.New(nc)
			cons, err := js.OrderedConsumer(ctx, "BENCH_RAW_DOWN", jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{"msxbench.down." + strconv.Itoa(i)}, DeliverPolicy: jetstream.DeliverNewPolicy})
			if err != nil {
				errs <- err
				return
			}
			it, err := cons.Messages()
			if err != nil {
				errs <- err
				return
			}
			consumers.Go(func() {
				go func() { <-stop; it.Stop() }()
				for {
					msg, err := it.Next()
					if err != nil {
						return
					}
					pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, _ = js.Publish(pctx, "msxbench.up."+strconv.Itoa(i), msg.Data(), jetstream.WithMsgID("up-"+string(msg.Data())))
					cancel()
				}
			})
		})
	}
	setup.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // let every ordered consumer's first pull reach the server
	debug.FreeOSMemory()
	b.rawConnRSS = (rssBytes() - rss0) / int64(n)
	b.rep.Memory.RawPerConnRSSMiB = round3(float64(b.rawConnRSS) / (1 << 20))

	pub := e.obsJS
	var all []time.Duration
	var total time.Duration
	for r := 1; r <= b.cfg.Rounds; r++ {
		t0 := time.Now()
		for i := range n {
			key := strconv.Itoa(r) + "/" + strconv.Itoa(i)
			if _, err := pub.PublishAsync("msxbench.down."+strconv.Itoa(i), []byte(key), jetstream.WithMsgID("down-"+key)); err != nil {
				return err
			}
		}
		select {
		case <-pub.PublishAsyncComplete():
		case <-time.After(b.cfg.PhaseTimeout):
			return fmt.Errorf("raw round %d: PubAcks missing after %s", r, b.cfg.PhaseTimeout)
		}
		deadline := time.Now().Add(b.cfg.PhaseTimeout)
		for {
			mu.Lock()
			left := 0
			for i := range n {
				if _, ok := arrived[strconv.Itoa(r)+"/"+strconv.Itoa(i)]; !ok {
					left++
				}
			}
			mu.Unlock()
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("raw round %d: %d of %d consumers had not replied after %s: %w", r, left, n, b.cfg.PhaseTimeout, errTimeout)
			}
			select {
			case <-changed:
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var round time.Duration
		mu.Lock()
		for i := range n {
			d := arrived[strconv.Itoa(r)+"/"+strconv.Itoa(i)].Sub(t0)
			all = append(all, d)
			round = max(round, d)
		}
		mu.Unlock()
		total += round
	}
	mean := total / time.Duration(b.cfg.Rounds)
	b.rawRound = Figures{Dist: distOf(all), TotalMS: ms(mean), PerSecond: round3(float64(n) / mean.Seconds())}
	return nil
}

// rawResultsRun: N finished-run results, of the size a target sends, async-published to a
// stream with MSX_RESULTS's settings and consumed by one ordered consumer.
func (b *bench) rawResultsRun(ctx context.Context) error {
	e, n := b.e, b.cfg.Targets
	if err := e.rawResultsStream(ctx); err != nil {
		return err
	}
	payload, err := sampleResult()
	if err != nil {
		return err
	}
	cons, err := e.obsJS.OrderedConsumer(ctx, "BENCH_RAW_RESULTS", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	got := make(chan time.Duration, n)
	var t0 time.Time
	var once sync.Once
	start := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		once.Do(func() { <-start })
		var r schemas.RunResult
		if json.Unmarshal(m.Data(), &r) == nil { // decode it, as the master does
			got <- time.Since(t0)
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	pubNC, err := e.connect(ctx, "msx-bench-raw-results")
	if err != nil {
		return err
	}
	defer pubNC.Close()
	pjs, _ := jetstream.New(pubNC, jetstream.WithPublishAsyncMaxPending(max(4000, n)))
	t0 = time.Now()
	close(start)
	for i := range n {
		if _, err := pjs.PublishAsync("msxbench.result.T"+strconv.Itoa(i)+".J", payload, jetstream.WithMsgID("run-"+strconv.Itoa(i))); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, 0, n)
	timeout := time.After(b.cfg.PhaseTimeout)
	for len(lat) < n {
		select {
		case d := <-got:
			lat = append(lat, d)
		case <-timeout:
			return fmt.Errorf("raw results: %d of %d consumed after %s: %w", len(lat), n, b.cfg.PhaseTimeout, errTimeout)
		}
	}
	last := maxOf(lat)
	b.rawResults = Figures{Dist: distOf(lat), TotalMS: ms(last), PerSecond: round3(float64(n) / last.Seconds())}
	return nil
}

// rawResultsStream creates the raw results stream, with MSX_RESULTS's settings.
func (e *env) rawResultsStream(ctx context.Context) error {
	_, err := e.obsJS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW_RESULTS", Subjects: []string{"msxbench.result.*.*"},
		Retention: jetstream.LimitsPolicy, MaxMsgsPerSubject: 200, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage})
	return err
}

// sampleResult is a finished RunResult with one job history row, as a one-step T-SQL run
// reports it.
func sampleResult() ([]byte, error) {
	now := time.Now().UTC()
	row, _ := json.Marshal(jobs.HistoryRow{StepID: 0, StepName: "(Job outcome)", RunStatus: 1, RunDate: 20250101, RunTime: 120000,
		Message: "The job succeeded. The Job was invoked by Schedule 1 (bench once). The last step to run was step 1 (noop).", Server: "BENCH0001"})
	return schemas.Encode(&schemas.RunResult{RunID: "RUNID0123456789ABCDEFGHIJKL", Phase: schemas.PhaseFinished, JobID: "0b0c5e0e-0000-4000-8000-000000000000",
		JobName: fleetJob, VersionNumber: 3, Server: "BENCH0001", InvokedBy: "Schedule 1 (bench once)", Started: now, Finished: now,
		RunStatus: 1, Message: "The job succeeded.", Rows: []json.RawMessage{row}})
}

// rawTimersRun: the floor of schedule lateness without any bus or database: cfg.Jobs timers
// due at the same instant.
func (b *bench) rawTimersRun(ctx context.Context) {
	n := b.cfg.Jobs
	due := time.Now().Add(500 * time.Millisecond)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			t := time.NewTimer(time.Until(due))
			defer t.Stop()
			select {
			case <-t.C:
				lat[i] = time.Since(due)
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	b.rawTimers = Figures{Dist: distOf(lat)}
}
