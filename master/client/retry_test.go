package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/client"
)

// drop is an answer that is no answer: the connection closes.
const drop = 0

// scripted is an API that answers each try with the next status of a script (200: [] ; drop:
// the connection closes), the last one forever, and records the Idempotency-Key of each try.
type scripted struct {
	mu     sync.Mutex
	script []int
	keys   []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status := s.script[min(len(s.keys), len(s.script)-1)]
	s.keys = append(s.keys, r.Header.Get(client.IdempotencyKeyHeader))
	s.mu.Unlock()
	switch status {
	case drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case http.StatusOK:
		w.Write([]byte(`[{"target_server":"SQL01","instance_id":7,"operation":"START","duplicate":true}]`))
	default:
		w.WriteHeader(status)
		w.Write([]byte(`{"error":{"code":0,"message":"scripted"}}`))
	}
}

func (s *scripted) tries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// DoIdempotent sends a request again, with the same key, while the master does not answer or
// answers 502, 503 or 504, a bounded number of times; other errors are not retried.
func TestDoIdempotentRetries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		script   []int
		tries    int
		wantCode int // status of the error returned; 0: none
	}{
		{"answered", []int{200}, 1, 0},
		{"503 then answered", []int{503, 200}, 2, 0},
		{"dropped, 502, 504, then answered", []int{drop, 502, 504, 200}, 4, 0},
		{"503 every time", []int{503}, 5, 503},
		{"400 is not retried", []int{400}, 1, 400},
		{"500 is not retried", []int{500, 200}, 1, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := &scripted{script: tt.script}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			c := &client.Client{Base: srv.URL, HTTP: srv.Client(), RetryWait: time.Millisecond}
			var out []master.Posted
			var notices int
			err := c.DoIdempotent(t.Context(), http.MethodPost, "/api/v1/jobs/J/start", "key-1", nil, &out, func(err error, _ time.Duration) {
				notices++
				if !client.Retryable(err) {
					t.Errorf("notice of a retry after %v, which is not retryable", err)
				}
			})
			var apiErr *client.Error
			switch {
			case tt.wantCode == 0 && (err != nil || len(out) != 1 || !out[0].Duplicate):
				t.Errorf("err %v, answer %+v: want the scripted answer", err, out)
			case tt.wantCode != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tt.wantCode):
				t.Errorf("err %v, want status %d", err, tt.wantCode)
			}
			keys := api.tries()
			if len(keys) != tt.tries || notices != tt.tries-1 {
				t.Fatalf("%d tries, %d notices, want %d and %d", len(keys), notices, tt.tries, tt.tries-1)
			}
			for i, k := range keys {
				if k != "key-1" {
					t.Errorf("try %d sent key %q, want key-1", i+1, k)
				}
			}
		})
	}
}

// A cancelled request is not sent again.
func TestDoIdempotentStopsWithContext(t *testing.T) {
	api := &scripted{script: []int{503}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := &client.Client{Base: srv.URL, HTTP: srv.Client(), RetryWait: time.Minute}
	ctx, cancel := context.WithCancel(t.Context())
	err := c.DoIdempotent(ctx, http.MethodPost, "/x", "k", nil, nil, func(error, time.Duration) { cancel() })
	if !errors.Is(err, context.Canceled) || len(api.tries()) != 1 {
		t.Errorf("err %v after %d tries, want context.Canceled after 1", err, len(api.tries()))
	}
}

// Keys are valid for the master and differ from one request to the next.
func TestNewIdempotencyKey(t *testing.T) {
	a, b := client.NewIdempotencyKey(), client.NewIdempotencyKey()
	if a == b {
		t.Fatalf("two requests got the same key %q", a)
	}
	for _, k := range []string{a, b} {
		if err := master.CheckIdempotencyKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
}
