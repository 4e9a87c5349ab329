package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

// BenchmarkAuthConnect measures what authentication costs a fleet: n targets, each with its own
// nkey, connect to a server with bus.Auth and make one enlist request that the master answers
// (the reply crosses back through the target's account). With per-target accounts the first
// connection of each key creates its account and imports; connect-ms includes that, reconnect-ms
// is a second round on the same server (accounts exist). heap-MiB is the process heap with every
// target connected (server and clients share the process; the clients' part is the same in any
// design). Run it on an older commit for the single-account figure.
func BenchmarkAuthConnect(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) { benchAuthConnect(b, n) })
	}
}

func benchAuthConnect(b *testing.B, n int) {
	master, _ := nkeys.CreateUser()
	mpub, _ := master.PublicKey()
	keys := make([]nkeys.KeyPair, n)
	byKey := map[string]string{}
	for i := range keys {
		keys[i], _ = nkeys.CreateUser()
		pub, _ := keys[i].PublicKey()
		byKey[pub] = fmt.Sprintf("SQL%04d", i)
	}
	var connect, reconnect time.Duration
	var heap float64
	for b.Loop() {
		b.StopTimer()
		auth := &bus.Auth{MasterKey: mpub, Lookup: func(pub string) (string, bool) { t, ok := byKey[pub]; return t, ok }}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		srv, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: b.TempDir(), Logger: bustest.Logger(b), Auth: auth})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		mnc, err := nats.Connect(srv.ClientURL(), must(bus.NkeyOption(master)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mnc.Subscribe(bus.SubjectEnlist, func(m *nats.Msg) { _ = m.Respond([]byte(`{"type":"msx.enlist.reply.v1"}`)) }); err != nil {
			b.Fatal(err)
		}
		_ = mnc.Flush()
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		t0 := time.Now()
		conns := connectFleet(b, srv.ClientURL(), keys, byKey)
		connect += time.Since(t0)

		b.StopTimer()
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		closeAll(conns)
		b.StartTimer()

		t0 = time.Now()
		conns = connectFleet(b, srv.ClientURL(), keys, byKey)
		reconnect += time.Since(t0)

		b.StopTimer()
		closeAll(conns)
		mnc.Close()
		srv.Shutdown()
		b.StartTimer()
	}
	rounds := float64(b.N)
	b.ReportMetric(ms(connect)/rounds, "connect-ms")
	b.ReportMetric(ms(reconnect)/rounds, "reconnect-ms")
	b.ReportMetric(heap/rounds, "heap-MiB")
}

// connectFleet connects every key and makes one enlist request on each connection.
func connectFleet(b *testing.B, url string, keys []nkeys.KeyPair, byKey map[string]string) []*nats.Conn {
	conns := make([]*nats.Conn, len(keys))
	err := parallel(len(keys), 16, func(i int) error {
		pub, _ := keys[i].PublicKey()
		nc, err := nats.Connect(url, must(bus.NkeyOption(keys[i])), nats.CustomInboxPrefix(bus.InboxPrefix(byKey[pub])))
		if err != nil {
			return err
		}
		conns[i] = nc
		_, err = nc.Request(bus.SubjectEnlist, []byte(`{}`), 30*time.Second)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return conns
}

func closeAll(conns []*nats.Conn) {
	for _, nc := range conns {
		if nc != nil {
			nc.Close()
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
