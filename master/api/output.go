package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/schemas"
)

// GET /api/v1/jobs/{name}/output?server=S follows the live output of job name on target S as
// Server-Sent Events (text/event-stream), until the client goes away:
//
//	event: output
//	data: {"server":"S","job":"J","run_id":"...","step_id":1,"step_name":"...","retry":0,"seq":7,"text":"...","dropped":0,"missed":0}
//
//	event: end
//	data: {"server":"S","job":"J","run_id":"...","scope":"step","step_id":1,"step_name":"...","retry":0,"seq":8,"run_status":1}
//	data: {"server":"S","job":"J","run_id":"...","scope":"run","seq":9,"run_status":1}
//
// seq numbers a run's messages from 1 (a gap is a message the bus lost); dropped counts bytes
// the target dropped before this chunk (its rate and buffer bounds); missed counts messages the
// master could not relay before this one (a slow reader, or messages it refused). A run that
// started before the stream shows from where the stream joined it; the stream stays open
// across runs (a client that wants one run stops at the end event of scope "run"). A comment
// line (": ...") opens the stream once the master follows the subject, and every 15 s keeps
// proxies from closing it. Errors before the stream starts have the API's JSON shape: 404
// (14262) for an unknown server or job, 400 without ?server, 429 past maxStreamsPerToken or
// maxStreams.
// msdb-mode targets have no live output (SQL Server Agent runs their steps).

const (
	// maxStreamsPerToken bounds the output streams one token holds open at once, maxStreams
	// those of every token (each holds up to 1 MiB queued: master.FollowOutput).
	maxStreamsPerToken = 8
	maxStreams         = 256
	// streamWriteTimeout bounds one write to a client; a client slower than that is dropped.
	streamWriteTimeout = 10 * time.Second
	// streamKeepAlive is the interval of the comment lines that keep idle streams open.
	streamKeepAlive = 15 * time.Second
)

// OutputEvent is the data of an "output" or "end" event of the output stream.
type OutputEvent struct {
	Server   string `json:"server"`
	Job      string `json:"job"`
	RunID    string `json:"run_id"`
	Scope    string `json:"scope,omitempty"` // end events: "step" or "run"
	StepID   int    `json:"step_id,omitempty"`
	StepName string `json:"step_name,omitempty"`
	Retry    int    `json:"retry,omitempty"`
	Seq      uint64 `json:"seq"`
	Text     string `json:"text"`
	Dropped  int64  `json:"dropped"`
	Missed   int64  `json:"missed"`
	// RunStatus, in end events, is the step attempt's or the job's run_status.
	RunStatus int `json:"run_status,omitempty"`
	// Sent is when the target published the chunk (for latency measurements).
	Sent time.Time `json:"sent"`
}

// streams counts the open output streams, of each token and in all, and ends them all when the
// server shuts down (CloseStreams).
type streams struct {
	mu     sync.Mutex
	n      map[string]int
	total  int
	closed chan struct{} // made on first use; closed by CloseStreams
}

// done returns the channel CloseStreams closes.
func (c *streams) done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed == nil {
		c.closed = make(chan struct{})
	}
	return c.closed
}

// CloseStreams ends every live stream: the output streams, now and later, and the console's
// open streams (GET /api/v1/stream), which are told why. http.Server.Shutdown waits for
// handlers to return, and a stream's returns only when its client goes: each stream registers
// CloseStreams with the Shutdown of the http.Server that serves it (hookShutdown); a caller
// may register it too.
func (s *Server) CloseStreams() {
	s.out.done() // makes the channel
	s.out.mu.Lock()
	select {
	case <-s.out.closed:
	default:
		close(s.out.closed)
	}
	s.out.mu.Unlock()
	s.hub.dropAll("the master is shutting down: reconnect in a moment")
}

// hookShutdown registers CloseStreams with the Shutdown of the http.Server that serves r,
// once per server.
func (s *Server) hookShutdown(r *http.Request) {
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		s.hub.hook(srv)
	}
}

// acquire takes a place for a stream of token id, or says why there is none.
func (c *streams) acquire(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	switch {
	case c.n[id] >= maxStreamsPerToken:
		return fmt.Sprintf("token %s already follows %d output streams: close one first", id, maxStreamsPerToken)
	case c.total >= maxStreams:
		return fmt.Sprintf("this master already relays %d output streams: try again later, or another master", maxStreams)
	}
	c.n[id]++
	c.total++
	return ""
}

func (c *streams) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.n[id]--; c.n[id] <= 0 {
		delete(c.n, id)
	}
}

func (s *Server) routeOutput() {
	s.handle("GET /api/v1/jobs/{name}/output", auth.RoleViewer, s.output) // checks the token itself: a stream outlives route's timeout
}

// output serves the live output stream. It is not behind route: route bounds a request to 30 s
// and answers JSON; the token and role checks are the same.
func (s *Server) output(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in API handler", "pattern", "output", "panic", p)
		}
	}()
	rec, ok := s.checkToken(r.Context(), w, r, "no API token: pass one as `Authorization: Bearer TOKEN`")
	if !ok || !s.allowed(w, r, rec, auth.RoleViewer) {
		return
	}
	server := strings.TrimSpace(r.URL.Query().Get("server"))
	if server == "" {
		writeErr(w, http.StatusBadRequest, master.CodeBadRequest, fmt.Errorf("%w: name the target server: ?server=NAME (live output is per target)", master.ErrInvalid))
		return
	}
	if why := s.out.acquire(rec.ID); why != "" {
		writeErrText(w, http.StatusTooManyRequests, master.CodeBadRequest, why)
		return
	}
	defer s.out.release(rec.ID)
	s.hookShutdown(r)
	st, err := s.m.FollowOutput(server, r.PathValue("name"))
	if err != nil {
		writeErr(w, statusOf(err), master.CodeOf(err), err)
		return
	}
	defer st.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(f func(io.Writer) error) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		return f(w) == nil && rc.Flush() == nil
	}
	if !write(func(w io.Writer) error {
		_, err := fmt.Fprintf(w, ": following job %q on %s\n\n", st.Job, st.Server)
		return err
	}) {
		return
	}
	keep := time.NewTicker(streamKeepAlive)
	defer keep.Stop()
	closed := s.out.done()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-closed: // the API shuts down: the client sees the stream end (msx job tail --follow follows again)
			return
		case <-keep.C:
			if !write(func(w io.Writer) error { _, err := io.WriteString(w, ": keep-alive\n\n"); return err }) {
				return
			}
		case ev := <-st.C:
			name, data := sseEvent(ev)
			if !write(func(w io.Writer) error { _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); return err }) {
				return
			}
		}
	}
}

// sseEvent returns the event name and JSON data of a relayed chunk. JSON has no raw newline,
// so the data is one "data:" line.
func sseEvent(ev master.OutputEvent) (string, []byte) {
	c := ev.Chunk
	out := OutputEvent{Server: ev.Server, Job: ev.Job, RunID: c.RunID, StepID: c.StepID, StepName: c.StepName, Retry: c.Retry,
		Seq: c.Seq, Text: c.Text, Dropped: c.Dropped, Missed: ev.Missed, RunStatus: c.RunStatus, Sent: c.Sent}
	name := "output"
	switch c.Kind {
	case schemas.OutputStepEnd:
		name, out.Scope = "end", "step"
	case schemas.OutputRunEnd:
		name, out.Scope = "end", "run"
	}
	b, _ := json.Marshal(out)
	return name, b
}
