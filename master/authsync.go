package master

import (
	"time"

	"github.com/msx-project/msx/master/registry"
)

// keyGone keeps this master's NATS node in step when another master deletes a target or
// enlists it again with a new key (the registry watch reports it): the old key is revoked here
// too, so that it is refused on every node whichever master handled the change. It gets the
// same grace the handling master gives a DEFECT: the key stays valid until the target reports
// its DEFECT (onApplied, which every master follows) or DefectGrace has passed, since a
// deleted target connected to this node must still download it. Lookup admits the key for
// that time through defecting, as on the handling master.
func (m *Master) keyGone(t registry.Target) {
	if m.cfg.Auth == nil || t.PublicKey == "" {
		return
	}
	if _, own := m.removedHere.Load(t.PublicKey); own {
		// This master's own delete, seen by the watch before the registry dropped it locally:
		// removeTarget revokes it (at once, or after the DEFECT) itself.
		return
	}
	m.defecting.Store(t.PublicKey, t.Token)
	time.AfterFunc(m.cfg.DefectGrace, func() { m.endDefect(t.PublicKey) })
	m.log.Info("target key gone through another master: revoked here after its DEFECT or the grace", "server", t.ServerName, "grace", m.cfg.DefectGrace)
}

// removingHere marks a key this master is about to take away itself (removeTarget), so that
// keyGone does not give it a second grace; the mark goes after a minute.
func (m *Master) removingHere(pub string) {
	if pub == "" {
		return
	}
	m.removedHere.Store(pub, struct{}{})
	time.AfterFunc(time.Minute, func() { m.removedHere.Delete(pub) })
}
