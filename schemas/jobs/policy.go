package jobs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/problem"
)

// Overlap policies: what a target does when a schedule fires while the job's previous run is
// still running.
const (
	// OverlapSkip skips the firing (SQL Server Agent's behaviour, the default): the target
	// reports it as a history row (run_status 3, skipped) and an event.
	OverlapSkip = "skip"
	// OverlapQueue lets at most one firing wait; it starts when the running run ends. A
	// firing while one already waits is skipped.
	OverlapQueue = "queue"
	// OverlapReplace stops the running run (run_status 3, "replaced") and starts the new one.
	OverlapReplace = "replace"
)

// Catch-up policies: what a target does, when its agent starts, with the firings it missed
// while it was stopped.
const (
	// CatchUpNone runs none of them (SQL Server Agent's behaviour, the default).
	CatchUpNone = "none"
	// CatchUpOnce runs the job once for the latest missed firing inside the window.
	CatchUpOnce = "once"
	// CatchUpAll runs the job once for each missed firing inside the window, one after the
	// other, oldest first (at most MaxCatchUp).
	CatchUpAll = "all"
)

// DefaultCatchUpWindow is how far back a catch-up looks when catch_up_window is not set.
const DefaultCatchUpWindow = 24 * time.Hour

// MaxCatchUpWindow bounds catch_up_window: an agent stopped for longer than that has more to
// do than make up runs.
const MaxCatchUpWindow = 7 * 24 * time.Hour

// MaxCatchUp bounds the runs one catch-up makes for a job (catch_up: all); older missed
// firings are reported as skipped.
const MaxCatchUp = 100

// RunPolicy is msx's addition to SQL Server Agent's job: how a target treats overlapping and
// missed firings, and which job it starts after a run. Job embeds it, so its fields sit at the
// top level of a job document. The zero value is SQL Server Agent's behaviour.
type RunPolicy struct {
	// Overlap is "skip" (default), "queue" or "replace"; see the Overlap* constants.
	Overlap string `json:"overlap,omitempty"`
	// CatchUp is "none" (default), "once" or "all"; see the CatchUp* constants.
	CatchUp string `json:"catch_up,omitempty"`
	// CatchUpWindow is how far back a catch-up looks (default DefaultCatchUpWindow): missed
	// firings older than that are not run.
	CatchUpWindow Duration `json:"catch_up_window,omitempty"`
	// OnSuccessStart names a job the target starts, on the same target, after a run of this
	// job succeeds.
	OnSuccessStart string `json:"on_success_start,omitempty"`
	// OnFailureStart names a job the target starts, on the same target, after a run of this
	// job fails.
	OnFailureStart string `json:"on_failure_start,omitempty"`
	// DisabledOn names target servers on which the job is disabled while it stays enabled on
	// the others (`msx job disable NAME --server S`); each receives the job with enabled
	// false (ForTarget).
	DisabledOn []string `json:"disabled_on,omitempty"`
}

// ForTarget returns the job as the target server runs it: disabled when the server is in
// DisabledOn (compared as canonical names), otherwise the job itself.
func (j Job) ForTarget(server string) Job {
	if !j.DisabledOnServer(server) {
		return j
	}
	c := j.Clone()
	off := false
	c.Enabled = &off
	return c
}

// DisabledOnServer reports whether the server is in DisabledOn.
func (j Job) DisabledOnServer(server string) bool {
	want, err := CanonicalServerName(server)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(j.DisabledOn, func(s string) bool {
		c, err := CanonicalServerName(s)
		return err == nil && c == want
	})
}

// OverlapPolicy returns the job's overlap policy, OverlapSkip when it is not set.
func (p RunPolicy) OverlapPolicy() string {
	if p.Overlap == "" {
		return OverlapSkip
	}
	return p.Overlap
}

// CatchUpPolicy returns the job's catch-up policy, CatchUpNone when it is not set.
func (p RunPolicy) CatchUpPolicy() string {
	if p.CatchUp == "" {
		return CatchUpNone
	}
	return p.CatchUp
}

// Window returns the catch-up window, DefaultCatchUpWindow when it is not set.
func (p RunPolicy) Window() time.Duration {
	if p.CatchUpWindow <= 0 {
		return DefaultCatchUpWindow
	}
	return time.Duration(p.CatchUpWindow)
}

// validatePolicy reports values of the run policy that a target could not follow.
func validatePolicy(l *problem.List, j Job) {
	p := j.RunPolicy
	if p.Overlap != "" && !slices.Contains([]string{OverlapSkip, OverlapQueue, OverlapReplace}, p.Overlap) {
		l.Add("overlap", codeInvalidValue, "The specified 'overlap' ('%s') is invalid (valid values are: skip, queue, replace)", p.Overlap)
	}
	if p.CatchUp != "" && !slices.Contains([]string{CatchUpNone, CatchUpOnce, CatchUpAll}, p.CatchUp) {
		l.Add("catch_up", codeInvalidValue, "The specified 'catch_up' ('%s') is invalid (valid values are: none, once, all)", p.CatchUp)
	}
	switch {
	case p.CatchUpWindow < 0:
		l.Add("catch_up_window", 0, "the catch-up window is negative; give a duration such as \"2h\", or leave it out for %s", DefaultCatchUpWindow)
	case time.Duration(p.CatchUpWindow) > MaxCatchUpWindow:
		l.Add("catch_up_window", 0, "the catch-up window is %s; the limit is 168h (7 days)", time.Duration(p.CatchUpWindow))
	}
	if p.CatchUpWindow != 0 && p.CatchUpPolicy() == CatchUpNone {
		l.Add("catch_up_window", 0, "catch_up_window is set but catch_up is none: set catch_up to once or all, or remove the window")
	}
	for i, s := range p.DisabledOn {
		if err := ValidServerName(s); err != nil {
			l.Add(fmt.Sprintf("disabled_on[%d]", i), 0, "%s", err.Error())
		}
	}
	for _, f := range []struct{ field, name string }{{"on_success_start", p.OnSuccessStart}, {"on_failure_start", p.OnFailureStart}} {
		switch {
		case f.name == "":
		case strings.EqualFold(strings.TrimSpace(f.name), strings.TrimSpace(j.Name)):
			l.Add(f.field, codeStepRefSelf, "a job cannot start itself (%s names %q): use a schedule or a retry instead", f.field, f.name)
		default:
			checkName(l, f.field, "job", f.name)
		}
	}
}

// Chain returns the job a run with the given outcome starts next on the same target
// (on_success_start or on_failure_start), "" when none.
func (p RunPolicy) Chain(status RunStatus) string {
	switch status {
	case RunSucceeded:
		return strings.TrimSpace(p.OnSuccessStart)
	case RunFailed:
		return strings.TrimSpace(p.OnFailureStart)
	}
	return ""
}

// ChainCycle returns a cycle among the chains of the jobs (on_success_start,
// on_failure_start) as the names of its jobs in order, the first repeated at the end
// ("A", "B", "A"), or nil when every chain ends. Names compare ignoring case; a chain to a job
// not in the list ends there.
func ChainCycle(list []Job) []string {
	byName := make(map[string]Job, len(list))
	for _, j := range list {
		byName[key(j.Name)] = j
	}
	// Depth-first search, colouring jobs: 1 on the current path, 2 done.
	state := map[string]int{}
	var path []string
	var visit func(k string) []string
	visit = func(k string) []string {
		state[k] = 1
		path = append(path, k)
		j := byName[k]
		for _, n := range []string{j.OnSuccessStart, j.OnFailureStart} {
			n = key(n)
			if _, ok := byName[n]; !ok {
				continue
			}
			switch state[n] {
			case 1:
				return append(slices.Clone(path[slices.Index(path, n):]), n)
			case 0:
				if c := visit(n); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[k] = 2
		return nil
	}
	for _, j := range list {
		if state[key(j.Name)] != 0 {
			continue
		}
		path = path[:0]
		if c := visit(key(j.Name)); c != nil {
			names := make([]string, len(c))
			for i, n := range c {
				names[i] = byName[n].Name
			}
			return names
		}
	}
	return nil
}
