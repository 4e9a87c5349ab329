package master

import "time"

// SetMetricsClock makes the master's metrics computed as of now() instead of the time of the
// scrape (for the missed-run series).
func SetMetricsClock(m *Master, now func() time.Time) {
	m.Metrics()
	m.metrics.c.now = now
}
