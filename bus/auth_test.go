package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/bus/bustest"
)

type authFixture struct {
	mu      sync.Mutex
	url     string
	auth    *bus.Auth
	master  nkeys.KeyPair
	keys    map[string]nkeys.KeyPair // token -> key
	masterJ jetstream.JetStream
	srv     *bus.Server
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{keys: map[string]nkeys.KeyPair{}}
	f.master, _ = nkeys.CreateUser()
	mpub, _ := f.master.PublicKey()
	for _, tok := range []string{"SQL01", "SQL02"} {
		f.keys[tok], _ = nkeys.CreateUser()
	}
	f.auth = &bus.Auth{MasterKey: mpub, Logger: bustest.Logger(t), Lookup: func(pub string) (string, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for tok, kp := range f.keys {
			if p, _ := kp.PublicKey(); p == pub {
				return tok, true
			}
		}
		return "", false
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := bus.StartServer(ctx, bus.ServerConfig{StoreDir: t.TempDir(), Logger: bustest.Logger(t), Auth: f.auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	f.url, f.srv = s.ClientURL(), s
	nc := f.connect(t, f.master, "")
	f.masterJ, _ = jetstream.New(nc)
	if err := (bus.Layout{}).Ensure(ctx, f.masterJ); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *authFixture) connect(t *testing.T, kp nkeys.KeyPair, inbox string) *nats.Conn {
	t.Helper()
	var opts []nats.Option
	if kp != nil {
		o, err := bus.NkeyOption(kp)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, o)
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	opts = append(opts, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	nc, err := nats.Connect(f.url, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// refused reports whether op failed; permission violations reach the caller as timeouts or
// permission errors.
func refused(t *testing.T, op func(ctx context.Context) error) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	return op(ctx) != nil
}

func TestTargetPermissions(t *testing.T) {
	f := newAuthFixture(t)
	// SQL02 has an instruction waiting.
	if _, err := f.masterJ.Publish(t.Context(), bus.InstrSubject("SQL02"), []byte("for SQL02")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.masterJ.Publish(t.Context(), bus.InstrSubject("SQL01"), []byte("for SQL01")); err != nil {
		t.Fatal(err)
	}
	nc := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
	js, _ := jetstream.New(nc)

	// What SQL01 may do.
	t.Run("reads its own instructions", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		// The master makes the consumer; the target pulls from it.
		if _, err := f.masterJ.CreateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{Name: bus.InstrConsumerName("SQL01"),
			FilterSubject: bus.InstrSubject("SQL01"), AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute}); err != nil {
			t.Fatal(err)
		}
		cons, err := js.Consumer(ctx, bus.StreamInstr, bus.InstrConsumerName("SQL01"))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(3 * time.Second))
		if err != nil || string(msg.Data()) != "for SQL01" {
			t.Fatalf("own instruction: %v", err)
		}
		// Idle heartbeats cross the import too: a pull that waits through several of them and
		// past its expiry still gets the next instruction, with no missed heartbeat reported.
		it, err := cons.Messages(jetstream.PullHeartbeat(500*time.Millisecond), jetstream.PullExpiry(2*time.Second),
			jetstream.WithMessagesErrOnMissingHeartbeat(true))
		if err != nil {
			t.Fatal(err)
		}
		defer it.Stop()
		time.AfterFunc(3*time.Second, func() { // publish after the first pull expired
			_, _ = f.masterJ.Publish(context.Background(), bus.InstrSubject("SQL01"), []byte("second"))
		})
		msg, err = it.Next()
		if err != nil || string(msg.Data()) != "second" {
			t.Fatalf("own instruction through Messages: %v", err)
		}
	})
	t.Run("publishes its own status", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, bus.StatusSubject("SQL01"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	})

	// What it may not do: each refused by the server.
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"read another target's instructions", func(ctx context.Context) error {
			cons, err := js.OrderedConsumer(ctx, bus.StreamInstr, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.InstrSubject("SQL02")}})
			if err != nil {
				return err
			}
			_, err = cons.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
			return err
		}},
		{"create a consumer on another target's subject", func(ctx context.Context) error {
			_, err := js.CreateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{Name: "steal", FilterSubject: bus.InstrSubject("SQL02")})
			return err
		}},
		{"create a consumer on its own subject", func(ctx context.Context) error {
			_, err := js.CreateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{Name: "mine", FilterSubject: bus.InstrSubject("SQL01")})
			return err
		}},
		{"create an unfiltered consumer", func(ctx context.Context) error {
			_, err := js.CreateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{Name: "all"})
			return err
		}},
		{"bind another target's durable consumer", func(ctx context.Context) error {
			if _, err := f.masterJ.CreateConsumer(ctx, bus.StreamInstr, jetstream.ConsumerConfig{Durable: "SQL02", FilterSubject: bus.InstrSubject("SQL02")}); err != nil {
				t.Fatal(err)
			}
			_, err := js.Consumer(ctx, bus.StreamInstr, "SQL02")
			return err
		}},
		{"pull, read or delete another target's consumer by name", func(ctx context.Context) error {
			cfg, _ := bus.InstrConsumerConfig("SQL02", 1)
			if _, err := f.masterJ.CreateOrUpdateConsumer(ctx, bus.StreamInstr, cfg); err != nil {
				t.Fatal(err)
			}
			name := bus.InstrConsumerName("SQL02")
			for _, op := range []func(context.Context) error{
				func(ctx context.Context) error {
					_, err := nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+bus.StreamInstr+"."+name, []byte(`{"batch":1}`))
					return err
				},
				func(ctx context.Context) error { _, err := js.Consumer(ctx, bus.StreamInstr, name); return err },
				func(ctx context.Context) error { return js.DeleteConsumer(ctx, bus.StreamInstr, name) },
			} {
				if !refused(t, op) {
					return nil
				}
			}
			if _, err := f.masterJ.Consumer(t.Context(), bus.StreamInstr, name); err != nil {
				t.Fatalf("SQL02's consumer is gone: %v", err)
			}
			return errors.New("all refused")
		}},
		{"ask for another target's consumer", func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, bus.ConsumerSubject("SQL02"), []byte(`{}`))
			return err
		}},
		{"read stream info", func(ctx context.Context) error {
			_, err := js.Stream(ctx, bus.StreamInstr)
			return err
		}},
		{"list streams", func(ctx context.Context) error {
			l := js.ListStreams(ctx)
			for range l.Info() {
			}
			return l.Err()
		}},
		{"publish another target's status", func(ctx context.Context) error {
			_, err := js.Publish(ctx, bus.StatusSubject("SQL02"), []byte("{}"))
			return err
		}},
		{"publish another target's results", func(ctx context.Context) error {
			_, err := js.Publish(ctx, bus.ResultSubject("SQL02", "job"), []byte("{}"))
			return err
		}},
		{"post an instruction", func(ctx context.Context) error {
			_, err := js.Publish(ctx, bus.InstrSubject("SQL01"), []byte("self-made"))
			return err
		}},
		{"subscribe to another target's inbox", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "subscribe to another target's inbox" {
				var errc = make(chan error, 1)
				nc2 := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
				nc2.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errc <- err })
				if _, err := nc2.SubscribeSync(bus.InboxPrefix("SQL02") + ".>"); err != nil {
					return
				}
				select {
				case err := <-errc:
					if !errors.Is(err, nats.ErrPermissionViolation) {
						t.Fatalf("unexpected error %v", err)
					}
				case <-time.After(3 * time.Second):
					t.Fatal("subscription to another target's inbox was not refused")
				}
				return
			}
			if !refused(t, tc.op) {
				t.Fatal("allowed")
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	f := newAuthFixture(t)
	t.Run("no credentials may only enlist", func(t *testing.T) {
		nc := f.connect(t, nil, bus.EnlistInboxPrefix)
		js, _ := jetstream.New(nc)
		if !refused(t, func(ctx context.Context) error {
			_, err := js.Publish(ctx, bus.StatusSubject("SQL01"), []byte("{}"))
			return err
		}) {
			t.Fatal("anonymous client published a status")
		}
		mc := f.connect(t, f.master, "")
		sub, err := mc.SubscribeSync(bus.SubjectEnlist)
		if err != nil {
			t.Fatal(err)
		}
		if err := mc.Flush(); err != nil {
			t.Fatal(err)
		}
		go func() {
			if m, err := sub.NextMsg(5 * time.Second); err == nil {
				_ = m.Respond([]byte("ok"))
			}
		}()
		if _, err := nc.Request(bus.SubjectEnlist, []byte("hello"), 5*time.Second); err != nil {
			t.Fatalf("anonymous enlist request: %v", err)
		}
	})
	t.Run("unknown key refused", func(t *testing.T) {
		kp, _ := nkeys.CreateUser()
		o, _ := bus.NkeyOption(kp)
		if _, err := nats.Connect(f.url, o); err == nil {
			t.Fatal("connected with an unregistered key")
		}
	})
	t.Run("revoked key is disconnected and refused", func(t *testing.T) {
		kp := f.keys["SQL02"]
		nc := f.connect(t, kp, bus.InboxPrefix("SQL02"))
		nc.SetReconnectHandler(nil)
		pub, _ := kp.PublicKey()
		f.mu.Lock()
		delete(f.keys, "SQL02")
		f.mu.Unlock()
		f.auth.Revoke(pub)
		deadline := time.Now().Add(5 * time.Second)
		for nc.IsConnected() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if nc.IsConnected() {
			t.Fatal("revoked target still connected")
		}
		o, _ := bus.NkeyOption(kp)
		if _, err := nats.Connect(f.url, o); err == nil {
			t.Fatal("revoked key connected again")
		}
	})
}

// TestAuthCannotPanic: whatever Lookup returns or does, the connection is refused with a reason
// and the server goes on (a panic in the callback would end the process that embeds it).
func TestAuthCannotPanic(t *testing.T) {
	f := newAuthFixture(t)
	bad, _ := nkeys.CreateUser()
	badPub, _ := bad.PublicKey()
	boom, _ := nkeys.CreateUser()
	boomPub, _ := boom.PublicKey()
	lookup := f.auth.Lookup
	f.auth.Lookup = func(pub string) (string, bool) {
		switch pub {
		case badPub:
			return "", true // a registry record without a token
		case boomPub:
			panic("registry is broken")
		}
		return lookup(pub)
	}
	for _, tc := range []struct {
		name string
		kp   nkeys.KeyPair
	}{
		{"empty token", bad},
		{"panicking lookup", boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := bus.NkeyOption(tc.kp)
			if nc, err := nats.Connect(f.url, o); err == nil {
				nc.Close()
				t.Fatal("connected")
			}
		})
	}
	for _, tok := range []string{"", "A.B", "A*", ">", "A B"} {
		if _, err := bus.TargetPermissions(tok); !errors.Is(err, bus.ErrInvalidToken) {
			t.Errorf("TargetPermissions(%q): %v, want ErrInvalidToken", tok, err)
		}
	}
	// The server is alive: a registered target still connects.
	nc := f.connect(t, f.keys["SQL01"], bus.InboxPrefix("SQL01"))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
