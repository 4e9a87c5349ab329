package bus_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
)

// TestShippedAccountConfig loads deploy/nats/permissions.conf, with its placeholders filled in,
// into an embedded server and checks that the master, a target and an anonymous client can do
// their work there, and that an anonymous reply subject cannot reach a stream.
func TestShippedAccountConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "permissions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	mkp, _ := nkeys.CreateUser()
	tkp, _ := nkeys.CreateUser()
	skp, _ := nkeys.CreateUser()
	mpub, _ := mkp.PublicKey()
	tpub, _ := tkp.PublicKey()
	spub, _ := skp.PublicKey()
	// The site user is proved with a leaf node by the faults suite (TestRemoteSiteThroughLeafNode).
	conf := strings.NewReplacer("UMASTERPUBLICKEY", mpub, "UTARGETSQL01PUBLICKEY", tpub, "USITELONPUBLICKEY", spub).Replace(string(b))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "permissions.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	main := "listen: 127.0.0.1:-1\njetstream { store_dir: " + `"` + filepath.Join(dir, "js") + `"` + " }\ninclude ./permissions.conf\n"
	if err := os.WriteFile(filepath.Join(dir, "main.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatalf("shipped config does not load: %v", err)
	}
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	connect := func(kp nkeys.KeyPair, inbox string) *nats.Conn {
		t.Helper()
		o := []nats.Option{nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
		if kp != nil {
			nk, _ := bus.NkeyOption(kp)
			o = append(o, nk)
		}
		if inbox != "" {
			o = append(o, nats.CustomInboxPrefix(inbox))
		}
		nc, err := nats.Connect(s.ClientURL(), o...)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	ctx := t.Context()
	mnc := connect(mkp, "")
	mjs, _ := jetstream.New(mnc)
	if err := (bus.Layout{}).Ensure(ctx, mjs); err != nil {
		t.Fatal(err)
	}
	if _, err := mjs.Publish(ctx, bus.InstrSubject("SQL01"), []byte("for SQL01")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := bus.InstrConsumerConfig("SQL01", 1)
	if _, err := mjs.CreateConsumer(ctx, bus.StreamInstr, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := mnc.Subscribe(bus.SubjectEnlist, func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":true}`)) }); err != nil {
		t.Fatal(err)
	}
	_ = mnc.Flush()

	tnc := connect(tkp, bus.InboxPrefix("SQL01"))
	tjs, _ := jetstream.New(tnc)
	if _, err := tjs.Publish(ctx, bus.StatusSubject("SQL01"), []byte("{}")); err != nil {
		t.Fatalf("target publishes its status: %v", err)
	}
	cons, err := tjs.Consumer(ctx, bus.StreamInstr, bus.InstrConsumerName("SQL01"))
	if err != nil {
		t.Fatalf("target binds its consumer: %v", err)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || string(m.Data()) != "for SQL01" {
		t.Fatalf("target reads its instruction: %v", err)
	}

	anon := connect(nil, bus.EnlistInboxPrefix)
	if _, err := anon.Request(bus.SubjectEnlist, []byte("{}"), 5*time.Second); err != nil {
		t.Fatalf("anonymous enlist: %v", err)
	}
	if err := anon.PublishRequest(bus.SubjectEnlist, bus.InstrSubject("SQL01"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Request(bus.SubjectEnlist, []byte("{}"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := mjs.Stream(ctx, bus.StreamInstr)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("MSX_INSTR holds %d messages after an anonymous reply pointed at it, want 1", n)
	}
}
