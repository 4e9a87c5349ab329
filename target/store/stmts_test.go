package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestPreparedStatementsConcurrentAndClosed: the cached statements of the outbox and the
// applied check answer correctly when used from many goroutines at once (each is prepared
// once), see rows written after they were prepared, and fail with an error, not a panic,
// once the store is closed.
func TestPreparedStatementsConcurrentAndClosed(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Apply(ctx, uint64(i+1), fmt.Sprintf("in-%d", i), 1, insertJob(fmt.Sprint(i), 1), reportOf(uint64(i+1))); err != nil {
				errs <- err
			}
			if _, err := s.OutboxWindow(ctx, 0, 100, 0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(s.stmts.m); n != 2 {
		t.Errorf("%d statements cached, want 2 (applied check, outbox window)", n)
	}
	for i := range 8 {
		if st, ok, err := s.Applied(ctx, fmt.Sprintf("in-%d", i)); err != nil || !ok || st != "applied" {
			t.Errorf("instruction %d: %q %v %v", i, st, ok, err)
		}
	}
	q, err := s.OutboxWindow(ctx, 0, 100, 0)
	if err != nil || len(q) != 8 {
		t.Fatalf("outbox: %d rows, %v; want 8", len(q), err)
	}
	if err := s.Sent(ctx, q[3].ID); err != nil {
		t.Fatal(err)
	}
	if q, err = s.OutboxWindow(ctx, 0, 100, 0); err != nil || len(q) != 4 {
		t.Fatalf("outbox after Sent: %d rows, %v; want 4", len(q), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OutboxWindow(ctx, 0, 100, 0); err == nil {
		t.Error("outbox read on a closed store: no error")
	}
	if _, _, err := s.Applied(ctx, "in-1"); err == nil {
		t.Error("applied check on a closed store: no error")
	}
	if err := s.Sent(ctx, 1); err == nil {
		t.Error("delete on a closed store: no error")
	}
}
