//go:build !windows

package bus_test

// Two ways for a target to read its instructions from MSX_INSTR (see CONSUMERS.md):
//
//	durable  the master creates a durable pull consumer per target (FilterSubject
//	         msx.instr.<t>, AckExplicit, MaxAckPending 1, R1); the target binds to it,
//	         consumes and acks each instruction (DoubleAck, so "acked" means the server
//	         recorded it).
//	ordered  the target creates an ordered consumer itself (FilterSubjects [msx.instr.<t>],
//	         DeliverByStartSequence = last applied + 1); nothing durable on the server, the
//	         target records the last applied stream sequence in its local database.
//	master   what msx does now (bus/SECURITY.md): the target asks the master over
//	         msx.rpc.consumer.<t> for its consumer from last applied + 1; the master makes
//	         bus.InstrConsumerConfig (ephemeral pull, memory, AckNone, named I_<t>); the target
//	         pulls from it. No authentication: every connection in the global account.
//	accounts the same with bus.Auth: every target in its own account, reaching the stream
//	         through service imports (pulled instructions are routed back as service responses).
//
// Both targets would also record the applied instruction id locally (idempotent apply);
// that cost is the same in both designs, so the benchmark keeps the "local database" in
// memory and measures the bus alone.
//
// Every target has a connection of its own, as in production: 1,000 connections on loopback
// take well under a second to dial, so a shared pool would only hide per-connection costs.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/schemas"
)

const (
	designDurable  = "durable"
	designOrdered  = "ordered"
	designMaster   = "master"
	designAccounts = "accounts"

	// benchRawStream has MSX_INSTR's settings and no consumers: the "persist N messages"
	// baseline that fan-out times are compared with.
	benchRawStream = "BENCH_RAW"
	benchRawSubj   = "bench.raw"
)

var (
	benchDesigns = []string{designDurable, designOrdered, designMaster, designAccounts}
	benchSizes   = []int{100, 1000}
)

// durableName is the name the master gives target t's instruction consumer in design A.
func durableName(t string) string { return "instr_" + t }

// instrPayload stands in for an msx.instruction.v1 message of typical size.
var instrPayload = []byte(`{"type":"msx.instruction.v1","id":"0190f3c2-7b4e-7c1a-9d1e-2f4a5b6c7d8e",` +
	`"op":"upsert_job","job":{"id":"nightly-checkdb","version":7,"name":"Nightly CHECKDB",` +
	`"category":"Jobs from MSX"},"posted_at":"2025-01-01T00:00:00Z"}`)

func BenchmarkFanOut(b *testing.B) {
	for _, design := range benchDesigns {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/targets=%d", design, n), func(b *testing.B) {
				benchFanOut(b, design, n)
			})
		}
	}
}

func benchFanOut(b *testing.B, design string, n int) {
	ctx := b.Context()
	dir := b.TempDir()
	b.Logf("store on %s", fsType(dir))
	keys := newBenchKeys(design, n)
	srv := startServer(b, dir, keys.auth)
	b.Cleanup(srv.Shutdown)
	f := newFleet(b, design, n, srv.ClientURL(), keys)
	setupStart := time.Now()
	f.connectTargets(b, srv.ClientURL(), false)
	f.startAll(b, ctx)
	b.Logf("setup: %d targets connected and consuming in %s", n, time.Since(setupStart).Round(time.Millisecond))

	var fanout, pubacks, raw time.Duration
	var lats []time.Duration
	for b.Loop() {
		b.StopTimer()
		d, err := f.rawPublish(ctx)
		if err != nil {
			b.Fatal(err)
		}
		raw += d
		b.StartTimer()

		pub, total, l, err := f.fanOut(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fanout += total
		pubacks += pub
		lats = append(lats, l...)
	}
	rounds := float64(b.N)
	slices.Sort(lats)
	b.ReportMetric(ms(fanout)/rounds, "ms/fanout")
	b.ReportMetric(ms(percentile(lats, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lats, 0.99)), "p99-ms")
	b.ReportMetric(ms(raw)/rounds, "raw-publish-ms")
	b.ReportMetric(ms(pubacks)/rounds, "fanout-pubacks-ms")
}

func BenchmarkRestart(b *testing.B) {
	for _, design := range benchDesigns {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/targets=%d", design, n), func(b *testing.B) {
				benchRestart(b, design, n)
			})
		}
	}
}

// benchRestart restarts the server under a fleet of n consuming targets. Target connections do
// not reconnect by themselves here (nats.NoReconnect): their jittered reconnect wait is the same
// in both designs and would only blur what is measured. They dial again untimed after the start.
func benchRestart(b *testing.B, design string, n int) {
	ctx := b.Context()
	dir := b.TempDir()
	b.Logf("store on %s", fsType(dir))
	keys := newBenchKeys(design, n)
	srv := startServer(b, dir, keys.auth)
	defer func() { srv.Shutdown() }()
	f := newFleet(b, design, n, srv.ClientURL(), keys)
	f.connectTargets(b, srv.ClientURL(), true)
	f.startAll(b, ctx)
	// Every consumer has delivered something, so durables have state to write at shutdown.
	if _, _, _, err := f.fanOut(ctx); err != nil {
		b.Fatal(err)
	}

	var shutdown, start, resume time.Duration
	for b.Loop() {
		t0 := time.Now()
		srv.Shutdown()
		shutdown += time.Since(t0)

		b.StopTimer()
		f.stopTargets()
		b.StartTimer()

		t0 = time.Now()
		srv = startServer(b, dir, keys.auth)
		f.connectMaster(b, srv.ClientURL(), true)
		if _, err := f.js.AccountInfo(ctx); err != nil {
			b.Fatalf("JetStream after restart: %v", err)
		}
		start += time.Since(t0)

		b.StopTimer()
		f.connectTargets(b, srv.ClientURL(), true)
		b.StartTimer()

		t0 = time.Now()
		f.startAll(b, ctx)
		if err := f.waitConsumers(ctx, n); err != nil {
			b.Fatal(err)
		}
		resume += time.Since(t0)

		// Every target resumes exactly where it was: the next instruction, nothing older.
		b.StopTimer()
		if _, _, _, err := f.fanOut(ctx); err != nil {
			b.Fatalf("fan-out after restart: %v", err)
		}
		b.StartTimer()
	}
	rounds := float64(b.N)
	b.ReportMetric(ms(shutdown)/rounds, "shutdown-ms")
	b.ReportMetric(ms(start)/rounds, "start-ms")
	b.ReportMetric(ms(resume)/rounds, "resume-ms")
}

// fleet is one master and n targets reading their instructions through one design.
type fleet struct {
	tb      testing.TB
	design  string
	run     string // prefix of this fleet's Nats-Msg-Ids
	round   int
	nc      *nats.Conn // the master's
	js      jetstream.JetStream
	targets []*benchTarget
	done    chan int
	keys    benchKeys

	errMu sync.Mutex
	err   error
}

type benchTarget struct {
	idx  int
	name string
	subj string
	nc   *nats.Conn
	js   jetstream.JetStream
	cc   jetstream.ConsumeContext
	// last is the stream sequence of the last applied instruction: the target's local database.
	last atomic.Uint64
	// recvAt is when the current round's instruction reached the handler (unix ns).
	recvAt atomic.Int64
	// wantMsgID is the Nats-Msg-Id of the current round's instruction.
	wantMsgID atomic.Value
}

func newFleet(tb testing.TB, design string, n int, url string, keys benchKeys) *fleet {
	tb.Helper()
	f := &fleet{
		tb: tb, design: design, run: strconv.FormatInt(time.Now().UnixNano(), 36),
		done: make(chan int, 2*n), keys: keys,
	}
	tb.Cleanup(f.stopTargets)
	f.connectMaster(tb, url, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (bus.Layout{}).Ensure(ctx, f.js); err != nil {
		tb.Fatal(err)
	}
	raw := bus.Layout{}.Streams()[0]
	raw.Name, raw.Subjects, raw.Description = benchRawStream, []string{benchRawSubj + ".*"}, "benchmark baseline"
	if _, err := f.js.CreateOrUpdateStream(ctx, raw); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("SQL%04d", i)
		f.targets = append(f.targets, &benchTarget{idx: i, name: name, subj: bus.InstrSubject(name)})
	}
	if design == designDurable {
		// The master creates the durables once; they outlive restarts.
		err := parallel(len(f.targets), 8, func(i int) error {
			t := f.targets[i]
			_, err := f.js.CreateOrUpdateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{
				Durable: durableName(t.name), FilterSubject: t.subj, AckPolicy: jetstream.AckExplicitPolicy,
				MaxAckPending: 1, DeliverPolicy: jetstream.DeliverAllPolicy, Replicas: 1,
			})
			return err
		})
		if err != nil {
			tb.Fatalf("create durables: %v", err)
		}
	}
	return f
}

func (f *fleet) connectMaster(tb testing.TB, url string, noReconnect bool) {
	tb.Helper()
	if f.nc != nil {
		f.nc.Close()
	}
	nc, js := dial(tb, url, "master", noReconnect, f.keys.master)
	f.nc, f.js = nc, js
	if f.design == designMaster || f.design == designAccounts {
		bustest.ServeInstrConsumers(tb, nc)
	}
}

func (f *fleet) connectTargets(tb testing.TB, url string, noReconnect bool) {
	tb.Helper()
	err := parallel(len(f.targets), 16, func(i int) error {
		t := f.targets[i]
		nc, err := nats.Connect(url, connOpts(t.name, noReconnect, f.keys.target(i))...)
		if err != nil {
			return fmt.Errorf("connect %s: %w", t.name, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return err
		}
		t.nc, t.js = nc, js
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// startAll has every target bind to (durable) or create (ordered) its consumer and start
// consuming, all at once, as a fleet does after an outage.
func (f *fleet) startAll(tb testing.TB, ctx context.Context) {
	tb.Helper()
	err := parallel(len(f.targets), len(f.targets), func(i int) error { return f.startTarget(ctx, f.targets[i]) })
	if err != nil {
		tb.Fatal(err)
	}
}

func (f *fleet) startTarget(ctx context.Context, t *benchTarget) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	switch f.design {
	case designDurable:
		for {
			cons, err = t.js.Consumer(ctx, bus.StreamInstr, durableName(t.name))
			if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				break
			}
			select { // the server may still be loading its consumers
			case <-ctx.Done():
				return fmt.Errorf("bind %s: %w", t.name, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	case designOrdered:
		cons, err = t.js.OrderedConsumer(ctx, bus.StreamInstr, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{t.subj}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq: t.last.Load() + 1,
		})
	case designMaster, designAccounts:
		cons, err = askConsumer(ctx, t, t.last.Load()+1)
	}
	if err != nil {
		return fmt.Errorf("consumer for %s: %w", t.name, err)
	}
	cc, err := cons.Consume(f.handler(t))
	if err != nil {
		return fmt.Errorf("consume %s: %w", t.name, err)
	}
	t.cc = cc
	return nil
}

func (f *fleet) handler(t *benchTarget) jetstream.MessageHandler {
	return func(m jetstream.Msg) {
		now := time.Now().UnixNano()
		md, err := m.Metadata()
		if err != nil {
			f.fail(fmt.Errorf("%s: metadata: %w", t.name, err))
			return
		}
		if md.Sequence.Stream <= t.last.Load() {
			f.fail(fmt.Errorf("%s: sequence %d already applied (last %d)", t.name, md.Sequence.Stream, t.last.Load()))
			return
		}
		if want, _ := t.wantMsgID.Load().(string); m.Headers().Get(jetstream.MsgIDHeader) != want {
			f.fail(fmt.Errorf("%s: got instruction %q, want %q", t.name, m.Headers().Get(jetstream.MsgIDHeader), want))
			return
		}
		if f.design == designDurable {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := m.DoubleAck(ctx)
			cancel()
			if err != nil {
				f.fail(fmt.Errorf("%s: ack: %w", t.name, err))
				return
			}
		}
		t.last.Store(md.Sequence.Stream)
		t.recvAt.Store(now)
		select {
		case f.done <- t.idx:
		default:
			f.fail(fmt.Errorf("%s: more deliveries than instructions", t.name))
		}
	}
}

func (f *fleet) fail(err error) {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *fleet) firstErr() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

// fanOut publishes one instruction to every target and waits until each has applied it. It
// returns the time to get all PubAcks, the time until the last target applied its
// instruction, and every target's publish-to-receipt latency.
func (f *fleet) fanOut(ctx context.Context) (pub, total time.Duration, lats []time.Duration, err error) {
	f.round++
	n := len(f.targets)
	subjects, ids := make([]string, n), make([]string, n)
	for i, t := range f.targets {
		subjects[i], ids[i] = t.subj, fmt.Sprintf("%s-%d-%s", f.run, f.round, t.name)
		t.wantMsgID.Store(ids[i])
	}
	sentAt := make([]int64, n)
	start := time.Now()
	if err := publishAll(ctx, f.js, subjects, ids, sentAt); err != nil {
		return 0, 0, nil, err
	}
	pub = time.Since(start)
	seen := make([]bool, n)
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for got := 0; got < n; got++ {
		select {
		case i := <-f.done:
			if seen[i] {
				return 0, 0, nil, fmt.Errorf("round %d: %s applied twice", f.round, f.targets[i].name)
			}
			seen[i] = true
		case <-timeout.C:
			return 0, 0, nil, fmt.Errorf("round %d: %d of %d targets applied their instruction (first error: %v)", f.round, got, n, f.firstErr())
		case <-ctx.Done():
			return 0, 0, nil, ctx.Err()
		}
	}
	total = time.Since(start)
	if err := f.firstErr(); err != nil {
		return 0, 0, nil, err
	}
	lats = make([]time.Duration, n)
	for i, t := range f.targets {
		lats[i] = time.Duration(t.recvAt.Load() - sentAt[i])
	}
	return pub, total, lats, nil
}

// rawPublish publishes one message per target to a stream without consumers and returns the
// time until all PubAcks are in.
func (f *fleet) rawPublish(ctx context.Context) (time.Duration, error) {
	f.round++
	n := len(f.targets)
	subjects, ids := make([]string, n), make([]string, n)
	for i, t := range f.targets {
		subjects[i], ids[i] = benchRawSubj+"."+t.name, fmt.Sprintf("%s-raw%d-%s", f.run, f.round, t.name)
	}
	start := time.Now()
	err := publishAll(ctx, f.js, subjects, ids, nil)
	return time.Since(start), err
}

// publishAll publishes asynchronously and waits for every PubAck; sentAt, when not nil,
// receives each publish time.
func publishAll(ctx context.Context, js jetstream.JetStream, subjects, ids []string, sentAt []int64) error {
	futs := make([]jetstream.PubAckFuture, len(subjects))
	for i, subj := range subjects {
		if sentAt != nil {
			sentAt[i] = time.Now().UnixNano()
		}
		fut, err := js.PublishAsync(subj, instrPayload, jetstream.WithMsgID(ids[i]))
		if err != nil {
			return fmt.Errorf("publish %s: %w", subj, err)
		}
		futs[i] = fut
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d PubAcks: %w", js.PublishAsyncPending(), ctx.Err())
	}
	for i, fut := range futs {
		select {
		case ack := <-fut.Ok():
			if ack.Duplicate {
				return fmt.Errorf("publish %s: duplicate of %s", subjects[i], ids[i])
			}
		case err := <-fut.Err():
			return fmt.Errorf("publish %s: %w", subjects[i], err)
		}
	}
	return nil
}

// waitConsumers polls MSX_INSTR's consumer list until it holds n consumers.
func (f *fleet) waitConsumers(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		got, err := countConsumers(ctx, f.js)
		if err == nil && got == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MSX_INSTR lists %d consumers, want %d (last error %v): %w", got, n, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func countConsumers(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, bus.StreamInstr)
	if err != nil {
		return 0, err
	}
	names := s.ConsumerNames(ctx)
	n := 0
	for range names.Name() {
		n++
	}
	return n, names.Err()
}

// stopTargets stops every target's consumption and closes its connection.
func (f *fleet) stopTargets() {
	for _, t := range f.targets {
		if t.cc != nil {
			t.cc.Stop()
			t.cc = nil
		}
		if t.nc != nil {
			t.nc.Close()
			t.nc = nil
		}
	}
	if f.nc != nil {
		f.nc.Close()
		f.nc = nil
	}
}

// askConsumer asks the master for t's instruction consumer from start, as target/consume.go
// does, and binds to it.
func askConsumer(ctx context.Context, t *benchTarget, start uint64) (jetstream.Consumer, error) {
	data, err := schemas.Encode(&schemas.ConsumerRequest{StartSeq: start, Time: time.Now().UTC(), Signature: "bench"})
	if err != nil {
		return nil, err
	}
	msg, err := t.nc.RequestWithContext(ctx, bus.ConsumerSubject(t.name), data)
	if err != nil {
		return nil, fmt.Errorf("ask for the consumer of %s: %w", t.name, err)
	}
	var rep schemas.ConsumerReply
	if err := schemas.Decode(msg.Data, &rep); err != nil {
		return nil, err
	}
	if rep.Error != nil {
		return nil, rep.Error
	}
	return t.js.Consumer(ctx, bus.StreamInstr, rep.Consumer)
}

// benchKeys are the identities of a fleet on a server with bus.Auth (design accounts); the
// zero value means no authentication.
type benchKeys struct {
	auth    *bus.Auth
	master  nkeys.KeyPair
	targets []nkeys.KeyPair
}

func (k benchKeys) target(i int) nkeys.KeyPair {
	if k.targets == nil {
		return nil
	}
	return k.targets[i]
}

// newBenchKeys makes a master key and n target keys with an Auth that knows them, for design
// accounts.
func newBenchKeys(design string, n int) benchKeys {
	if design != designAccounts {
		return benchKeys{}
	}
	k := benchKeys{master: must(nkeys.CreateUser())}
	byKey := map[string]string{}
	for i := range n {
		kp := must(nkeys.CreateUser())
		k.targets = append(k.targets, kp)
		byKey[must(kp.PublicKey())] = fmt.Sprintf("SQL%04d", i)
	}
	k.auth = &bus.Auth{MasterKey: must(k.master.PublicKey()), Lookup: func(pub string) (string, bool) {
		t, ok := byKey[pub]
		return t, ok
	}}
	return k
}

func startServer(tb testing.TB, dir string, auth *bus.Auth) *bus.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: dir, Logger: bustest.Logger(tb), Auth: auth})
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	return s
}

func connOpts(name string, noReconnect bool, kp nkeys.KeyPair) []nats.Option {
	opts := []nats.Option{nats.Name(name)}
	if kp != nil {
		nk, err := bus.NkeyOption(kp)
		if err != nil {
			panic(err)
		}
		opts = append(opts, nk)
		if name != "master" {
			opts = append(opts, nats.CustomInboxPrefix(bus.InboxPrefix(name)))
		}
	}
	if noReconnect {
		opts = append(opts, nats.NoReconnect())
	} else {
		opts = append(opts, nats.MaxReconnects(-1))
	}
	return opts
}

func dial(tb testing.TB, url, name string, noReconnect bool, kp nkeys.KeyPair) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url, connOpts(name, noReconnect, kp)...)
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// parallel runs fn(0..n-1) on up to workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fsType names the file system holding dir, so the output shows the store was not on tmpfs.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown file system: " + err.Error()
	}
	switch st.Type {
	case 0xEF53:
		return "ext4 (ext2/3/4) " + dir
	case 0x01021994:
		return "tmpfs " + dir
	case 0x58465342:
		return "xfs " + dir
	case 0x794c7630:
		return "overlayfs " + dir
	}
	return fmt.Sprintf("file system 0x%x %s", st.Type, dir)
}

// TestOrderedConsumerResumesAfterSequence checks the properties msx relies on when a target
// reads its instructions: only its own, in stream order, from the sequence it asks for, with
// no duplicates across a restart; and that the durable alternative (MaxAckPending 1) is
// strictly ordered too, even when an instruction is refused and redelivered.
func TestOrderedConsumerResumesAfterSequence(t *testing.T) {
	s := bustest.RunServer(t, "")
	_, js := bustest.Connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := (bus.Layout{}).Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	const a, b = "SQLA", "SQLB"
	var seqA, seqB []uint64 // stream sequences of each target's instructions, in posting order
	n := 0
	post := func(t testing.TB, tgt string) {
		t.Helper()
		n++
		ack, err := js.Publish(ctx, bus.InstrSubject(tgt), fmt.Appendf(nil, "%s-%d", tgt, n),
			jetstream.WithMsgID(fmt.Sprintf("%s-%d", tgt, n)))
		if err != nil {
			t.Fatal(err)
		}
		if tgt == a {
			seqA = append(seqA, ack.Sequence)
		} else {
			seqB = append(seqB, ack.Sequence)
		}
	}
	// Interleaved, not strictly alternating.
	for i := range 12 {
		post(t, a)
		post(t, b)
		if i%3 == 0 {
			post(t, b)
		}
	}

	from := func(seqs []uint64, start uint64) []uint64 {
		var out []uint64
		for _, q := range seqs {
			if q >= start {
				out = append(out, q)
			}
		}
		return out
	}

	for _, tc := range []struct {
		name  string
		start func() uint64
	}{
		{"from the first", func() uint64 { return 1 }},
		{"at one of A's", func() uint64 { return seqA[4] }},
		{"at one of B's", func() uint64 { return seqB[5] }},
		{"past the end", func() uint64 { return max(seqA[len(seqA)-1], seqB[len(seqB)-1]) + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := tc.start()
			c := consumeOrdered(t, js, a, start)
			want := from(seqA, start)
			got := c.take(t, len(want))
			if !slices.Equal(got, want) {
				t.Fatalf("start %d: got sequences %v, want A's %v", start, got, want)
			}
			c.expectOnlyNext(t, post, a, b, &seqA)
		})
	}

	t.Run("restart from last+1 has no duplicates", func(t *testing.T) {
		c := consumeOrdered(t, js, a, 1)
		first := c.take(t, 5)
		last := first[len(first)-1] // what the target recorded as applied
		c.cc.Stop()
		for range 3 { // posted while the target was away
			post(t, b)
			post(t, a)
		}
		c2 := consumeOrdered(t, js, a, last+1)
		rest := c2.take(t, len(from(seqA, last+1)))
		all := append(slices.Clone(first), rest...)
		if !slices.Equal(all, seqA) {
			t.Fatalf("before restart %v + after restart %v, want every A instruction once, in order: %v", first, rest, seqA)
		}
		c2.expectOnlyNext(t, post, a, b, &seqA)
	})

	t.Run("durable with MaxAckPending 1 delivers in order", func(t *testing.T) {
		cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{
			Durable: durableName(a), FilterSubject: bus.InstrSubject(a), AckPolicy: jetstream.AckExplicitPolicy,
			MaxAckPending: 1, DeliverPolicy: jetstream.DeliverAllPolicy, Replicas: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		// With one instruction unacked, asking for two gives one.
		batch, err := cons.Fetch(2, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) != 1 || seqOf(t, msgs[0]) != seqA[0] {
			t.Fatalf("first fetch of 2 with MaxAckPending 1: %d messages (%v), want only sequence %d", len(msgs), seqsOf(t, msgs), seqA[0])
		}
		// A refused instruction comes back before any later one.
		if err := msgs[0].Nak(); err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for len(got) < len(seqA) {
			m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if m.Subject() != bus.InstrSubject(a) {
				t.Fatalf("durable for %s delivered %s", a, m.Subject())
			}
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && md.NumDelivered != 2 {
				t.Fatalf("first delivery after Nak: sequence %d delivered %d times, want the refused one again (2)", md.Sequence.Stream, md.NumDelivered)
			}
			got = append(got, md.Sequence.Stream)
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(got, seqA) {
			t.Fatalf("durable delivered %v, want %v", got, seqA)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.AckFloor.Stream != seqA[len(seqA)-1] {
			t.Fatalf("durable after all acks: pending %d, ack pending %d, ack floor %d; want 0, 0, %d",
				info.NumPending, info.NumAckPending, info.AckFloor.Stream, seqA[len(seqA)-1])
		}
	})
}

// orderedReader is a test target reading through an ordered consumer.
type orderedReader struct {
	tgt  string
	cc   jetstream.ConsumeContext
	msgs chan jetstream.Msg
}

func consumeOrdered(t *testing.T, js jetstream.JetStream, tgt string, start uint64) *orderedReader {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), bus.StreamInstr, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.InstrSubject(tgt)}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &orderedReader{tgt: tgt, msgs: make(chan jetstream.Msg, 1000)}
	r.cc, err = cons.Consume(func(m jetstream.Msg) { r.msgs <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.cc.Stop)
	return r
}

// take returns the stream sequences of the next n messages, failing on any that is not for
// the reader's own subject.
func (r *orderedReader) take(t *testing.T, n int) []uint64 {
	t.Helper()
	var got []uint64
	for len(got) < n {
		select {
		case m := <-r.msgs:
			if !strings.HasPrefix(string(m.Data()), r.tgt+"-") || m.Subject() != bus.InstrSubject(r.tgt) {
				t.Fatalf("after %v: received %s %q, not one of %s's", got, m.Subject(), m.Data(), r.tgt)
			}
			got = append(got, seqOf(t, m))
		case <-time.After(10 * time.Second):
			t.Fatalf("received %v, want %d messages", got, n)
		}
	}
	return got
}

// expectOnlyNext posts one instruction for the other target and one for the reader's, and
// checks that the reader's is the very next message: nothing was left over or skipped.
func (r *orderedReader) expectOnlyNext(t *testing.T, post func(testing.TB, string), mine, other string, mySeqs *[]uint64) {
	t.Helper()
	post(t, other)
	post(t, mine)
	want := (*mySeqs)[len(*mySeqs)-1]
	if got := r.take(t, 1); got[0] != want {
		t.Fatalf("next message is sequence %d, want the marker %d", got[0], want)
	}
}

func seqOf(t *testing.T, m jetstream.Msg) uint64 {
	t.Helper()
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Sequence.Stream
}

func seqsOf(t *testing.T, msgs []jetstream.Msg) []uint64 {
	t.Helper()
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = seqOf(t, m)
	}
	return out
}
