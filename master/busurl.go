package master

// BusURL returns the URL of the NATS server the master is connected to, without credentials:
// what `msx token create` tells a new target to dial. Empty when the master is not connected.
func (m *Master) BusURL() string {
	if m.nc == nil {
		return ""
	}
	return m.nc.ConnectedUrlRedacted()
}
