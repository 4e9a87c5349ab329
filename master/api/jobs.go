package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/client"
	"github.com/msx-project/msx/schemas/jobs"
)

// JobSummary is one row of `msx job list` and `msx job summary` (MSX's multiserver job
// summary: targets, pending instructions, download errors, failed executions).
type JobSummary struct {
	JobID               string   `json:"job_id"`
	Name                string   `json:"name"`
	Enabled             bool     `json:"enabled"`
	VersionNumber       int      `json:"version_number"`
	Category            string   `json:"category,omitempty"`
	Steps               int      `json:"steps"`
	Schedules           int      `json:"schedules"`
	Targets             int      `json:"targets"`
	PendingInstructions int      `json:"pending_instructions"`
	DownloadErrors      int      `json:"download_errors"`
	FailedExecutions    int      `json:"failed_executions"`
	LastOutcomes        []string `json:"last_outcomes,omitempty"`
	// Outcomes counts the job's targets by their last outcome (kept as results arrive).
	Outcomes master.OutcomeCounts `json:"outcomes"`
}

func (s *Server) summaries() []JobSummary {
	var out []JobSummary
	counts := s.m.JobInstructionCounts()
	for _, j := range s.m.Catalog.All() {
		sum := JobSummary{JobID: j.JobID, Name: j.Name, Enabled: j.IsEnabled(), VersionNumber: j.VersionNumber,
			Category: j.Category, Steps: len(j.Steps), Schedules: len(j.Schedules)}
		sum.Targets, sum.Outcomes = s.m.JobCounts(j)
		sum.FailedExecutions = sum.Outcomes.Failed
		c := counts[j.JobID]
		sum.PendingInstructions, sum.DownloadErrors = c.Pending, c.Errors
		out = append(out, sum)
	}
	if out == nil {
		out = []JobSummary{}
	}
	return out
}

func (s *Server) listJobs(_ http.ResponseWriter, _ *http.Request) (any, error) {
	return s.summaries(), nil
}

// JobView is `msx job show`: the definition, its targets with their last outcome, and the next
// run times of each schedule (computed in UTC on the master; targets use their own zone).
type JobView struct {
	Job       jobs.Job           `json:"job"`
	Servers   []master.JobServer `json:"servers"`
	Schedules []ScheduleView     `json:"schedules"`
}

// ScheduleView describes one schedule and its next run times: in UTC (NextRuns), and in each
// target's time zone, grouped by zone (ByZone).
type ScheduleView struct {
	Name        string      `json:"name"`
	Enabled     bool        `json:"enabled"`
	Description string      `json:"description"`
	NextRuns    []time.Time `json:"next_runs"`
	ByZone      []ZoneRuns  `json:"by_zone"`
}

func (s *Server) getJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	j, err := s.m.Catalog.Get(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	v := JobView{Job: j, Servers: nonNil(s.m.JobServers(j)), Schedules: []ScheduleView{}}
	offset := func(name string) int {
		t, _ := s.m.TargetServer(name)
		return t.TimeZoneAdjustment
	}
	now := time.Now()
	for _, sc := range j.Schedules {
		v.Schedules = append(v.Schedules, ScheduleView{Name: sc.Name, Enabled: sc.IsEnabled(), Description: sc.Describe(),
			NextRuns: nonNil(sc.NextN(now, time.UTC, 5)), ByZone: runsByZone(sc, v.Servers, offset, now, 5)})
	}
	return v, nil
}

func (s *Server) applyJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		// Too large (http.MaxBytesError) or cut off: the request is wrong, not the master.
		return nil, bodyError(err)
	}
	j, err := jobs.Parse(b)
	if err != nil {
		return nil, &master.Coded{Code: master.CodeBadRequest, Err: err}
	}
	dry, err := queryBool(r, "dry_run")
	if err != nil {
		return nil, err
	}
	if dry {
		return applied(s.m.PlanJob(r.Context(), j))
	}
	return applied(s.m.ApplyJob(r.Context(), j))
}

// applied answers an ApplyResult with [] rather than null for no changes or nothing posted,
// as the OpenAPI document has it.
func applied(res master.ApplyResult, err error) (any, error) {
	res.Changes, res.Posted = nonNil(res.Changes), nonNil(res.Posted)
	return res, err
}

// posted answers instructions posted with [] rather than null for none.
func posted(ps []master.Posted, err error) (any, error) {
	return nonNil(ps), err
}

// EnableRequest is the body of POST /api/v1/jobs/{name}/enable and /disable: no servers for
// every target of the job.
type EnableRequest struct {
	Servers []string `json:"servers,omitempty"`
}

func (s *Server) enableJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req EnableRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, err
		}
	}
	enable := strings.HasSuffix(r.URL.Path, "/enable")
	return applied(s.m.SetJobEnabled(r.Context(), r.PathValue("name"), enable, req.Servers))
}

// maxStartWait bounds ?wait= of a start: the API answers every request within 30 seconds.
const maxStartWait = 25 * time.Second

func (s *Server) deleteJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	return posted(s.m.DeleteJob(r.Context(), r.PathValue("name")))
}

// TargetRequest is the body of POST /api/v1/jobs/{name}/targets.
type TargetRequest struct {
	Servers []string `json:"servers,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	Remove  bool     `json:"remove,omitempty"`
}

func (s *Server) targetJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req TargetRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return applied(s.m.RetargetJob(r.Context(), r.PathValue("name"), req.Servers, req.Groups, req.Remove))
}

// idempotencyKey returns the request's Idempotency-Key ("" for none), or an error wrapping
// master.ErrInvalid when it is not a valid key or comes more than once.
func idempotencyKey(r *http.Request) (string, error) {
	keys := r.Header.Values(client.IdempotencyKeyHeader)
	switch len(keys) {
	case 0:
		return "", nil
	case 1:
		return keys[0], master.CheckIdempotencyKey(keys[0])
	}
	return "", fmt.Errorf("%w: %d %s headers: send one", master.ErrInvalid, len(keys), client.IdempotencyKeyHeader)
}

// startJob posts START or STOP to the job's targets, or to the ?server= and the members of the
// ?group= named (each may repeat). With ?wait=DURATION (at most 25s) it answers, per target,
// whether the job started, was refused or did not answer in time ([]master.StartReport)
// instead of what it posted. With an Idempotency-Key header, a retry of the request posts
// nothing the first try posted (master.StartOptions).
func (s *Server) startJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return nil, err
	}
	stop := strings.HasSuffix(r.URL.Path, "/stop")
	q := r.URL.Query()
	var wait time.Duration
	if w := q.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 || d > maxStartWait {
			return nil, fmt.Errorf("%w: wait %q: give a duration from 1s to %s, such as 20s", master.ErrInvalid, w, maxStartWait)
		}
		wait = d
	}
	posted, err := s.m.StartJobWith(r.Context(), r.PathValue("name"),
		master.StartOptions{Servers: q["server"], Groups: q["group"], Stop: stop, IdempotencyKey: key})
	if err != nil || wait == 0 {
		return nonNil(posted), err
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	return nonNil(s.m.WaitStarted(ctx, posted)), nil
}

func (s *Server) jobHistory(_ http.ResponseWriter, r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, err
	}
	rows, err := s.m.History(r.Context(), r.PathValue("name"), r.URL.Query().Get("server"), limit)
	if rows == nil {
		rows = []jobs.HistoryRow{}
	}
	return rows, err
}

func (s *Server) events(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	var f master.EventFilter
	var err error
	if f.Since, err = queryUint(r, "since"); err != nil {
		return nil, err
	}
	if f.MinSeverity, err = queryInt(r, "min_severity"); err != nil {
		return nil, err
	}
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return nil, err
	}
	f.Server = q.Get("server")
	ev, err := s.m.Events(r.Context(), f)
	if ev == nil {
		ev = []master.EventRecord{}
	}
	return ev, err
}
