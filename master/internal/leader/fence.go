package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
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
// sequence. Every write it makes through the fence then expects that sequence to be the last one on
// the fence subject (headers Nats-Expected-Last-Subject-Sequence and
// Nats-Expected-Last-Subject-Sequence-Subject); once a later leader has raised the fence, the
// stream refuses them with JetStream error 10071. A master that never raised it has its writes
// refused as soon as any leader has.
//
// On a replicated stream (R3), nats-server 2.15 also refuses, with 10164, a fenced write while
// another write on the fence subject is still being replicated (a marker, or another fenced write
// of this leader). That refusal is transient: Publish, PublishBatch, KVPut and KVDelete send the
// write again until it is stored or refused for good (10071), so concurrent writers of one leader
// need no lock. A fan-out is pipelined as atomic batches (PublishBatch): one fenced check per
// batch of up to MaxBatch messages, and the whole batch stored or refused.
//
// A KV bucket is a stream: NewKVFence puts the fence subject in the bucket itself, under key
// FenceKey, which every reader and watcher of the bucket must skip.
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

// NewKVFence returns the fence of KV bucket bucket: its markers are the bucket's key FenceKey.
func NewKVFence(js jetstream.JetStream, bucket string) *Fence {
	return &Fence{js: js, subject: kvSubject(bucket, FenceKey)}
}

// FenceKey is the key of a KV bucket's fence markers (see NewKVFence). It is not a valid key of
// any record msx stores (hex names, job ids, token hashes), and readers of a fenced bucket skip it.
const FenceKey = "msx-term"

func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

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

// ErrNotLeader wraps every write a fence refused for good: a later leader raised its fence, or
// this master never raised one after another did.
var ErrNotLeader = errors.New("this master is not the leader")

// Fenced reports whether err is a stream's refusal of a write fenced to an older term.
func Fenced(err error) bool { return errors.Is(err, ErrNotLeader) || isWrongLastSeq(err) }

// busy reports whether err is the transient refusal of a fenced write while another write on
// the fence subject is being replicated (10164 on an R3 stream).
func busy(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Codes of an atomic batch the server refused whole because some of its messages did not reach
// it (lost on the way: a route or node failed mid-batch, the connection reconnected): nothing
// of it was stored, so it is sent again, whole, under a new batch id.
const (
	batchSeqMissing = 10175 // JSAtomicPublishMissingSeqErr: "atomic publish sequence is missing"
	batchIncomplete = 10176 // JSAtomicPublishIncompleteBatchErr: "atomic publish batch is incomplete"
)

// lostInTransit reports whether err refused an atomic batch whole for a message that did not
// arrive.
func lostInTransit(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == batchSeqMissing || apiErr.ErrorCode == batchIncomplete)
}

// busyRetry bounds how long a write refused as busy (10164) is tried again: far longer than a
// replicated write takes, far shorter than a lease.
const busyRetry = 2 * time.Second

// again runs send until it succeeds, fails for another reason than busy or a batch lost in
// transit, ctx ends or busyRetry has passed since the first try. A refusal by the fence is wrapped in ErrNotLeader.
func again[T any](ctx context.Context, f *Fence, send func() (T, error)) (T, error) {
	deadline := time.Now().Add(busyRetry)
	wait := time.Millisecond
	for {
		v, err := send()
		if err == nil {
			return v, nil
		}
		if !(busy(err) || lostInTransit(err)) || time.Now().After(deadline) || ctx.Err() != nil {
			if isWrongLastSeq(err) {
				err = fmt.Errorf("%w: the fence %s refused the write (%w)", ErrNotLeader, f.subject, err)
			}
			return v, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait): // back off while the other write replicates
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Publish stores m (subject and data; the fence headers are added) while this fence is the
// last one raised, and returns the acknowledgement.
func (f *Fence) Publish(ctx context.Context, subj string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return again(ctx, f, func() (*jetstream.PubAck, error) { return f.js.PublishMsg(ctx, f.Msg(subj, data), opts...) })
}

// KVPut writes value under key in the fence's bucket (a fence made by NewKVFence) while this
// fence is the last one raised, and returns the record's revision.
func (f *Fence) KVPut(ctx context.Context, key string, value []byte) (uint64, error) {
	ack, err := f.Publish(ctx, f.kvKey(key), value)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// KVDelete deletes key from the fence's bucket (a fence made by NewKVFence) while this fence is
// the last one raised, as jetstream.KeyValue.Delete does (a delete marker, the history kept).
func (f *Fence) KVDelete(ctx context.Context, key string) error {
	_, err := again(ctx, f, func() (*jetstream.PubAck, error) {
		m := f.Msg(f.kvKey(key), nil)
		m.Header.Set(kvOperationHeader, "DEL")
		return f.js.PublishMsg(ctx, m)
	})
	return err
}

// kvOperationHeader marks a KV delete (as jetstream.KeyValue.Delete writes it).
const kvOperationHeader = "KV-Operation"

// kvKey returns the subject of key in the bucket of the fence subject $KV.<bucket>.FenceKey.
func (f *Fence) kvKey(key string) string {
	return strings.TrimSuffix(f.subject, FenceKey) + key
}

// MaxBatch is the most messages PublishBatch sends in one atomic batch: nats-server's default
// limit (max_batch_size, 1,000).
const MaxBatch = 1000

// Headers of an atomic batch publish (nats-server 2.12 and later; the stream must allow it,
// AllowAtomicPublish).
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// PublishBatch stores msgs (at most MaxBatch; each with its subject, data and headers) as one
// atomic batch while this fence is the last one raised: all of them, in order and with
// consecutive sequences, or none. Only the first message carries the fence check: the batch is
// committed whole or refused whole. It returns the acknowledgement of the commit, whose
// Sequence is that of the last message. msgs' headers are changed.
//
// The messages before the last go out without waiting (the server acknowledges only the commit),
// so a batch costs one round trip. A Nats-Msg-Id already stored makes the whole batch fail.
func (f *Fence) PublishBatch(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (*jetstream.PubAck, error) {
	if len(msgs) == 0 || len(msgs) > MaxBatch {
		return nil, fmt.Errorf("fenced batch of %d messages: send 1 to %d", len(msgs), MaxBatch)
	}
	seq := strconv.FormatUint(f.seq.Load(), 10)
	return again(ctx, f, func() (*jetstream.PubAck, error) {
		id := nuid.Next()
		for i, m := range msgs {
			if m.Header == nil {
				m.Header = nats.Header{}
			}
			m.Header.Set(batchIDHeader, id)
			m.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
		}
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, seq)
		msgs[0].Header.Set(expectedLastSubjSeqSubjHeader, f.subject)
		last := msgs[len(msgs)-1]
		last.Header.Set(batchCommitHeader, "1")
		for i, m := range msgs[:len(msgs)-1] {
			if err := nc.PublishMsg(m); err != nil {
				return nil, fmt.Errorf("fenced batch message %d of %d: %w", i+1, len(msgs), err)
			}
		}
		return f.js.PublishMsg(ctx, last)
	})
}
