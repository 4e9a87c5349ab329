package master

import (
	"time"

	"github.com/msx-project/msx/master/ledger"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
)

// TargetServer is one row of `msx targetserver list`: sp_help_targetserver's columns, plus msx's.
type TargetServer struct {
	ServerID           int        `json:"server_id"`
	ServerName         string     `json:"server_name"`
	Location           string     `json:"location"`
	TimeZoneAdjustment int        `json:"time_zone_adjustment"`
	EnlistDate         time.Time  `json:"enlist_date"`
	LastPollDate       *time.Time `json:"last_poll_date"`
	Status             int        `json:"status"`
	UnreadInstructions int        `json:"unread_instructions"`
	LocalTime          *time.Time `json:"local_time"`
	EnlistedBy         string     `json:"enlisted_by"`
	PollInterval       int        `json:"poll_interval"`
	// msx's own columns.
	Version        string   `json:"version"`
	Connected      bool     `json:"connected"`
	DownloadErrors int      `json:"download_errors"`
	Groups         []string `json:"groups,omitempty"`
	Jobs           int      `json:"jobs"`
	Database       string   `json:"database,omitempty"`
	// Disk is the state of the target's data directory from its last heartbeat (absent: the
	// agent does not report it); "full" also sets status flag 8.
	Disk *schemas.DiskState `json:"disk,omitempty"`
	// DriftRepairs counts the repairs drift repair posted to the target since the master started.
	DriftRepairs int `json:"drift_repairs,omitempty"`
}

// TargetServers returns the status of every target, ordered by server_id.
func (m *Master) TargetServers() []TargetServer {
	now := time.Now()
	ts := m.Reg.Targets()
	groups := m.groupsByMember()
	out := make([]TargetServer, 0, len(ts))
	for _, t := range ts {
		out = append(out, m.view(now, t, groups[t.ServerName]))
	}
	return out
}

// groupsByMember returns the groups of every member, in the order of Registry.Groups: one pass
// over the memberships instead of a look through every group per target.
func (m *Master) groupsByMember() map[string][]string {
	out := map[string][]string{}
	for _, g := range m.Reg.Groups() {
		for _, s := range g.Members {
			out[s] = append(out[s], g.Name)
		}
	}
	return out
}

// TargetServer returns the status of one target.
func (m *Master) TargetServer(name string) (TargetServer, bool) {
	t, ok := m.Reg.Target(name)
	if !ok {
		return TargetServer{}, false
	}
	return m.view(time.Now(), t, m.Reg.GroupsOf(t.ServerName)), true
}

func (m *Master) view(now time.Time, t registry.Target, groups []string) TargetServer {
	unread, errs := m.Ledger.Counts(t.Token)
	ts := TargetServer{
		ServerID: t.ServerID, ServerName: t.ServerName, Location: t.Location,
		TimeZoneAdjustment: t.TimeZoneAdjustment, EnlistDate: t.EnlistDate, UnreadInstructions: unread,
		EnlistedBy: t.EnlistedBy, PollInterval: t.PollInterval, Version: t.Version, DownloadErrors: errs,
		Groups: groups,
	}
	last, interval := t.EnlistDate, time.Duration(t.PollInterval)*time.Second
	if v, ok := m.live.Load(t.Token); ok {
		ls := v.(liveStatus)
		last = ls.when
		poll := ls.when
		ts.LastPollDate = &poll
		if ls.hb.IntervalMS > 0 {
			interval = time.Duration(ls.hb.IntervalMS) * time.Millisecond
		}
		// Estimated current time on the target: its clock as of now, in its own zone.
		lt := now.Add(time.Duration(ls.hb.ClockOffsetMS) * time.Millisecond).In(time.FixedZone("", ls.hb.TimeZoneAdjustment*60))
		ts.LocalTime = &lt
		ts.PollInterval = ls.hb.PollInterval
		ts.Version = ls.hb.Version
		ts.TimeZoneAdjustment = ls.hb.TimeZoneAdjustment
		ts.Jobs = ls.hb.Jobs
		ts.Database = ls.hb.Database
		ts.Disk = ls.hb.Disk
	}
	ts.DriftRepairs = m.repairsOf(t.Token)
	ts.Status = ledger.Flags(now, last, interval, errs)
	if ts.Disk != nil && ts.Disk.State == schemas.DiskFull {
		ts.Status |= ledger.StatusDiskFull
	}
	ts.Connected = ts.LastPollDate != nil && ts.Status&ledger.StatusSuspectedOffline == 0
	return ts
}
