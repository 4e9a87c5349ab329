package api

import (
	"net/http"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
)

// Dashboard is everything the web dashboard draws, in one answer. It costs what a screen
// shows: the targets summarised, each job's targets counted by last outcome, and the servers
// grid of one job only, when asked for with ?job=NAME.
type Dashboard struct {
	Master  string         `json:"master"`
	Targets TargetsSummary `json:"targets"`
	Jobs    []DashboardJob `json:"jobs"`
	// Grid is the servers grid (each target's last outcome) of the job named by ?job=.
	Grid   *DashboardGrid       `json:"grid,omitempty"`
	Errors []ledger.Row         `json:"errors"`
	Events []master.EventRecord `json:"events"`
}

// maxListedTargets caps TargetsSummary.Listed.
const maxListedTargets = 100

// TargetsSummary counts the targets by status and lists those that need a look first.
type TargetsSummary struct {
	Total            int `json:"total"`
	Online           int `json:"online"` // not suspected offline
	SuspectedOffline int `json:"suspected_offline"`
	Blocked          int `json:"blocked"`
	DiskFull         int `json:"disk_full"`
	// Listed holds at most 100 targets: those whose status is not normal (suspected offline,
	// blocked, disk full) first, then normal ones, each by server_id; Unlisted counts the rest.
	Listed   []master.TargetServer `json:"listed"`
	Unlisted int                   `json:"unlisted"`
}

// DashboardJob is a job with its targets counted by last outcome.
type DashboardJob struct {
	Name          string               `json:"name"`
	VersionNumber int                  `json:"version_number"`
	Pending       int                  `json:"pending"`
	Targets       int                  `json:"targets"`
	Outcomes      master.OutcomeCounts `json:"outcomes"`
}

// DashboardGrid is one job's last outcome on each of its targets.
type DashboardGrid struct {
	Job     string             `json:"job"`
	Servers []master.JobServer `json:"servers"`
}

func summariseTargets(ts []master.TargetServer) TargetsSummary {
	s := TargetsSummary{Total: len(ts), Listed: []master.TargetServer{}}
	normal := func(t master.TargetServer) bool { return t.Status == ledger.StatusNormal }
	for _, t := range ts {
		if t.Status&ledger.StatusSuspectedOffline != 0 {
			s.SuspectedOffline++
		} else {
			s.Online++
		}
		if t.Status&ledger.StatusBlocked != 0 {
			s.Blocked++
		}
		if t.Status&ledger.StatusDiskFull != 0 {
			s.DiskFull++
		}
	}
	// ts is ordered by server_id: a stable partition keeps that order in each part.
	for _, want := range []bool{false, true} {
		for _, t := range ts {
			if normal(t) == want && len(s.Listed) < maxListedTargets {
				s.Listed = append(s.Listed, t)
			}
		}
	}
	s.Unlisted = len(ts) - len(s.Listed)
	return s
}

func (s *Server) dashboard(_ http.ResponseWriter, r *http.Request) (any, error) {
	d := Dashboard{Master: s.m.Name(), Targets: summariseTargets(s.m.TargetServers()), Jobs: []DashboardJob{},
		Errors: nonNil(s.m.Ledger.List(ledger.Filter{Errors: true, Limit: 20}))}
	if name := r.URL.Query().Get("job"); name != "" {
		j, err := s.m.Catalog.Get(name)
		if err != nil {
			return nil, err
		}
		g := &DashboardGrid{Job: j.Name, Servers: s.m.JobServers(j)}
		if g.Servers == nil {
			g.Servers = []master.JobServer{}
		}
		d.Grid = g
	}
	counts := s.m.JobInstructionCounts()
	for _, j := range s.m.Catalog.All() {
		dj := DashboardJob{Name: j.Name, VersionNumber: j.VersionNumber, Pending: counts[j.JobID].Pending}
		dj.Targets, dj.Outcomes = s.m.JobCounts(j)
		d.Jobs = append(d.Jobs, dj)
	}
	ev, err := s.m.Events(r.Context(), master.EventFilter{Limit: 20})
	if err != nil {
		return nil, err
	}
	d.Events = nonNil(ev)
	return d, nil
}
