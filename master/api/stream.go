package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
)

// GET /api/v1/stream: the console's live feed, as server-sent events. One watcher per API
// server compares what the master has ingested (its target view, its job × target outcomes,
// its download-list counts, the event stream) with what it saw last and pushes each change to
// every open stream:
//
//	event: hello         {"master", "interval_ms"}
//	event: event         a forwarded event (master.EventRecord)
//	event: target        a target whose status, poll interval, unread instructions, errors,
//	                     version, disk state or connection changed (FleetTarget), or
//	                     {"server_name", "deleted": true}
//	event: downloadlist  {"server", "unread", "errors"} when a target's download-list counts change
//	event: job           a job's targets counted by last outcome, pending and errors (GridJob
//	                     without cells), or {"name", "deleted": true}
//	event: run           {"job", "server", "run_id", "outcome", "message", "runs"}: a run
//	                     started, ended or was reported
//	event: dropped       {"reason"}: the last event of a stream the master closed
//
// Each stream has a bounded buffer: a client that does not keep up is sent "dropped" and
// closed (it reconnects and reloads). At most maxEventStreams streams are open at once. The token
// comes in the Authorization header, like every request (the console reads the stream with
// fetch(), never with a token in the URL); any API role may read it.

const (
	maxEventStreams = 64
	streamBuffer    = 256
	// watchEvery is the shortest interval between two comparisons; a comparison that takes
	// long (a very large fleet) stretches it to 4 times its own duration, so the watcher uses
	// at most a fifth of a core.
	watchEvery = 500 * time.Millisecond
	// runScanPerTick is how many jobs' runs a comparison reads in turn, besides those whose
	// counts changed or that run somewhere.
	runScanPerTick = 10
	// maxEventsPerTick bounds the events read from the stream per comparison.
	maxEventsPerTick = 500
)

type sseMsg struct {
	event string
	data  []byte
}

type streamClient struct {
	ch     chan sseMsg
	gone   chan struct{} // closed when the hub drops the client
	once   sync.Once
	reason string // why it was dropped, set before gone is closed
}

func (c *streamClient) drop(reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.gone)
	})
}

// hub fans the watcher's changes out to the open streams; the watcher runs while at least one
// is open.
type hub struct {
	s       *Server
	mu      sync.Mutex
	clients map[*streamClient]struct{}
	running bool
	// every is the current watch interval (see watchEvery).
	every time.Duration
	// hooked holds the HTTP servers whose Shutdown closes the streams (an open stream would
	// otherwise hold Shutdown until its deadline): Server.hookShutdown.
	hooked map[*http.Server]bool
}

func (s *Server) routeStream() {
	s.hub = &hub{s: s, clients: map[*streamClient]struct{}{}, every: watchEvery, hooked: map[*http.Server]bool{}}
	s.handle("GET /api/v1/stream", auth.RoleViewer, s.stream) // checks the token itself: a stream outlives route's timeout
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in API handler", "pattern", "GET /api/v1/stream", "panic", p)
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	rec, ok := s.checkToken(ctx, w, r, "no API token: pass one as `Authorization: Bearer TOKEN` (the console reads the stream with fetch(), never with a token in the URL)")
	cancel()
	if !ok {
		return
	}
	c, err := s.hub.join()
	if err != nil {
		writeErrText(w, http.StatusServiceUnavailable, master.CodeBadRequest, err.Error())
		return
	}
	defer s.hub.leave(c)
	s.hookShutdown(r)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.log.Debug("stream opened", "token", rec.ID, "role", rec.Role)
	write := func(m sseMsg) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	hello, _ := json.Marshal(map[string]any{"master": s.m.Name(), "interval_ms": s.hub.interval().Milliseconds()})
	if !write(sseMsg{"hello", hello}) {
		return
	}
	tick := time.NewTicker(streamKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			// Sending what is buffered would only delay the client further: say why and end.
			b, _ := json.Marshal(map[string]string{"reason": c.reason})
			write(sseMsg{"dropped", b})
			return
		case m := <-c.ch:
			if !write(m) {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (h *hub) join() (*streamClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= maxEventStreams {
		return nil, fmt.Errorf("this master already serves %d live streams, its limit: close a console tab or use another master", maxEventStreams)
	}
	c := &streamClient{ch: make(chan sseMsg, streamBuffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	if !h.running {
		h.running = true
		go h.watch()
	}
	return c, nil
}

// hook registers the server's CloseStreams with srv's Shutdown, once per server.
func (h *hub) hook(srv *http.Server) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hooked[srv] {
		return
	}
	h.hooked[srv] = true
	srv.RegisterOnShutdown(h.s.CloseStreams)
}

// dropAll drops every open stream, saying why.
func (h *hub) dropAll(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.drop(reason)
		delete(h.clients, c)
	}
}

func (h *hub) leave(c *streamClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

func (h *hub) interval() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.every
}

// open returns the number of open streams.
func (h *hub) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// publish sends msgs to every stream; one whose buffer is full is dropped.
func (h *hub) publish(msgs []sseMsg) {
	if len(msgs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		for _, m := range msgs {
			select {
			case c.ch <- m:
			default:
				c.drop(fmt.Sprintf("this stream fell more than %d changes behind: reconnect and reload", streamBuffer))
				delete(h.clients, c)
			}
			if _, ok := h.clients[c]; !ok {
				break
			}
		}
	}
}

// stopIfIdle ends the watcher when no stream is open; it returns true if it did.
func (h *hub) stopIfIdle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) == 0 {
		h.running = false
		return true
	}
	return false
}

// targetSnap is what a target change is judged on (not its heartbeat time: a change of it
// alone would push every target at every heartbeat).
type targetSnap struct {
	status, poll, unread, errs, jobs int
	version, disk                    string
	connected                        bool
}

type jobSnap struct {
	targets, pending, errs int
	outcomes               master.OutcomeCounts
	version                int
	enabled                bool
}

type runSnap struct {
	runID   string
	outcome int
	runs    int
}

// watcher holds what the last comparison saw.
type watcher struct {
	s       *Server
	primed  bool
	lastSeq uint64
	targets map[string]targetSnap
	jobs    map[string]jobSnap
	runs    map[string]runSnap // job id + "\x00" + server
	turn    int                // first job (by catalog order) whose runs are compared in turn
}

func (h *hub) watch() {
	w := &watcher{s: h.s, targets: map[string]targetSnap{}, jobs: map[string]jobSnap{}, runs: map[string]runSnap{}}
	for {
		if h.stopIfIdle() {
			return
		}
		start := time.Now()
		msgs := w.compare()
		took := time.Since(start)
		h.publish(msgs)
		every := max(watchEvery, 4*took)
		h.mu.Lock()
		h.every = every
		h.mu.Unlock()
		time.Sleep(every)
	}
}

func mustJSON(event string, v any) sseMsg {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return sseMsg{event, b}
}

// compare returns the changes since the last call (none the first time: that one only primes
// the snapshots, the console has just loaded what it shows).
func (w *watcher) compare() []sseMsg {
	defer func() {
		if p := recover(); p != nil {
			w.s.log.Error("panic in the stream watcher", "panic", p)
		}
	}()
	var out []sseMsg
	m := w.s.m
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Events: those after the last sequence seen.
	if !w.primed {
		if ev, err := m.Events(ctx, master.EventFilter{Limit: 1}); err == nil && len(ev) > 0 {
			w.lastSeq = ev[len(ev)-1].Seq
		}
	} else if ev, err := m.Events(ctx, master.EventFilter{Since: w.lastSeq, Limit: maxEventsPerTick}); err == nil {
		for _, e := range ev {
			w.lastSeq = max(w.lastSeq, e.Seq)
			out = append(out, mustJSON("event", e))
		}
	}

	// Targets.
	seen := map[string]bool{}
	for _, t := range m.TargetServers() {
		seen[t.ServerName] = true
		snap := targetSnap{status: t.Status, poll: t.PollInterval, unread: t.UnreadInstructions, errs: t.DownloadErrors, jobs: t.Jobs,
			version: t.Version, connected: t.Connected}
		if t.Disk != nil {
			snap.disk = t.Disk.State
		}
		old, had := w.targets[t.ServerName]
		w.targets[t.ServerName] = snap
		if !w.primed || (had && old == snap) {
			continue
		}
		out = append(out, mustJSON("target", fleetTarget(t)))
		if !had || old.unread != snap.unread || old.errs != snap.errs {
			out = append(out, mustJSON("downloadlist", map[string]any{"server": t.ServerName, "unread": t.UnreadInstructions, "errors": t.DownloadErrors}))
		}
	}
	for name := range w.targets {
		if !seen[name] {
			delete(w.targets, name)
			out = append(out, mustJSON("target", map[string]any{"server_name": name, "deleted": true}))
		}
	}

	// Jobs and runs.
	counts := m.JobInstructionCounts()
	seenJobs, liveIDs := map[string]bool{}, map[string]bool{}
	all := m.Catalog.All()
	if w.turn += runScanPerTick; w.turn >= len(all) {
		w.turn = 0
	}
	for i, j := range all {
		seenJobs[j.Name], liveIDs[j.JobID] = true, true
		c := counts[j.JobID]
		snap := jobSnap{pending: c.Pending, errs: c.Errors, version: j.VersionNumber, enabled: j.IsEnabled()}
		snap.targets, snap.outcomes = m.JobCounts(j)
		old, had := w.jobs[j.Name]
		w.jobs[j.Name] = snap
		if w.primed && (!had || old != snap) {
			out = append(out, mustJSON("job", GridJob{Name: j.Name, Category: j.Category, Enabled: snap.enabled, VersionNumber: j.VersionNumber,
				Targets: snap.targets, Pending: snap.pending, Errors: snap.errs, Outcomes: snap.outcomes}))
		}
		// A job's runs are compared when its counts moved, while it runs somewhere, and in
		// turn (runScanPerTick jobs a comparison): a comparison costs what changed, not the
		// whole job × target grid.
		turn := w.turn <= i && i < w.turn+runScanPerTick
		if w.primed && had && old == snap && snap.outcomes.InProgress == 0 && !turn {
			continue
		}
		for _, js := range m.JobServers(j) {
			k := j.JobID + "\x00" + js.ServerName
			rs := runSnap{runID: js.LastRunID, outcome: int(js.LastRunOutcome), runs: js.Runs}
			old, had := w.runs[k]
			w.runs[k] = rs
			if w.primed && had && old != rs && rs.runID != "" {
				out = append(out, mustJSON("run", map[string]any{"job": j.Name, "server": js.ServerName, "run_id": js.LastRunID,
					"outcome": js.LastRunOutcome, "message": js.LastOutcomeMessage, "runs": js.Runs}))
			}
		}
	}
	deleted := false
	for name := range w.jobs {
		if !seenJobs[name] {
			deleted = true
			delete(w.jobs, name)
			out = append(out, mustJSON("job", map[string]any{"name": name, "deleted": true}))
		}
	}
	if deleted {
		// Forget the runs of deleted jobs.
		for k := range w.runs {
			if id, _, _ := strings.Cut(k, "\x00"); !liveIDs[id] {
				delete(w.runs, k)
			}
		}
	}
	w.primed = true
	return out
}
