package schemas

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// TypeOutputChunk is the type of OutputChunk.
const TypeOutputChunk = "msx.output.chunk.v1"

// Kinds of OutputChunk.
const (
	// OutputText carries output a running step printed.
	OutputText = "output"
	// OutputStepEnd says a step attempt ended (RunStatus is its status).
	OutputStepEnd = "step_end"
	// OutputRunEnd says the run ended (RunStatus is the job's status); nothing follows it.
	OutputRunEnd = "run_end"
)

// Bounds of an OutputChunk: the text of one chunk, and the whole message as it crosses the bus
// (JSON escapes may make the text up to six times longer).
const (
	MaxOutputChunkText  = 16 << 10
	MaxOutputChunkBytes = 8 * MaxOutputChunkText
)

// OutputChunk is one message of a running job's live output, published by a target on core NATS
// at bus.OutputSubject(target, job_id): best effort, never stored (history keeps the full
// output). The target is the subject's token, never a field: a reader takes it from there.
//
// Seq numbers every message of a run from 1, so a reader sees a gap where the bus lost one;
// Dropped counts the bytes of output the target dropped just before this chunk (its rate or
// buffer bound), so a reader can say so where it happened. Text is masked as history is (the
// job's secret variables, a proxy's secrets).
type OutputChunk struct {
	Type     string `json:"type"`
	Kind     string `json:"kind"`
	JobID    string `json:"job_id"`
	JobName  string `json:"job_name"`
	RunID    string `json:"run_id"`
	Seq      uint64 `json:"seq"`
	StepID   int    `json:"step_id,omitempty"`
	StepName string `json:"step_name,omitempty"`
	// Retry is the attempt's retries_attempted (0 for its first attempt).
	Retry   int    `json:"retry,omitempty"`
	Text    string `json:"text,omitempty"`
	Dropped int64  `json:"dropped,omitempty"`
	// RunStatus is the step attempt's (step_end) or the job's (run_end) run_status.
	RunStatus int `json:"run_status,omitempty"`
	// Sent is when the target published the chunk.
	Sent time.Time `json:"sent"`
}

// MsgType is TypeOutputChunk.
func (OutputChunk) MsgType() string { return TypeOutputChunk }

// ErrOutputChunk wraps every reason Validate refuses a chunk.
var ErrOutputChunk = errors.New("invalid output chunk")

// Validate checks what a reader relies on: the type and kind, a job and run, a sequence number,
// text within MaxOutputChunkText and valid UTF-8, and no negative count.
func (c *OutputChunk) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrOutputChunk, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Type != TypeOutputChunk:
		return bad("type %q, want %q", c.Type, TypeOutputChunk)
	case c.Kind != OutputText && c.Kind != OutputStepEnd && c.Kind != OutputRunEnd:
		return bad("kind %q is not output, step_end or run_end", c.Kind)
	case c.JobID == "" || c.RunID == "" || len(c.JobID) > 128 || len(c.RunID) > 128 || len(c.JobName) > 128 || len(c.StepName) > 128:
		return bad("job_id and run_id must be 1 to 128 characters, job_name and step_name at most 128")
	case c.Seq == 0:
		return bad("seq must start at 1")
	case len(c.Text) > MaxOutputChunkText:
		return bad("text of %d bytes, more than %d", len(c.Text), MaxOutputChunkText)
	case !utf8.ValidString(c.Text):
		return bad("text is not valid UTF-8")
	case c.Dropped < 0 || c.StepID < 0 || c.Retry < 0:
		return bad("negative dropped, step_id or retry")
	}
	return nil
}
