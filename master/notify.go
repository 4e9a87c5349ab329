package master

import (
	"context"
	"strings"
	"time"

	"github.com/msx-project/msx/master/notify"
	"github.com/msx-project/msx/schemas/jobs"
)

// startNotify starts the notification service (operators, alerts, silences, job
// notifications): every master serves its API; only the leader sends (see master/notify).
func (m *Master) startNotify(ctx context.Context) error {
	cfg := m.cfg.Notify
	cfg.Replicas = m.cfg.Layout.WithDefaults().Replicas
	cfg.MasterName = m.cfg.Name
	if cfg.Logger == nil {
		cfg.Logger = m.cfg.Logger
	}
	if cfg.Dashboard == "" {
		cfg.Dashboard = m.cfg.API
	}
	svc, err := notify.Start(ctx, m.js, cfg, notify.Deps{
		Leading: m.Leading,
		Job:     m.Catalog.ByName,
		Server: func(tok string) (string, bool) {
			t, ok := m.Reg.TargetByToken(tok)
			return t.ServerName, ok
		},
		InGroup: func(group, server string) bool {
			for _, g := range m.Reg.GroupsOf(server) {
				if strings.EqualFold(g, group) {
					return true
				}
			}
			return false
		},
		StartJob: func(ctx context.Context, job, server string) error {
			_, err := m.StartJob(ctx, job, server, false)
			return err
		},
		Jobs:    m.Catalog.All,
		Targets: m.notifyTargets,
	})
	if err != nil {
		return err
	}
	m.Notify = svc
	return nil
}

// notifyTargets tells the notifier, for missed runs, when each target of j last started it,
// when it was last heard from and its time zone.
func (m *Master) notifyTargets(j jobs.Job) []notify.TargetRun {
	var out []notify.TargetRun
	for _, js := range m.JobServers(j) {
		tr := notify.TargetRun{Server: js.ServerName, Zone: time.UTC, LastStarted: js.Started}
		if ts, ok := m.TargetServer(js.ServerName); ok {
			tr.Zone = time.FixedZone("", ts.TimeZoneAdjustment*60)
			if ts.LastPollDate != nil {
				tr.LastSeen = *ts.LastPollDate
			}
		}
		out = append(out, tr)
	}
	return out
}
