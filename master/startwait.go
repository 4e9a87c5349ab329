package master

import (
	"context"
	"time"
)

// Outcomes of a START or STOP that StartReports gives, per target.
const (
	StartStarted     = "started"     // the target applied a START: the run started
	StartStopped     = "stopped"     // the target applied a STOP: the run was canceled
	StartRefused     = "refused"     // the target refused it, with an error code (22022: already running)
	StartUnreachable = "unreachable" // no report from the target before the wait ended
)

// StartReport is what became of a START or STOP on one target.
type StartReport struct {
	TargetServer string `json:"target_server"`
	InstanceID   uint64 `json:"instance_id"`
	Operation    string `json:"operation"`
	Outcome      string `json:"outcome"` // StartStarted, StartStopped, StartRefused or StartUnreachable
	ErrorCode    int    `json:"error_code,omitempty"`
	Message      string `json:"message,omitempty"`
}

// startPoll is how often WaitStarted looks at the download list.
const startPoll = 100 * time.Millisecond

// WaitStarted waits until each posted instruction has its target's report in the download
// list, or ctx ends, and says per target whether it started, was refused (with the target's
// error code and message) or did not answer (unreachable: the target is down, or slower than
// the wait). It reads the download list only; no lock is held while it waits.
func (m *Master) WaitStarted(ctx context.Context, posted []Posted) []StartReport {
	out := make([]StartReport, len(posted))
	for i, p := range posted {
		out[i] = StartReport{TargetServer: p.TargetServer, InstanceID: p.InstanceID, Operation: p.Operation, Outcome: StartUnreachable}
	}
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for {
		left := 0
		for i := range out {
			if out[i].Outcome != StartUnreachable {
				continue
			}
			row, ok := m.Ledger.Row(out[i].InstanceID)
			switch {
			case !ok || row.Status == 0:
				left++
			case row.ErrorCode != 0 || row.ErrorMessage != "":
				out[i].Outcome, out[i].ErrorCode, out[i].Message = StartRefused, row.ErrorCode, row.ErrorMessage
			case out[i].Operation == "STOP":
				out[i].Outcome = StartStopped
			default:
				out[i].Outcome = StartStarted
			}
		}
		if left == 0 {
			return out
		}
		select {
		case <-ctx.Done():
			for i := range out {
				if out[i].Outcome == StartUnreachable {
					out[i].Message = m.silence(out[i].TargetServer)
				}
			}
			return out
		case <-tick.C:
		}
	}
}

// silence explains why a target did not answer in time.
func (m *Master) silence(server string) string {
	t, ok := m.TargetServer(server)
	switch {
	case !ok:
		return "the target is no longer enlisted"
	case t.LastPollDate == nil:
		return "no report in time; the target has never sent a heartbeat"
	}
	return "no report in time; last heartbeat " + t.LastPollDate.UTC().Format(time.DateTime) + " UTC"
}
