package master

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
)

// onConsumer answers msx.rpc.consumer.<token>: it (re)creates that target's one instruction
// consumer and replies with its name. Targets cannot create consumers (a create request carries
// any configuration, a deliver subject included); the master makes one of a fixed shape
// (bus.InstrConsumerConfig), starting at the sequence the target asks for but never before its
// enlistment. An existing consumer of that name is deleted first, always: the target asks only when it
// (re)starts reading, and a consumer's start sequence cannot be changed (JetStream error 10012).
func (m *Master) onConsumer(msg *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	rep, err := m.instrConsumer(ctx, msg.Subject, msg.Data)
	if err != nil {
		m.log.Warn("instruction consumer refused", "subject", msg.Subject, "err", err)
		m.reply(msg, &schemas.ConsumerReply{Error: busError(err)})
		return
	}
	m.reply(msg, rep)
}

// instrConsumer checks a consumer request and makes the consumer it asks for.
func (m *Master) instrConsumer(ctx context.Context, subj string, data []byte) (*schemas.ConsumerReply, error) {
	tok, req, err := decodeConsumerRequest(subj, data)
	if err != nil {
		m.Rejected.Add(1)
		return nil, err
	}
	// One request per target at a time: a target that floods cannot take every RPC slot.
	if _, busy := m.consuming.LoadOrStore(tok, struct{}{}); busy {
		return nil, coded(CodeBadRequest, "an instruction consumer request of %s is already being handled: wait for its reply", tok)
	}
	defer m.consuming.Delete(tok)
	pub, first, ok := m.consumerOwner(tok)
	if !ok {
		return nil, coded(CodeUnknown, "The specified target server ('%s') does not exist: enlist it again", tok)
	}
	if err := verify(pub, req.Signature, "consumer", tok, req.Signed(), req.Time); err != nil {
		return nil, err
	}
	cfg, err := bus.InstrConsumerConfig(tok, max(req.StartSeq, first))
	if err != nil {
		return nil, coded(CodeBadRequest, "%w", err)
	}
	if err := bus.ReplaceConsumer(ctx, m.streams[bus.StreamInstr], cfg); err != nil {
		return nil, err
	}
	m.log.Debug("instruction consumer created", "target", tok, "consumer", cfg.Name, "start_seq", cfg.OptStartSeq)
	return &schemas.ConsumerReply{Stream: bus.StreamInstr, Consumer: cfg.Name, StartSeq: cfg.OptStartSeq}, nil
}

// decodeConsumerRequest reads the target token from subj (the only identity taken) and the
// request from data.
func decodeConsumerRequest(subj string, data []byte) (string, schemas.ConsumerRequest, error) {
	var req schemas.ConsumerRequest
	tok, err := bus.TargetFromConsumerSubject(subj)
	if err != nil {
		return "", req, coded(CodeBadRequest, "instruction consumer request rejected: %w", err)
	}
	if err := schemas.Decode(data, &req); err != nil {
		return "", req, coded(CodeBadRequest, "instruction consumer request of %s rejected: %w", tok, err)
	}
	return tok, req, nil
}

// consumerOwner returns the public key and first instruction sequence of the target with token
// tok: an enlisted one, or one that was deleted and may still read its DEFECT.
func (m *Master) consumerOwner(tok string) (pub string, first uint64, ok bool) {
	if t, ok := m.Reg.TargetByToken(tok); ok {
		return t.PublicKey, t.StartSeq, true
	}
	m.defecting.Range(func(k, v any) bool {
		if v.(string) == tok {
			pub, ok = k.(string), true
		}
		return !ok
	})
	return pub, 0, ok
}
