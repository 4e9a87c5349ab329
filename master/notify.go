package master

import (
	"context"
	"strings"

	"github.com/msx-project/msx/master/notify"
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
	})
	if err != nil {
		return err
	}
	m.Notify = svc
	return nil
}
