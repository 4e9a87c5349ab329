package master

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A change the bus did not settle in time, or that the lease left mid-way, answers a code that
// says "retry" (the API answers 503 for both, and msx job start retries with its idempotency
// key); any other failure stays the internal error.
func TestCodeOfRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"lease moved during the change", fmt.Errorf("post START to SQL01: %w", ErrNotLeader), CodeNotLeader},
		{"publish timed out", fmt.Errorf("post START to SQL01 and 2 more: %w", context.DeadlineExceeded), CodeUnavailable},
		{"request timed out", fmt.Errorf("read: %w", nats.ErrTimeout), CodeUnavailable},
		{"no stream leader", fmt.Errorf("post: %w", jetstream.ErrNoStreamResponse), CodeUnavailable},
		{"no responders", nats.ErrNoResponders, CodeUnavailable},
		{"same message id in process", fmt.Errorf("post: %w", &jetstream.APIError{Code: 503, ErrorCode: 10158, Description: "duplicate message id is in process"}), CodeUnavailable},
		{"other JetStream error", &jetstream.APIError{Code: 500, ErrorCode: 10077, Description: "maximum messages exceeded"}, CodeInternal},
		{"plain failure", errors.New("disk on fire"), CodeInternal},
		{"bad request", fmt.Errorf("%w: wait", ErrInvalid), CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
