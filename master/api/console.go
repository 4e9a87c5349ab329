package api

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/auth"
	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/schemas/jobs"
)

// The console's reads (master/web). Each answers what one screen shows, bounded: a page of
// rows (?offset=, ?limit= up to a maximum) and counts for the rest, so that a fleet of 5,000
// targets × 500 jobs never produces a giant payload. All need a viewer token.

// Page bounds of the console's lists.
const (
	defaultPage  = 100
	maxPage      = 500
	maxGridJobs  = 100 // rows of one grid page
	maxGridCols  = 200 // servers of one grid page
	maxRuns      = 100 // runs of one job page
	ledgerScan   = 20000
	versionsScan = 2000 // audit records read for a job's versions
	maxVersions  = 50
	maxZoneNames = 20 // servers named per zone of a schedule (the rest are counted)
)

func (s *Server) routeConsole() {
	s.route("GET /api/v1/console/fleet", auth.RoleViewer, s.consoleFleet)
	s.route("GET /api/v1/console/grid", auth.RoleViewer, s.consoleGrid)
	s.route("GET /api/v1/console/targets/{name}/jobs", auth.RoleViewer, s.consoleTargetJobs)
	s.route("GET /api/v1/console/jobs/{name}", auth.RoleViewer, s.consoleJob)
	s.route("GET /api/v1/console/jobs/{name}/versions", auth.RoleViewer, s.consoleVersions)
	s.route("GET /api/v1/console/jobs/{name}/runs", auth.RoleViewer, s.consoleRuns)
	s.route("GET /api/v1/console/jobs/{name}/runs/{run}", auth.RoleViewer, s.consoleRun)
	s.route("GET /api/v1/console/downloadlist", auth.RoleViewer, s.consoleDownloadList)
}

// page reads ?offset= and ?limit= (default def, at most max); a value that is not a number
// or out of range is refused, saying what is allowed.
func page(q url.Values, def, maxN int) (offset, limit int, err error) {
	offset, limit = 0, def
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("%w: offset %q: give a whole number of rows to skip, 0 or more", master.ErrInvalid, v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxN {
			return 0, 0, fmt.Errorf("%w: limit %q: give a number of rows from 1 to %d", master.ErrInvalid, v, maxN)
		}
	}
	return offset, limit, nil
}

// window returns the part of n rows a page shows, as slice bounds.
func window(n, offset, limit int) (lo, hi int) {
	lo = min(offset, n)
	return lo, min(lo+limit, n)
}

// StatusWords says a target's status flags in words: "normal", "suspected offline",
// "blocked", "disk full", joined with ", ".
func StatusWords(status int) string {
	var w []string
	if status&ledger.StatusSuspectedOffline != 0 {
		w = append(w, "suspected offline")
	}
	if status&ledger.StatusBlocked != 0 {
		w = append(w, "blocked")
	}
	if status&ledger.StatusDiskFull != 0 {
		w = append(w, "disk full")
	}
	if len(w) == 0 {
		return "normal"
	}
	return strings.Join(w, ", ")
}

// stripChar is a target's state in the fleet's heat strip: n normal, o suspected offline, b
// blocked, d disk full (the worst wins, in that order of increasing weight).
func stripChar(status int) byte {
	switch {
	case status&ledger.StatusSuspectedOffline != 0:
		return 'o'
	case status&ledger.StatusDiskFull != 0:
		return 'd'
	case status&ledger.StatusBlocked != 0:
		return 'b'
	}
	return 'n'
}

// FleetTarget is one row of the fleet table: the target as `msx targetserver list` shows it,
// with its status in words and its UTC offset as a zone name.
type FleetTarget struct {
	master.TargetServer
	StatusText string `json:"status_text"`
	Zone       string `json:"zone"`
}

func fleetTarget(t master.TargetServer) FleetTarget {
	return FleetTarget{TargetServer: t, StatusText: StatusWords(t.Status), Zone: zoneLabel(t.TimeZoneAdjustment)}
}

// GroupCount counts a group's members and those whose status is not normal.
type GroupCount struct {
	Name     string `json:"name"`
	Members  int    `json:"members"`
	Problems int    `json:"problems"`
}

// Fleet answers GET /api/v1/console/fleet.
type Fleet struct {
	Master string `json:"master"`
	Total  int    `json:"total"`
	// Counts by status over the whole fleet.
	Normal           int          `json:"normal"`
	SuspectedOffline int          `json:"suspected_offline"`
	Blocked          int          `json:"blocked"`
	DiskFull         int          `json:"disk_full"`
	Groups           []GroupCount `json:"groups"`
	// Strip holds one character per target in server_id order (see stripChar): the heat strip.
	Strip   string        `json:"strip"`
	Matched int           `json:"matched"` // rows the filters select
	Offset  int           `json:"offset"`
	Limit   int           `json:"limit"`
	Rows    []FleetTarget `json:"rows"`
}

// fleetSorts are the columns ?sort= accepts.
var fleetSorts = map[string]func(a, b master.TargetServer) int{
	"name":      func(a, b master.TargetServer) int { return strings.Compare(a.ServerName, b.ServerName) },
	"id":        func(a, b master.TargetServer) int { return cmp.Compare(a.ServerID, b.ServerID) },
	"status":    func(a, b master.TargetServer) int { return cmp.Compare(a.Status, b.Status) },
	"zone":      func(a, b master.TargetServer) int { return cmp.Compare(a.TimeZoneAdjustment, b.TimeZoneAdjustment) },
	"poll":      func(a, b master.TargetServer) int { return cmp.Compare(a.PollInterval, b.PollInterval) },
	"heartbeat": func(a, b master.TargetServer) int { return cmpTime(a.LastPollDate, b.LastPollDate) },
	"unread":    func(a, b master.TargetServer) int { return cmp.Compare(a.UnreadInstructions, b.UnreadInstructions) },
	"errors":    func(a, b master.TargetServer) int { return cmp.Compare(a.DownloadErrors, b.DownloadErrors) },
	"version":   func(a, b master.TargetServer) int { return strings.Compare(a.Version, b.Version) },
	"jobs":      func(a, b master.TargetServer) int { return cmp.Compare(a.Jobs, b.Jobs) },
}

func cmpTime(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}

// fleetStatuses are the values ?status= accepts.
var fleetStatuses = map[string]func(int) bool{
	"normal":            func(s int) bool { return s == ledger.StatusNormal },
	"suspected_offline": func(s int) bool { return s&ledger.StatusSuspectedOffline != 0 },
	"blocked":           func(s int) bool { return s&ledger.StatusBlocked != 0 },
	"disk_full":         func(s int) bool { return s&ledger.StatusDiskFull != 0 },
	"problem":           func(s int) bool { return s != ledger.StatusNormal },
}

// keys lists a map's keys, sorted, for an error message.
func keys[V any](m map[string]V) string { return strings.Join(slices.Sorted(maps.Keys(m)), ", ") }

// consoleFleet answers the fleet page: ?q= (a part of the name, location, version or a
// group), ?status=, ?group=, ?sort= (a column), ?desc=true, ?offset=, ?limit= (at most 500).
func (s *Server) consoleFleet(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := page(q, defaultPage, maxPage)
	if err != nil {
		return nil, err
	}
	sortBy := cmp.Or(q.Get("sort"), "name")
	less, ok := fleetSorts[sortBy]
	if !ok {
		return nil, fmt.Errorf("%w: sort %q: sort by one of %s", master.ErrInvalid, sortBy, keys(fleetSorts))
	}
	var keep func(int) bool
	if st := q.Get("status"); st != "" {
		if keep, ok = fleetStatuses[st]; !ok {
			return nil, fmt.Errorf("%w: status %q: filter by one of %s", master.ErrInvalid, st, keys(fleetStatuses))
		}
	}
	desc, err := queryBool(r, "desc")
	if err != nil {
		return nil, err
	}
	text := strings.ToUpper(strings.TrimSpace(q.Get("q")))
	group := strings.TrimSpace(q.Get("group"))

	ts := s.m.TargetServers() // by server_id
	f := Fleet{Master: s.m.Name(), Total: len(ts), Offset: offset, Limit: limit, Rows: []FleetTarget{}, Groups: []GroupCount{}}
	strip := make([]byte, len(ts))
	groups := map[string]*GroupCount{}
	var sel []master.TargetServer
	for i, t := range ts {
		strip[i] = stripChar(t.Status)
		switch {
		case t.Status&ledger.StatusSuspectedOffline != 0:
			f.SuspectedOffline++
		case t.Status == ledger.StatusNormal:
			f.Normal++
		}
		if t.Status&ledger.StatusBlocked != 0 {
			f.Blocked++
		}
		if t.Status&ledger.StatusDiskFull != 0 {
			f.DiskFull++
		}
		for _, g := range t.Groups {
			gc := groups[g]
			if gc == nil {
				gc = &GroupCount{Name: g}
				groups[g] = gc
			}
			gc.Members++
			if t.Status != ledger.StatusNormal {
				gc.Problems++
			}
		}
		if keep != nil && !keep(t.Status) {
			continue
		}
		if group != "" && !slices.ContainsFunc(t.Groups, func(g string) bool { return strings.EqualFold(g, group) }) {
			continue
		}
		if text != "" && !matchTarget(t, text) {
			continue
		}
		sel = append(sel, t)
	}
	f.Strip = string(strip)
	for _, g := range groups {
		f.Groups = append(f.Groups, *g)
	}
	slices.SortFunc(f.Groups, func(a, b GroupCount) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(sel, func(a, b master.TargetServer) int {
		c := cmp.Or(less(a, b), strings.Compare(a.ServerName, b.ServerName))
		if desc {
			return -c
		}
		return c
	})
	f.Matched = len(sel)
	lo, hi := window(len(sel), offset, limit)
	for _, t := range sel[lo:hi] {
		f.Rows = append(f.Rows, fleetTarget(t))
	}
	return f, nil
}

func matchTarget(t master.TargetServer, upper string) bool {
	if strings.Contains(strings.ToUpper(t.ServerName), upper) || strings.Contains(strings.ToUpper(t.Location), upper) ||
		strings.Contains(strings.ToUpper(t.Version), upper) {
		return true
	}
	return slices.ContainsFunc(t.Groups, func(g string) bool { return strings.Contains(strings.ToUpper(g), upper) })
}

// GridJob is one row of the job × target grid: the job, its targets counted by last outcome,
// and Cells: one character per column of Grid.Servers, the last outcome on that server ('0'
// failed, '1' succeeded, '2' retry, '3' canceled, '4' in progress, '5' not run yet) or '-'
// when the job does not target it.
type GridJob struct {
	Name          string               `json:"name"`
	Category      string               `json:"category,omitempty"`
	Enabled       bool                 `json:"enabled"`
	VersionNumber int                  `json:"version_number"`
	Targets       int                  `json:"targets"`
	Pending       int                  `json:"pending"`
	Errors        int                  `json:"errors"`
	Outcomes      master.OutcomeCounts `json:"outcomes"`
	Cells         string               `json:"cells"`
}

// Grid answers GET /api/v1/console/grid: a page of jobs (rows) × a page of servers (columns).
type Grid struct {
	Jobs          []GridJob `json:"jobs"`
	MatchedJobs   int       `json:"matched_jobs"`
	Offset        int       `json:"offset"`
	Limit         int       `json:"limit"`
	Servers       []string  `json:"servers"`
	MatchedServer int       `json:"matched_servers"`
	ServerOffset  int       `json:"server_offset"`
	ServerLimit   int       `json:"server_limit"`
	Categories    []string  `json:"categories"`
}

// outcomeFilters are the values ?outcome= accepts: a job is kept when at least one of its
// targets' last outcome is that one.
var outcomeFilters = map[string]func(master.OutcomeCounts) int{
	"failed":      func(o master.OutcomeCounts) int { return o.Failed },
	"succeeded":   func(o master.OutcomeCounts) int { return o.Succeeded },
	"retry":       func(o master.OutcomeCounts) int { return o.Retry },
	"canceled":    func(o master.OutcomeCounts) int { return o.Canceled },
	"in_progress": func(o master.OutcomeCounts) int { return o.InProgress },
	"not_run":     func(o master.OutcomeCounts) int { return o.NotRun },
}

// outcomeCode is a last outcome as one grid character.
func outcomeCode(o jobs.RunOutcome) byte {
	if o < jobs.OutcomeFailed || o > jobs.OutcomeUnknown {
		return '5'
	}
	return byte('0' + int(o))
}

// consoleGrid answers the jobs page: ?job= (a part of the name), ?category=, ?outcome=,
// ?group= and ?server= (a part of the name) select rows and columns; ?offset=/?limit= (at most
// 100 jobs) and ?soffset=/?slimit= (at most 200 servers) page them.
func (s *Server) consoleGrid(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := page(q, 50, maxGridJobs)
	if err != nil {
		return nil, err
	}
	sq := url.Values{"offset": q["soffset"], "limit": q["slimit"]}
	soffset, slimit, err := page(sq, 50, maxGridCols)
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	var outcome func(master.OutcomeCounts) int
	if o := q.Get("outcome"); o != "" {
		var ok bool
		if outcome, ok = outcomeFilters[o]; !ok {
			return nil, fmt.Errorf("%w: outcome %q: filter by one of %s", master.ErrInvalid, o, keys(outcomeFilters))
		}
	}
	name := strings.ToUpper(strings.TrimSpace(q.Get("job")))
	category := strings.TrimSpace(q.Get("category"))
	server := strings.ToUpper(strings.TrimSpace(q.Get("server")))
	group := strings.TrimSpace(q.Get("group"))
	var members map[string]bool
	if group != "" {
		g, ok := s.m.Reg.Group(group)
		if !ok {
			return nil, &master.Coded{Code: 14262, Err: fmt.Errorf("The specified target server group ('%s') does not exist.", group)}
		}
		members = map[string]bool{}
		for _, m := range g.Members {
			members[strings.ToUpper(m)] = true
		}
	}
	counts := s.m.JobInstructionCounts()
	g := Grid{Jobs: []GridJob{}, Servers: []string{}, Offset: offset, Limit: limit, ServerOffset: soffset, ServerLimit: slimit, Categories: []string{}}
	cats := map[string]bool{}
	var sel []jobs.Job
	var rows []GridJob
	for _, j := range s.m.Catalog.All() {
		if j.Category != "" {
			cats[j.Category] = true
		}
		if name != "" && !strings.Contains(strings.ToUpper(j.Name), name) {
			continue
		}
		if category != "" && !strings.EqualFold(j.Category, category) {
			continue
		}
		gj := GridJob{Name: j.Name, Category: j.Category, Enabled: j.IsEnabled(), VersionNumber: j.VersionNumber,
			Pending: counts[j.JobID].Pending, Errors: counts[j.JobID].Errors}
		gj.Targets, gj.Outcomes = s.m.JobCounts(j)
		if outcome != nil && outcome(gj.Outcomes) == 0 {
			continue
		}
		sel, rows = append(sel, j), append(rows, gj)
	}
	for c := range cats {
		g.Categories = append(g.Categories, c)
	}
	slices.Sort(g.Categories)
	g.MatchedJobs = len(rows)
	lo, hi := window(len(rows), offset, limit)
	// The columns: the servers the page's jobs target, filtered, by name.
	last := make([]map[string]jobs.RunOutcome, hi-lo)
	names := map[string]bool{}
	for i, j := range sel[lo:hi] {
		last[i] = map[string]jobs.RunOutcome{}
		for _, js := range s.m.JobServers(j) {
			n := strings.ToUpper(js.ServerName)
			if (server != "" && !strings.Contains(n, server)) || (members != nil && !members[n]) {
				continue
			}
			last[i][n] = js.LastRunOutcome
			names[js.ServerName] = true
		}
	}
	all := slices.Sorted(maps.Keys(names))
	g.MatchedServer = len(all)
	slo, shi := window(len(all), soffset, slimit)
	g.Servers = append(g.Servers, all[slo:shi]...)
	for i, gj := range rows[lo:hi] {
		cells := make([]byte, len(g.Servers))
		for c, n := range g.Servers {
			if o, ok := last[i][strings.ToUpper(n)]; ok {
				cells[c] = outcomeCode(o)
			} else {
				cells[c] = '-'
			}
		}
		gj.Cells = string(cells)
		g.Jobs = append(g.Jobs, gj)
	}
	return g, nil
}

// TargetJobs answers GET /api/v1/console/targets/{name}/jobs: a page of the jobs a target
// holds, each with its last outcome there.
type TargetJobs struct {
	Server  string             `json:"server"`
	Matched int                `json:"matched"`
	Offset  int                `json:"offset"`
	Limit   int                `json:"limit"`
	Jobs    []master.JobServer `json:"jobs"`
}

func (s *Server) consoleTargetJobs(_ http.ResponseWriter, r *http.Request) (any, error) {
	offset, limit, err := page(r.URL.Query(), defaultPage, maxPage)
	if err != nil {
		return nil, err
	}
	t, err := s.m.Target(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	js := s.m.JobsFor(t.ServerName)
	slices.SortFunc(js, func(a, b jobs.Job) int { return strings.Compare(strings.ToUpper(a.Name), strings.ToUpper(b.Name)) })
	out := TargetJobs{Server: t.ServerName, Matched: len(js), Offset: offset, Limit: limit, Jobs: []master.JobServer{}}
	lo, hi := window(len(js), offset, limit)
	for _, j := range js[lo:hi] {
		for _, row := range s.m.JobServers(j) {
			if strings.EqualFold(row.ServerName, t.ServerName) {
				out.Jobs = append(out.Jobs, row)
				break
			}
		}
	}
	return out, nil
}

// ConsoleJob answers GET /api/v1/console/jobs/{name}: the definition, each schedule's next
// runs in each of its targets' zones (at most 20 servers named per zone, the rest counted),
// the targets counted by last outcome and a page of them (?outcome= filters them).
type ConsoleJob struct {
	Job       jobs.Job             `json:"job"`
	Targets   int                  `json:"targets"`
	Pending   int                  `json:"pending"`
	Errors    int                  `json:"errors"`
	Outcomes  master.OutcomeCounts `json:"outcomes"`
	Schedules []ConsoleSchedule    `json:"schedules"`
	Matched   int                  `json:"matched"`
	Offset    int                  `json:"offset"`
	Limit     int                  `json:"limit"`
	Servers   []master.JobServer   `json:"servers"`
}

// ConsoleSchedule is a schedule with its next runs per zone.
type ConsoleSchedule struct {
	Name        string        `json:"name"`
	Enabled     bool          `json:"enabled"`
	Description string        `json:"description"`
	NextRuns    []time.Time   `json:"next_runs"`
	ByZone      []ConsoleZone `json:"by_zone"`
}

// ConsoleZone is ZoneRuns with its servers bounded: Count says how many share the zone.
type ConsoleZone struct {
	ZoneRuns
	Count int `json:"count"`
}

func (s *Server) consoleJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := page(q, defaultPage, maxPage)
	if err != nil {
		return nil, err
	}
	var want jobs.RunOutcome = -1
	if o := q.Get("outcome"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < int(jobs.OutcomeFailed) || n > int(jobs.OutcomeUnknown) {
			return nil, fmt.Errorf("%w: outcome %q: give a last outcome from 0 (failed) to 5 (not run yet)", master.ErrInvalid, o)
		}
		want = jobs.RunOutcome(n)
	}
	j, err := s.m.Catalog.Get(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	servers := s.m.JobServers(j)
	v := ConsoleJob{Job: j, Offset: offset, Limit: limit, Schedules: []ConsoleSchedule{}, Servers: []master.JobServer{}}
	v.Targets, v.Outcomes = s.m.JobCounts(j)
	c := s.m.JobInstructionCounts()[j.JobID]
	v.Pending, v.Errors = c.Pending, c.Errors
	zones := map[string]int{}
	for _, t := range s.m.TargetServers() {
		zones[strings.ToUpper(t.ServerName)] = t.TimeZoneAdjustment
	}
	offsetOf := func(name string) int { return zones[strings.ToUpper(name)] }
	now := time.Now()
	for _, sc := range j.Schedules {
		cs := ConsoleSchedule{Name: sc.Name, Enabled: sc.IsEnabled(), Description: sc.Describe(), NextRuns: nonNil(sc.NextN(now, time.UTC, 5)), ByZone: []ConsoleZone{}}
		for _, z := range runsByZone(sc, servers, offsetOf, now, 5) {
			cz := ConsoleZone{ZoneRuns: z, Count: len(z.Servers)}
			cz.Servers = cz.Servers[:min(len(cz.Servers), maxZoneNames)]
			cs.ByZone = append(cs.ByZone, cz)
		}
		v.Schedules = append(v.Schedules, cs)
	}
	slices.SortFunc(servers, func(a, b master.JobServer) int { return strings.Compare(a.ServerName, b.ServerName) })
	if want >= 0 {
		servers = slices.DeleteFunc(servers, func(js master.JobServer) bool { return js.LastRunOutcome != want })
	}
	v.Matched = len(servers)
	lo, hi := window(len(servers), offset, limit)
	v.Servers = append(v.Servers, servers[lo:hi]...)
	return v, nil
}

// JobVersion is one change of a job's definition, from the audit stream: when, who, the
// version it made (when the change names it) and its diff (jobs.Diff's lines).
type JobVersion struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`
	Action  string    `json:"action"`
	Changes []string  `json:"changes"`
}

// consoleVersions answers GET /api/v1/console/jobs/{name}/versions: the newest changes of
// the job's definition (at most 50), newest first, read from the newest 2,000 audit records.
// The catalog keeps only the current definition; the audit stream keeps each change's diff.
func (s *Server) consoleVersions(_ http.ResponseWriter, r *http.Request) (any, error) {
	j, err := s.m.Catalog.Get(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	recs, err := s.m.AuditLog(r.Context(), master.AuditFilter{Limit: versionsScan})
	if err != nil {
		return nil, err
	}
	out := []JobVersion{}
	for i := len(recs) - 1; i >= 0 && len(out) < maxVersions; i-- {
		a := recs[i]
		if a.Status >= 400 || !strings.EqualFold(a.Object, "job "+j.Name) || len(a.Changes) == 0 || strings.HasPrefix(a.Action, "POST /api/v1/jobs/"+url.PathEscape(j.Name)+"/st") {
			continue
		}
		out = append(out, JobVersion{Seq: a.Seq, Time: a.Time, Who: a.Who, Action: a.Action, Changes: a.Changes})
	}
	return map[string]any{"job": j.Name, "version_number": j.VersionNumber, "versions": out}, nil
}

// RunSummary is one run of a job on one server: its outcome (step 0) and steps counted.
type RunSummary struct {
	RunID      string         `json:"run_id"`
	Server     string         `json:"server"`
	RunStatus  jobs.RunStatus `json:"run_status"`
	Message    string         `json:"message"`
	RunStarted time.Time      `json:"run_started"`
	DurationMS int64          `json:"duration_ms"`
	Steps      int            `json:"steps"`
}

// consoleRuns answers GET /api/v1/console/jobs/{name}/runs: the newest runs (?limit=, at
// most 100; ?server= one target), newest first, without their output.
func (s *Server) consoleRuns(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	_, limit, err := page(url.Values{"limit": q["limit"]}, 20, maxRuns)
	if err != nil {
		return nil, err
	}
	rows, err := s.m.History(r.Context(), r.PathValue("name"), q.Get("server"), limit)
	if err != nil {
		return nil, err
	}
	out := []RunSummary{}
	idx := map[string]int{}
	for _, h := range rows {
		k := h.Server + "\x00" + h.RunID
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, RunSummary{RunID: h.RunID, Server: h.Server, RunStarted: h.RunStarted})
		}
		if h.StepID == 0 {
			out[i].RunStatus, out[i].Message, out[i].DurationMS, out[i].RunStarted = h.RunStatus, h.Message, h.DurationMS, h.RunStarted
		} else {
			out[i].Steps++
		}
	}
	return out, nil
}

// Run answers GET /api/v1/console/jobs/{name}/runs/{run}?server=S: a run's rows (step 0 the
// outcome, then each step attempt with its output), or, while it runs and no row has come
// yet, Running with the job's steps. The run id "last" names the target's last run.
type Run struct {
	Job     string            `json:"job"`
	Server  string            `json:"server"`
	RunID   string            `json:"run_id"`
	Running bool              `json:"running"`
	Rows    []jobs.HistoryRow `json:"rows"`
	Steps   []RunStep         `json:"steps"`
}

// RunStep names a step of the job's current definition.
type RunStep struct {
	StepID    int    `json:"step_id"`
	StepName  string `json:"step_name"`
	Subsystem string `json:"subsystem"`
}

func (s *Server) consoleRun(_ http.ResponseWriter, r *http.Request) (any, error) {
	server, runID := r.URL.Query().Get("server"), r.PathValue("run")
	if server == "" {
		return nil, fmt.Errorf("%w: name the run's target with ?server=NAME", master.ErrInvalid)
	}
	if runID == "" || len(runID) > 128 {
		return nil, fmt.Errorf("%w: run id %q: give the run_id of a run (at most 128 characters)", master.ErrInvalid, master.Truncate(runID, 140))
	}
	j, err := s.m.Catalog.Get(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	t, err := s.m.Target(server)
	if err != nil {
		return nil, err
	}
	out := Run{Job: j.Name, Server: t.ServerName, RunID: runID, Rows: []jobs.HistoryRow{}, Steps: []RunStep{}}
	for i, st := range j.Steps {
		out.Steps = append(out.Steps, RunStep{StepID: cmp.Or(st.StepID, i+1), StepName: st.StepName, Subsystem: st.Subsystem})
	}
	for _, js := range s.m.JobServers(j) {
		if !strings.EqualFold(js.ServerName, t.ServerName) {
			continue
		}
		if runID == "last" { // the grid links each cell to the target's last run
			if js.LastRunID == "" {
				return nil, &master.Coded{Code: 14262, Err: fmt.Errorf("job %s has not run on %s yet", j.Name, t.ServerName)}
			}
			runID, out.RunID = js.LastRunID, js.LastRunID
		}
		out.Running = js.LastRunID == runID && js.LastRunOutcome == jobs.OutcomeInProgress
	}
	rows, err := s.m.History(r.Context(), j.Name, t.ServerName, maxRuns)
	if err != nil {
		return nil, err
	}
	for _, h := range rows {
		if h.RunID == runID {
			out.Rows = append(out.Rows, h)
		}
	}
	if len(out.Rows) == 0 && !out.Running {
		return nil, &master.Coded{Code: 14262, Err: fmt.Errorf("run %q of job %s on %s is not among its newest %d runs", master.Truncate(runID, 128), j.Name, t.ServerName, maxRuns)}
	}
	return out, nil
}

// DownloadList answers GET /api/v1/console/downloadlist.
type DownloadList struct {
	Scanned int          `json:"scanned"` // newest rows read (at most 20,000)
	Matched int          `json:"matched"`
	Offset  int          `json:"offset"`
	Limit   int          `json:"limit"`
	Rows    []ledger.Row `json:"rows"`
}

// consoleDownloadList answers the download list page, newest first: ?server=, ?job= (the
// object's name, exact, any case), ?operation= (INSERT, DELETE, START, ...), ?status=
// (pending, downloaded, error), ?since= and ?until= (RFC 3339 or yyyy-mm-dd, on date
// posted), ?offset=, ?limit= (at most 500). It reads the newest 20,000 rows of the selection.
func (s *Server) consoleDownloadList(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := page(q, defaultPage, maxPage)
	if err != nil {
		return nil, err
	}
	f := ledger.Filter{Limit: ledgerScan}
	if name := q.Get("server"); name != "" {
		t, err := s.m.Target(name)
		if err != nil {
			return nil, err
		}
		f.Token = t.Token
	}
	switch st := q.Get("status"); st {
	case "", "downloaded":
	case "pending":
		f.Pending = true
	case "error":
		f.Errors = true
	default:
		return nil, fmt.Errorf("%w: status %q: filter by pending, downloaded or error", master.ErrInvalid, st)
	}
	since, err := parseDay(q.Get("since"), false)
	if err != nil {
		return nil, fmt.Errorf("since: %w", err)
	}
	until, err := parseDay(q.Get("until"), true)
	if err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	job, op := strings.TrimSpace(q.Get("job")), strings.ToUpper(strings.TrimSpace(q.Get("operation")))
	downloaded := q.Get("status") == "downloaded"
	rows := s.m.Ledger.List(f)
	out := DownloadList{Scanned: len(rows), Offset: offset, Limit: limit, Rows: []ledger.Row{}}
	var sel []ledger.Row
	for i := len(rows) - 1; i >= 0; i-- {
		row := rows[i]
		if (downloaded && row.Status != 1) || (job != "" && !strings.EqualFold(row.ObjectName, job)) ||
			(op != "" && !strings.EqualFold(row.OperationName, op)) ||
			(!since.IsZero() && row.DatePosted.Before(since)) || (!until.IsZero() && !row.DatePosted.Before(until)) {
			continue
		}
		sel = append(sel, row)
	}
	out.Matched = len(sel)
	lo, hi := window(len(sel), offset, limit)
	out.Rows = append(out.Rows, sel[lo:hi]...)
	return out, nil
}

// parseDay reads an RFC 3339 time or a yyyy-mm-dd day (UTC; as an upper bound, the end of
// that day).
func parseDay(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: give a date as 2026-01-31 or a time as 2026-01-31T08:00:00Z", master.ErrInvalid, master.Truncate(v, 64))
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
