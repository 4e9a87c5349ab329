package store

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPruneOutbox(t *testing.T) {
	// Each payload is 10 bytes: the queue below holds 90.
	queue := []string{"run-a-started", "event-1", "run-b-started", "applied-1", "run-a-finished", "event-2", "run-c-started", "event-3", "run-c-finished"}
	cases := []struct {
		name  string
		limit int64
		kept  []string
		want  OutboxDropped
	}{
		{"under_the_limit", 90, queue, OutboxDropped{}},
		{"superseded_starts_first", 80, []string{"event-1", "run-b-started", "applied-1", "run-a-finished", "event-2", "event-3", "run-c-finished"},
			OutboxDropped{Started: 2, Bytes: 20}},
		{"then_oldest_events", 50, []string{"run-b-started", "applied-1", "run-a-finished", "event-3", "run-c-finished"},
			OutboxDropped{Started: 2, Events: 2, Bytes: 40}},
		{"then_running_starts", 30, []string{"applied-1", "run-a-finished", "run-c-finished"},
			OutboxDropped{Started: 3, Events: 3, Bytes: 60}},
		{"never_outcomes", 10, []string{"applied-1", "run-a-finished", "run-c-finished"},
			OutboxDropped{Started: 3, Events: 3, Bytes: 60, Over: 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "t.db"))
			for _, id := range queue {
				if err := s.Enqueue(t.Context(), OutMsg{Subject: "s", MsgID: id, Payload: []byte(strings.Repeat("x", 10))}); err != nil {
					t.Fatal(err)
				}
			}
			d, err := s.PruneOutbox(t.Context(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Errorf("dropped %+v, want %+v", d, tc.want)
			}
			rows, err := s.Outbox(t.Context(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, r := range rows {
				kept = append(kept, r.MsgID)
			}
			if !slices.Equal(kept, tc.kept) {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
		})
	}
}

func TestPruneApplied(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "t.db"))
	for seq := uint64(1); seq <= 3; seq++ {
		if _, err := s.Apply(t.Context(), seq, "id-"+string(rune('0'+seq)), 1, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneApplied(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruned %d recent rows (%v), want 0", n, err)
	}
	n, err := s.PruneApplied(t.Context(), time.Now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2: all but the last", n, err)
	}
	if _, ok, _ := s.Applied(t.Context(), "id-3"); !ok {
		t.Error("the last instruction applied was forgotten")
	}
	if seq, _ := s.AppliedSeq(t.Context()); seq != 3 {
		t.Errorf("applied seq %d, want 3", seq)
	}
}
