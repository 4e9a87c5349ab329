package master

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

const rpcTimeout = 10 * time.Second

// maxClockSkew bounds how old a signed request may be.
const maxClockSkew = 15 * time.Minute

func (m *Master) reply(msg *nats.Msg, v schemas.Typed) {
	b, err := schemas.Encode(v)
	if err == nil {
		err = msg.Respond(b)
	}
	if err != nil {
		m.log.Warn("reply not sent", "subject", msg.Subject, "err", err)
	}
}

// rpcParallel bounds how many enlistment and defection requests a master handles at once: a
// fleet that starts together must not wait in one line (a target gives up on a request after
// 10 s), and a flood must not start unbounded goroutines.
const rpcParallel = 32

// concurrently runs an RPC handler in its own goroutine, at most rpcParallel at a time; the
// subscription's callback blocks (back-pressure) while all are busy.
func (m *Master) concurrently(h nats.MsgHandler) nats.MsgHandler {
	return func(msg *nats.Msg) {
		m.rpcSlots <- struct{}{}
		m.wg.Go(func() {
			defer func() { <-m.rpcSlots }()
			h(msg)
		})
	}
}

func (m *Master) onEnlist(msg *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	rep, err := m.enlist(ctx, msg.Data)
	if err != nil {
		m.log.Warn("enlistment refused", "err", err)
		m.reply(msg, &schemas.EnlistReply{Error: busError(err)})
		return
	}
	m.reply(msg, rep)
}

func (m *Master) enlist(ctx context.Context, data []byte) (*schemas.EnlistReply, error) {
	var req schemas.EnlistRequest
	if err := schemas.Decode(data, &req); err != nil {
		m.Rejected.Add(1)
		return nil, coded(CodeBadRequest, "enlistment request rejected: %w", err)
	}
	if req.ProtocolVersion < schemas.MinProtocolVersion || req.ProtocolVersion > schemas.ProtocolVersion {
		return nil, coded(CodeVersion, "The target server version (protocol %d, agent %s) is not compatible with the master (protocol %d; targets with protocol %d to %d are supported): upgrade the target",
			req.ProtocolVersion, req.Version, schemas.ProtocolVersion, schemas.MinProtocolVersion, schemas.ProtocolVersion)
	}
	name, err := jobs.CanonicalServerName(req.ServerName)
	if err != nil {
		return nil, coded(CodeInvalidName, "%w", err)
	}
	if name == m.cfg.Name {
		return nil, coded(CodeEnlistSelf, "Cannot enlist into the local machine: target %s has the master's own name", name)
	}
	old, exists := m.Reg.Target(name)
	t := old
	if exists && req.Token != "" && old.PublicKey == req.PublicKey {
		// The same enlistment again (the target timed out waiting for the first reply and
		// resent it): its token is spent, but the key proves it is the same target.
		return &schemas.EnlistReply{ServerID: t.ServerID, ServerName: name, MasterName: m.cfg.Name,
			EnlistDate: t.EnlistDate, PollInterval: t.PollInterval, StartSeq: t.StartSeq}, nil
	}
	if req.Token != "" {
		if err := m.Tokens.UseEnlist(ctx, req.Token, name); err != nil {
			return nil, coded(CodeBadToken, "enlist %s: %w: create a new one on the master with `msx token create`", name, err)
		}
		if !exists {
			id, err := m.Reg.AllocServerID(ctx)
			if err != nil {
				return nil, err
			}
			t = registry.Target{ServerID: id, ServerName: name, Token: jobs.ServerToken(name)}
		} else {
			// A new enlistment of a known name (its data was lost, or a forced defection):
			// instructions of the earlier enlistment are dropped.
			m.purgeTarget(ctx, old.Token)
			defer m.revoke(old.PublicKey)
		}
		t.EnlistDate = time.Now().UTC()
		t.PublicKey = req.PublicKey
		t.StartSeq, err = m.nextSeq(ctx)
		if err != nil {
			return nil, err
		}
		t.EnlistedBy = req.EnlistedBy
	} else {
		if !exists {
			_, err := m.Target(name)
			return nil, err
		}
		if err := verify(old.PublicKey, req.Signature, "enlist", name, req.LocalTime.UTC().Format(time.RFC3339Nano), req.LocalTime); err != nil {
			return nil, err
		}
	}
	t.Location = req.Location
	t.TimeZoneAdjustment = req.TimeZoneAdjustment
	t.PollInterval = req.PollInterval
	t.Version = req.Version
	t.ProtocolVersion = req.ProtocolVersion
	if err := m.Reg.PutTarget(ctx, t); err != nil {
		return nil, err
	}
	m.log.Info("target enlisted", "server", name, "server_id", t.ServerID, "location", t.Location, "new", req.Token != "")
	return &schemas.EnlistReply{ServerID: t.ServerID, ServerName: name, MasterName: m.cfg.Name,
		EnlistDate: t.EnlistDate, PollInterval: t.PollInterval, StartSeq: t.StartSeq}, nil
}

// verify checks a target's signature over parts with its registered public key, and that the
// signed time is recent.
func verify(pub, sig string, a, b, c string, signed time.Time) error {
	if d := time.Since(signed); d > maxClockSkew || d < -maxClockSkew {
		return coded(CodeBadSignature, "signed request is %s away from the master's clock: synchronise the target's clock", d.Round(time.Second))
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return coded(CodeBadSignature, "registered key is invalid: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || kp.Verify(schemas.SignedBytes(a, b, c), raw) != nil {
		return coded(CodeBadSignature, "signature of %s does not match its registered key: it is not the enlisted target (enlist it again with a new token)", b)
	}
	return nil
}

// nextSeq is the first MSX_INSTR sequence a new enlistment reads from.
func (m *Master) nextSeq(ctx context.Context) (uint64, error) {
	info, err := m.streams[bus.StreamInstr].Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq + 1, nil
}

func (m *Master) onDefect(msg *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	var req schemas.DefectRequest
	err := schemas.Decode(msg.Data, &req)
	if err != nil {
		m.Rejected.Add(1)
		err = coded(CodeBadRequest, "defection request rejected: %w", err)
	} else if t, terr := m.Target(req.ServerName); terr != nil {
		err = terr
	} else if err = verify(t.PublicKey, req.Signature, "defect", t.ServerName, req.Time.UTC().Format(time.RFC3339Nano), req.Time); err == nil {
		// The key is revoked once the reply is on its way, not before: the reply travels on
		// the target's own connection.
		if err = m.removeTarget(ctx, t, true); err == nil {
			defer m.endDefect(t.PublicKey)
		}
	}
	if err != nil {
		m.reply(msg, &schemas.DefectReply{Error: busError(err)})
		return
	}
	m.log.Info("target defected", "server", req.ServerName)
	m.reply(msg, &schemas.DefectReply{})
	_ = m.nc.Flush()
}
