package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// At most Config.Dials connections are opened at once: a further dial waits for a slot, and
// gets it when one is given back (a slot given back twice frees one slot, not two).
func TestDialSlotsBoundConcurrentDials(t *testing.T) {
	e := &env{dials: make(chan struct{}, 2)}
	r1, err := e.dialSlot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.dialSlot(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := e.dialSlot(t.Context())
		if err != nil {
			t.Error(err)
			return
		}
		got <- r
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.dialSlot(ctx); err == nil {
		t.Fatal("a third dial got a slot with 2 slots taken")
	}
	r1()
	r1() // once only
	r3 := <-got
	if n := len(e.dials); n != 2 {
		t.Fatalf("%d slots taken after one was given back twice and taken again; want 2", n)
	}
	r3()
	if n := len(e.dials); n != 1 {
		t.Fatalf("%d slots taken; want 1", n)
	}
}

// The failover phase on three masters reports one takeover per round, with its ratio to the
// lease TTL.
func TestFailoverPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	var progress bytes.Buffer
	cfg := Config{Targets: 1, Masters: 3, Rounds: 2, Dir: t.TempDir(), PhaseTimeout: 2 * time.Minute, Progress: &progress}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	f, err := failover(t.Context(), cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if f.Takeover.N != 2 || f.Rounds != 2 {
		t.Fatalf("takeovers %d, rounds %d; want 2", f.Takeover.N, f.Rounds)
	}
	if f.Takeover.P50MS <= 0 || f.LeaseTTLMS <= 0 || f.VsTTL.P50 != round3(f.Takeover.P50MS/f.LeaseTTLMS) {
		t.Fatalf("takeover p50 %.0f ms, lease TTL %.0f ms, ratio %v: not measured", f.Takeover.P50MS, f.LeaseTTLMS, f.VsTTL.P50)
	}
	if !strings.Contains(progress.String(), "failover round 2 of 2") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var out bytes.Buffer
	if err := (&Report{Failover: f}).WriteTable(&out); err != nil || !strings.Contains(out.String(), "takeover p50") {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}

// Bad values of Masters and Dials are refused with the flag named.
func TestConfigRefusesBadMastersAndDials(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Masters: 2}, "--masters 2"},
		{Config{Masters: 8}, "--masters 8"},
		{Config{Dials: -1}, "--dials -1"},
	} {
		if err := c.cfg.defaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error naming %s", c.cfg, err, c.want)
		}
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A fleet larger than the open-file limit allows is refused before it starts, with the limit
// and the largest fleet that fits (targets otherwise fail one by one with SQLite's "unable to
// open database file").
func TestConfigRefusesAFleetOverTheFileLimit(t *testing.T) {
	lim, ok := fdLimit()
	if !ok {
		t.Skip("no open-file limit on this platform")
	}
	n := (lim-filesBase)/filesPerTarget + 1
	if n > 10000 {
		t.Skipf("the limit (%d files) fits every fleet msx bench runs", lim)
	}
	err := (&Config{Targets: n}).defaults()
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") || !strings.Contains(err.Error(), fmt.Sprintf("run at most %d targets", n-1)) {
		t.Fatalf("--targets %d with a limit of %d files: %v", n, lim, err)
	}
	if err := (&Config{Targets: n - 1}).defaults(); err != nil {
		t.Fatalf("--targets %d: %v", n-1, err)
	}
}
