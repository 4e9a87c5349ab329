package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestHubDropsSlowClient: a stream whose buffer is full is dropped (its gone channel closed,
// so its handler sends "dropped" and ends) while the others keep receiving.
func TestHubDropsSlowClient(t *testing.T) {
	h := &hub{clients: map[*streamClient]struct{}{}, running: true, hooked: map[*http.Server]bool{}} // no watcher: changes are published by hand
	slow, err := h.join()
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := h.join()
	for i := range streamBuffer + 1 {
		h.publish([]sseMsg{{"event", []byte(`{}`)}})
		<-fast.ch // the fast client reads each change
		if i < streamBuffer {
			select {
			case <-slow.gone:
				t.Fatalf("dropped after %d changes, its buffer holds %d", i+1, streamBuffer)
			default:
			}
		}
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("a client that read nothing was not dropped when its buffer overflowed")
	}
	if !strings.Contains(slow.reason, "behind") {
		t.Errorf("dropped with reason %q", slow.reason)
	}
	if h.open() != 1 {
		t.Errorf("%d streams open, want the fast one only", h.open())
	}
	select {
	case <-fast.gone:
		t.Error("the fast client was dropped")
	default:
	}
}

// TestHubBoundsStreams: join refuses past maxEventStreams and says why.
func TestHubBoundsStreams(t *testing.T) {
	h := &hub{clients: map[*streamClient]struct{}{}, running: true}
	for range maxEventStreams {
		if _, err := h.join(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.join(); err == nil {
		t.Fatalf("stream %d admitted", maxEventStreams+1)
	}
}
