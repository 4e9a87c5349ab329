package client

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// IdempotencyKeyHeader carries the key that makes the master recognise the retries of one
// request (the IETF draft "The Idempotency-Key HTTP Header Field").
const IdempotencyKeyHeader = "Idempotency-Key"

// NewIdempotencyKey returns a random key for one request: 26 characters of [A-Z2-7] (128 bits).
func NewIdempotencyKey() string { return rand.Text() }

// Retries of DoIdempotent: a few, spread over about 15 seconds plus the tries' own time (up to
// HTTP.Timeout each), and never past retryFor, which keeps every try well inside the 10
// minutes the master recognises a key for.
const (
	maxRetries = 4
	retryFor   = 5 * time.Minute
)

// DoIdempotent is Do for a request the master recognises by its Idempotency-Key (key): while
// the master does not answer, or answers 502, 503 or 504 (a takeover, a master that went away),
// it sends the request again with the same key, a few times with a growing wait, calling
// retrying (when non-nil) before each wait. The master carries out the request at most once.
// It returns the last error, or ctx's.
func (c *Client) DoIdempotent(ctx context.Context, method, path, key string, body, out any, retrying func(err error, wait time.Duration)) error {
	header := http.Header{IdempotencyKeyHeader: {key}}
	first := c.RetryWait
	if first <= 0 {
		first = 500 * time.Millisecond
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(first), backoff.WithMaxInterval(8*time.Second),
		backoff.WithMaxElapsedTime(retryFor))
	return backoff.RetryNotify(func() error {
		err := c.send(ctx, method, path, header, body, out)
		if err != nil && (ctx.Err() != nil || !Retryable(err)) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(backoff.WithMaxRetries(b, maxRetries), ctx), func(err error, wait time.Duration) {
		if retrying != nil {
			retrying(err, wait)
		}
	})
}

// Retryable reports whether err is a request the master may not have carried out and that
// is worth sending again: no answer, or 502, 503 or 504.
func Retryable(err error) bool {
	var u *unanswered
	var e *Error
	switch {
	case errors.As(err, &u):
		return true
	case errors.As(err, &e):
		return e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout
	}
	return false
}
