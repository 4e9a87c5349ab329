package target

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/store"
)

// reopenInterval is how often a degraded agent tries to open its local database again.
const reopenInterval = 2 * time.Second

// openStore opens the local database. When the data directory refuses it (a full disk), the
// agent runs degraded until it can: see degraded.
func (a *Agent) openStore(ctx context.Context) (*store.Store, error) {
	path := filepath.Join(a.cfg.DataDir, "target.db")
	st, err := store.Open(ctx, path)
	if err == nil || !store.Refused(err) {
		return st, err
	}
	return a.degraded(ctx, path, err)
}

// degraded runs the agent while its local database cannot be opened for writing: it explains
// what is wrong and how to fix it, and, when it is enlisted (its identity is read from the
// database, read-only), heartbeats with disk state "full", sends what its outbox holds and an
// event, but applies no instruction and runs no job. It tries to open the database every
// reopenInterval and returns it when it can, having stopped everything it started; it returns
// ctx's error when ctx ends first.
func (a *Agent) degraded(ctx context.Context, path string, cause error) (*store.Store, error) {
	a.log.Error("the local database cannot be opened: its data directory refuses writes (disk full?). The agent runs degraded: "+
		"it sends heartbeats (disk state \"full\") but applies no instruction and runs no job until it can. "+
		"Free space on the data directory's file system (df -h); the agent resumes by itself.",
		"dir", a.cfg.DataDir, "database", path, "err", cause)
	a.spool.refused(cause)
	stop := a.degradedLoops(ctx, path, cause)
	defer stop()
	t := time.NewTicker(reopenInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		st, err := store.Open(ctx, path)
		if err == nil {
			a.log.Info("local database opened: the data directory takes writes again; leaving degraded mode", "dir", a.cfg.DataDir)
			return st, nil
		}
		if !store.Refused(err) {
			return nil, err
		}
		a.log.Debug("local database still refused", "err", err)
	}
}

// degradedLoops starts the heartbeat and outbox loops on the read-only database, when the
// target is enlisted and the bus answers, and returns what stops them.
func (a *Agent) degradedLoops(ctx context.Context, path string, cause error) (stop func()) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		a.log.Error("no local database yet (a new target cannot enlist on a full disk): waiting for space", "dir", a.cfg.DataDir)
		return func() {}
	}
	ro, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		a.log.Error("local database unreadable: no heartbeat until the disk has space", "err", err)
		return func() {}
	}
	id, err := ro.Identity(ctx)
	if err != nil {
		if !errors.Is(err, store.ErrNotEnlisted) {
			a.log.Error("identity unreadable: no heartbeat until the disk has space", "err", err)
		}
		ro.Close()
		return func() {}
	}
	kp, err := nkeys.FromSeed([]byte(id.Seed))
	if err != nil {
		ro.Close()
		return func() {}
	}
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer ro.Close()
		nc, err := a.connect(lctx, bus.InboxPrefix(id.Token), kp)
		if err != nil {
			a.log.Error("degraded: bus not reachable", "err", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		a.mu.Lock()
		a.store, a.id, a.nc, a.js = ro, id, nc, js
		a.pollSecs = id.PollInterval
		a.interval = a.heartbeatInterval()
		a.mu.Unlock()
		if err := a.loadHeld(lctx, false); err != nil { // the heartbeat's job digest
			a.log.Error("degraded: jobs held unreadable", "err", err)
		}
		ev := schemas.Event{ID: fmt.Sprintf("disk-full-%d", time.Now().UnixNano()), Severity: schemas.SeverityError, Source: "agent",
			Message: fmt.Sprintf("SQLServerAgent Error: disk full on %s: the agent cannot open its local database in %s (%v) and runs degraded: "+
				"no instruction is applied and no job runs until the disk has space.", id.ServerName, a.cfg.DataDir, cause)}
		a.spool.add(store.Write{Msgs: []store.OutMsg{eventMsg(id.ServerName, id.Token, ev)}})
		var loops sync.WaitGroup
		loops.Go(func() { _ = a.heartbeats(lctx) })
		loops.Go(func() { _ = a.flushOutbox(lctx) })
		loops.Wait()
	})
	return func() {
		cancel()
		wg.Wait()
		a.mu.Lock()
		a.store, a.nc, a.js = nil, nil, nil
		a.mu.Unlock()
	}
}
