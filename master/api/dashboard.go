package api

import (
	"net/http"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/ledger"
)

// Dashboard is everything the web dashboard draws, in one answer.
type Dashboard struct {
	Master  string                `json:"master"`
	Targets []master.TargetServer `json:"targets"`
	Jobs    []DashboardJob        `json:"jobs"`
	Errors  []ledger.Row          `json:"errors"`
	Events  []master.EventRecord  `json:"events"`
}

// DashboardJob is a job with each target's last outcome.
type DashboardJob struct {
	Name          string             `json:"name"`
	VersionNumber int                `json:"version_number"`
	Pending       int                `json:"pending"`
	Servers       []master.JobServer `json:"servers"`
}

func (s *Server) dashboard(_ http.ResponseWriter, r *http.Request) (any, error) {
	d := Dashboard{Master: s.m.Name(), Targets: s.m.TargetServers(), Jobs: []DashboardJob{},
		Errors: s.m.Ledger.List(ledger.Filter{Errors: true, Limit: 20})}
	if d.Targets == nil {
		d.Targets = []master.TargetServer{}
	}
	counts := s.m.JobInstructionCounts()
	for _, j := range s.m.Catalog.All() {
		pending := counts[j.JobID].Pending
		servers := s.m.JobServers(j)
		if servers == nil {
			servers = []master.JobServer{}
		}
		d.Jobs = append(d.Jobs, DashboardJob{Name: j.Name, VersionNumber: j.VersionNumber, Pending: pending, Servers: servers})
	}
	ev, err := s.m.Events(r.Context(), master.EventFilter{Limit: 20})
	if err != nil {
		return nil, err
	}
	d.Events = ev
	return d, nil
}
