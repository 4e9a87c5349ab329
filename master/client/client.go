// Package client is a Go client of the master's HTTP API, used by the msx CLI.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/problem"
)

// Error is an error answered by the API: the HTTP status, the stable code and the message.
type Error struct {
	Status   int
	Code     int
	Message  string
	Problems []problem.Problem
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%s (%d)", e.Message, e.Code)
	}
	return e.Message
}

// ErrNoMaster: the CLI found no master address.
var ErrNoMaster = errors.New("no master to talk to")

// Client talks to one master.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8080
	Token string
	HTTP  *http.Client
	// RetryWait is the first wait before DoIdempotent sends a request again; each later wait
	// doubles, up to 8s. Default 500ms.
	RetryWait time.Duration
}

// Files a master writes into its data directory so that the CLI finds it.
const (
	URLFile   = "api.url"
	TokenFile = "admin.token"
)

// Resolve builds a client from explicit values, falling back to the files a master writes in
// its data directory (dataDir/master/api.url and admin.token).
func Resolve(master, token, dataDir string) (*Client, error) {
	dir := filepath.Join(dataDir, "master")
	if master == "" {
		b, err := os.ReadFile(filepath.Join(dir, URLFile))
		if err != nil {
			return nil, fmt.Errorf("%w: pass --master URL (or MSX_MASTER), or run from the folder of `msx up` (looked for %s: %v)",
				ErrNoMaster, filepath.Join(dir, URLFile), errors.Unwrap(err))
		}
		master = strings.TrimSpace(string(b))
	}
	if token == "" {
		if b, err := os.ReadFile(filepath.Join(dir, TokenFile)); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if !strings.Contains(master, "://") {
		master = "http://" + master
	}
	return &Client{Base: strings.TrimRight(master, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}, nil
}

// Do sends a request and decodes the JSON answer into out (when non-nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.send(ctx, method, path, nil, body, out)
}

// send is Do with extra request headers.
func (c *Client) send(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &unanswered{base: c.Base, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return errorOf(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// unanswered is a request the master did not answer: no connection, or none kept up until the
// answer (a timeout, a master that went away). It may or may not have been carried out.
type unanswered struct {
	base string
	err  error
}

func (e *unanswered) Error() string {
	return fmt.Sprintf("master at %s is not answering (is `msx up` or `msx master` running?): %v", e.base, e.err)
}

func (e *unanswered) Unwrap() error { return e.err }

// Path escapes a name for use as one path segment (HOST\INSTANCE names included).
func Path(name string) string { return url.PathEscape(name) }

// errorOf reads an API error answer (status >= 300): the API's JSON error shape, or its text.
func errorOf(status int, data []byte) *Error {
	var eb struct {
		Error struct {
			Code     int               `json:"code"`
			Message  string            `json:"message"`
			Problems []problem.Problem `json:"problems"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
		return &Error{Status: status, Code: eb.Error.Code, Message: eb.Error.Message, Problems: eb.Error.Problems}
	}
	return &Error{Status: status, Message: strings.TrimSpace(string(data))}
}
