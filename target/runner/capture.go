package runner

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
)

// Capture is an io.Writer that keeps at most limit bytes of what is written to it: the first
// half and the last half, so that both how a step started and how it ended (the error, usually)
// survive. It is safe for concurrent use, so a process's stdout and stderr can share one.
type Capture struct {
	mu      sync.Mutex
	headCap int
	tailCap int
	head    []byte
	tail    []byte // ring buffer of tailCap bytes once full
	pos     int    // next write index in tail once full
	total   int64
}

// NewCapture returns a Capture that keeps at most limit bytes (at least 2).
func NewCapture(limit int) *Capture {
	limit = max(limit, 2)
	return &Capture{headCap: limit / 2, tailCap: limit - limit/2}
}

// Write keeps what fits and counts the rest; it never fails.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	c.total += int64(n)
	if room := c.headCap - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= c.tailCap {
		c.tail = append(c.tail[:0], p[len(p)-c.tailCap:]...)
		c.pos = 0
		return n, nil
	}
	if room := c.tailCap - len(c.tail); room > 0 {
		k := min(room, len(p))
		c.tail = append(c.tail, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(c.tail[c.pos:], p)
		p = p[k:]
		c.pos = (c.pos + k) % c.tailCap
	}
	return n, nil
}

// Len returns how many bytes were written, kept or not.
func (c *Capture) Len() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// String returns what was kept; when bytes were dropped, a line
// "[output truncated: N bytes omitted]" stands where they were, N the exact count.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := len(c.head) + len(c.tail)
	if int64(kept) == c.total {
		return string(c.head) + string(c.tail[c.pos:]) + string(c.tail[:c.pos])
	}
	return string(c.head) + marker(c.total-int64(kept)) + string(c.tail[c.pos:]) + string(c.tail[:c.pos])
}

// marker is the line that stands for n omitted bytes.
func marker(n int64) string { return fmt.Sprintf("\n[output truncated: %d bytes omitted]\n", n) }

// markerRE finds a truncation marker in output that a Capture already bounded.
var markerRE = regexp.MustCompile(`\n\[output truncated: (\d+) bytes omitted\]\n`)

// bound returns s, or its first and last bytes around a truncation marker when it is longer
// than limit. A marker s already carries (an executor's Capture) is not counted as output: the
// bytes it stands for are added to the new marker's count, so the count stays exact.
func bound(s string, limit int) string {
	var omitted int64
	text := s
	if loc := markerRE.FindStringSubmatchIndex(s); loc != nil {
		omitted, _ = strconv.ParseInt(s[loc[2]:loc[3]], 10, 64)
		text = s[:loc[0]] + s[loc[1]:]
	}
	if len(text) <= limit {
		return s
	}
	c := NewCapture(limit)
	_, _ = c.Write([]byte(text))
	c.total += omitted
	return c.String()
}
