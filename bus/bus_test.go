package bus_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

func TestCheckToken(t *testing.T) {
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{"SQL01", true},
		{"SQL01~INST1", true},
		{"HOST$A", true},
		{"", false},
		{"a.b", false},
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{`A\B`, false},
		{"a\tb", false},
	} {
		t.Run(tc.tok, func(t *testing.T) {
			err := bus.CheckToken(tc.tok)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckToken(%q) = %v, want ok=%v", tc.tok, err, tc.ok)
			}
			if err != nil && !errors.Is(err, bus.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"instr", bus.InstrSubject("SQL01"), "msx.instr.SQL01"},
		{"applied", bus.AppliedSubject("SQL01"), "msx.applied.SQL01"},
		{"status", bus.StatusSubject("H~I"), "msx.status.H~I"},
		{"result", bus.ResultSubject("SQL01", "job1"), "msx.result.SQL01.job1"},
		{"event", bus.EventSubject("SQL01", "16"), "msx.event.SQL01.16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
			tgt, err := bus.TargetFromSubject(tc.got)
			if err != nil || (tgt != "SQL01" && tgt != "H~I") {
				t.Fatalf("TargetFromSubject(%q) = %q, %v", tc.got, tgt, err)
			}
		})
	}
	for _, bad := range []string{"foo.bar", "msx.status", "other.status.X"} {
		if _, err := bus.TargetFromSubject(bad); err == nil {
			t.Errorf("TargetFromSubject(%q) succeeded", bad)
		}
	}
}

func TestLockDirRefusesSecondHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := bus.LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.LockDir(dir); !errors.Is(err, bus.ErrDirLocked) {
		t.Fatalf("second LockDir: %v, want ErrDirLocked", err)
	}
	unlock()
	unlock2, err := bus.LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after unlock: %v", err)
	}
	unlock2()
}

func TestSecondServerOnSameStoreRefused(t *testing.T) {
	dir := t.TempDir()
	bustest.RunServer(t, dir)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: dir, Logger: bustest.Logger(t)})
	if !errors.Is(err, bus.ErrDirLocked) {
		t.Fatalf("second server on the same store: %v, want ErrDirLocked", err)
	}
}

func TestLayoutEnsureIsIdempotent(t *testing.T) {
	s := bustest.RunServer(t, "")
	_, js := bustest.Connect(t, s.ClientURL())
	for range 2 {
		if err := (bus.Layout{}).Ensure(t.Context(), js); err != nil {
			t.Fatal(err)
		}
	}
	info, err := js.Stream(t.Context(), bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.Retention != jetstream.LimitsPolicy || cfg.MaxConsumers < 5000 {
		t.Fatalf("MSX_INSTR retention %v max consumers %d: want limits and >= 5000", cfg.Retention, cfg.MaxConsumers)
	}
	st, err := js.Stream(t.Context(), bus.StreamStatus)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxMsgsPerSubject != 1 || !c.AllowMsgTTL {
		t.Fatalf("MSX_STATUS: MaxMsgsPerSubject %d AllowMsgTTL %v", c.MaxMsgsPerSubject, c.AllowMsgTTL)
	}
}

func TestClusterReplicatedLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	c := bustest.RunCluster(t)
	_, js := bustest.Connect(t, c.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := (bus.Layout{Replicas: 3}).Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.Replicas; got != 3 {
		t.Fatalf("replicas %d, want 3", got)
	}
}

// TestConnectRetriesSlowServer: a server that accepts the TCP connection but does not answer in
// time (a loaded server among thousands of dialling targets) is tried again until ctx ends,
// instead of failing the first dial for good.
func TestConnectRetriesSlowServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			t.Cleanup(func() { c.Close() }) // silent: never sends INFO
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err = bus.Connect(ctx, bus.ConnConfig{URL: "nats://" + ln.Addr().String(), Logger: bustest.Logger(t),
		Options: []nats.Option{nats.Timeout(200 * time.Millisecond)}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a silent server = %v, want it retried until the context ends", err)
	}
	if n := accepted.Load(); n < 2 {
		t.Errorf("%d dials, want the handshake timeout retried", n)
	}
}
