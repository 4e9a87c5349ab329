package runner

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/msx-project/msx/schemas/jobs"
)

// LiveOutput receives the output of a run's steps while they run (RunInfo.Live): the target
// streams it over the bus. What it is given is masked as history is (the job's secret
// variables; a proxy's secrets by the proxy executor), and it must never block a step: a
// writer that cannot keep up drops and counts.
type LiveOutput interface {
	// Step is called when an attempt of step starts (retry: its retries_attempted) and returns
	// where its output goes; the Runner closes it when the attempt ends, with the attempt's
	// status.
	Step(step jobs.Step, retry int) LiveStep
}

// LiveStep is where one step attempt's live output goes.
type LiveStep interface {
	io.Writer
	// End is called once, after the last Write, with the attempt's run status.
	End(status jobs.RunStatus)
}

// liveHold is the most bytes of an unfinished line LiveMask holds back, waiting for its end.
const liveHold = 4 << 10

// LiveMask is an io.Writer that masks secrets in a stream of output before passing it on to w:
// what it passes on is what mask makes of whole lines (a line is held until it ends, or until
// liveHold bytes wait), and never a part of a secret value: a value that a write cuts in two is
// held until it is whole, so mask sees it. Flush passes on what is held. Safe for concurrent
// use.
type LiveMask struct {
	mu      sync.Mutex
	w       io.Writer
	mask    func(string) string
	secrets [][]byte
	pending []byte
}

// NewLiveMask returns a LiveMask writing to w. secrets are the values mask replaces (values
// shorter than 2 bytes cannot be cut and need not be listed).
func NewLiveMask(w io.Writer, secrets []string, mask func(string) string) *LiveMask {
	m := &LiveMask{w: w, mask: mask}
	for _, s := range secrets {
		if len(s) > 1 {
			m.secrets = append(m.secrets, []byte(s))
		}
	}
	return m
}

// Write takes p and passes on what is safe to; it never fails.
func (m *LiveMask) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, p...)
	cut := bytes.LastIndexByte(m.pending, '\n') + 1
	if cut == 0 && len(m.pending) >= liveHold {
		cut = len(m.pending)
	}
	cut = m.safeCut(cut)
	if cut > 0 {
		m.emit(cut)
	}
	return len(p), nil
}

// Flush passes on everything held, masked.
func (m *LiveMask) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) > 0 {
		m.emit(len(m.pending))
	}
}

func (m *LiveMask) emit(cut int) {
	s := m.mask(string(m.pending[:cut]))
	m.pending = append(m.pending[:0], m.pending[cut:]...)
	_, _ = io.WriteString(m.w, s)
}

// safeCut moves cut so that no secret value is cut: first forward to the end of a value that
// starts before it and ends after it (all in the buffer), then back to the start of a value that
// the pending bytes end in the middle of (it may still be completed) or that still straddles it,
// and back to the start of an unfinished UTF-8 character. The backward moves only decrease cut,
// so overlapping values cannot make it loop.
func (m *LiveMask) safeCut(cut int) int {
	buf := m.pending
	for _, s := range m.secrets { // forward, once per value: values do not grow the buffer
		for i := max(cut-len(s)+1, 0); i < cut; i++ {
			if bytes.HasPrefix(buf[i:], s) {
				cut = max(cut, i+len(s))
				break
			}
		}
	}
	for changed := true; changed && cut > 0; {
		changed = false
		for _, s := range m.secrets {
			// A value the buffer ends in the middle of: a proper prefix of s at its end.
			for k := min(len(s)-1, len(buf)); k > 0; k-- {
				if i := len(buf) - k; i < cut && bytes.Equal(buf[i:], s[:k]) {
					cut, changed = i, true
					break
				}
			}
			// A whole value that straddles cut.
			for i := max(cut-len(s)+1, 0); i < cut; i++ {
				if bytes.HasPrefix(buf[i:], s) && i+len(s) > cut {
					cut, changed = i, true
					break
				}
			}
		}
	}
	for cut > 0 && cut < len(buf) && !utf8.RuneStart(buf[cut]) {
		cut--
	}
	return cut
}

// liveWriter returns where an executor writes output besides its capture: w when live is nil,
// both otherwise. The live writer never fails, so io.MultiWriter always writes both.
func liveWriter(w io.Writer, live io.Writer) io.Writer {
	if live == nil {
		return w
	}
	return io.MultiWriter(w, live)
}
