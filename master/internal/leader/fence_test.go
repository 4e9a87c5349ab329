package leader_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus/bustest"
	"github.com/msx-project/msx/master/internal/leader"
)

// A deposed leader's writes are refused once the new leader has raised its fence, on a single
// node and on a replicated stream of a three-node cluster.
func TestFenceRefusesDeposedLeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		url      func(t *testing.T) string
	}{
		{"single node R1", 1, func(t *testing.T) string { return bustest.RunServer(t, "").ClientURL() }},
		{"cluster R3", 3, func(t *testing.T) string { return bustest.RunCluster(t).URL() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			_, jsOld := bustest.Connect(t, url)
			_, jsNew := bustest.Connect(t, url)
			if _, err := jsOld.CreateStream(t.Context(), jetstream.StreamConfig{Name: "FENCED", Subjects: []string{"f.>"}, Replicas: tc.replicas}); err != nil {
				t.Fatal(err)
			}
			old, next := leader.NewFence(jsOld, "f.~term"), leader.NewFence(jsNew, "f.~term")
			write := func(f *leader.Fence, js jetstream.JetStream, i int) error {
				_, err := js.PublishMsg(t.Context(), f.Msg("f.data", fmt.Appendf(nil, "%d", i)))
				return err
			}
			if err := write(old, jsOld, 0); err != nil {
				t.Fatalf("write before any fence was raised: %v", err)
			}
			if err := old.Raise(t.Context(), 1, "OLD"); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := write(old, jsOld, i); err != nil {
					t.Fatalf("leader of term 1 write %d: %v", i, err)
				}
			}
			if err := write(next, jsNew, 9); !leader.Fenced(err) {
				t.Fatalf("write of a master that never raised the fence: err %v, want fenced", err)
			}
			if err := next.Raise(t.Context(), 2, "NEW"); err != nil {
				t.Fatal(err)
			}
			if err := write(old, jsOld, 10); !leader.Fenced(err) {
				t.Fatalf("deposed leader's write: err %v, want fenced", err)
			}
			if err := write(next, jsNew, 11); err != nil {
				t.Fatalf("new leader's write: %v", err)
			}
			info, err := jsNew.Stream(t.Context(), "FENCED")
			if err != nil {
				t.Fatal(err)
			}
			if st := info.CachedInfo().State; st.Msgs != 7 { // 5 writes + 2 markers
				t.Fatalf("stream holds %d messages, want 7", st.Msgs)
			}
		})
	}
}
