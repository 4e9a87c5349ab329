package leader

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TermType names a term marker on the wire.
const TermType = "msx.term.v1"

// Term is the marker a new leader writes on a stream's fence subject when it takes over.
type Term struct {
	Type   string    `json:"type"`
	Term   uint64    `json:"term"`
	Master string    `json:"master"`
	Time   time.Time `json:"time"`
}

// Fence makes a stream refuse the writes of a deposed leader. A leader raises it when it takes
// over: it writes a Term marker on the stream's fence subject and remembers the marker's
// sequence. Every write it makes through Msg then expects that sequence to be the last one on
// the fence subject (headers Nats-Expected-Last-Subject-Sequence and
// Nats-Expected-Last-Subject-Sequence-Subject); once a later leader has raised the fence, the
// stream refuses them with JetStream error 10071 (10164 on a replicated stream). A master that never
// raised it has its writes refused as soon as any leader has.
//
// On a replicated stream (R3), nats-server 2.15 also refuses a write whose fence subject has
// another fenced write still being replicated (10164): fenced writes to one stream must be sent
// one at a time. Use a fence for sequential writes, not for pipelined fan-outs.
type Fence struct {
	js      jetstream.JetStream
	subject string
	seq     atomic.Uint64
}

// NewFence returns the fence of the stream that stores subject (which no other writer uses).
func NewFence(js jetstream.JetStream, subject string) *Fence { return &Fence{js: js, subject: subject} }

// Raise writes the marker of term by master and fences the stream to it.
func (f *Fence) Raise(ctx context.Context, term uint64, master string) error {
	b, err := json.Marshal(Term{Type: TermType, Term: term, Master: master, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	ack, err := f.js.Publish(ctx, f.subject, b)
	if err != nil {
		return fmt.Errorf("raise fence %s for term %d: %w", f.subject, term, err)
	}
	f.seq.Store(ack.Sequence)
	return nil
}

// Msg returns a message on subj that the stream stores only while this fence is the last one
// raised.
func (f *Fence) Msg(subj string, data []byte) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Data = data
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(f.seq.Load(), 10))
	m.Header.Set(expectedLastSubjSeqSubjHeader, f.subject)
	return m
}

// expectedLastSubjSeqSubjHeader makes the expected last sequence refer to another subject of
// the stream (nats-server 2.11 and later).
const expectedLastSubjSeqSubjHeader = "Nats-Expected-Last-Subject-Sequence-Subject"

// Fenced reports whether err is a stream's refusal of a write fenced to an older term.
func Fenced(err error) bool { return isWrongLastSeq(err) }
