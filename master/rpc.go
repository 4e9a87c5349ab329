package master

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/auth"
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

// replaceWindow is how long `msx targetserver replace` lets the next token enlistment of a name
// take it over.
const replaceWindow = 24 * time.Hour

// CodeAlreadyEnlisted is MSX's 14296: the server is already enlisted.
const CodeAlreadyEnlisted = 14296

// enlist handles one enlistment request. A reply to a request without a valid token or
// signature carries only the error: nothing about an enlisted target leaks to a stranger.
func (m *Master) enlist(ctx context.Context, data []byte) (*schemas.EnlistReply, error) {
	req, name, err := decodeEnlist(data, m.cfg.Name)
	if err != nil {
		m.Rejected.Add(1)
		m.auditBusRefused(ctx, "enlist", "", err)
		return nil, err
	}
	// One enlistment of a name at a time, so that two agents racing for a new name cannot
	// both win (the second sees the first's record and gets 14296). The same agent's request
	// sent again while its first is handled (it timed out waiting on a loaded master) waits
	// for the first and is then answered as a resend.
	mine := &enlistInFlight{key: req.PublicKey, done: make(chan struct{})}
	for {
		v, busy := m.enlisting.LoadOrStore(name, mine)
		if !busy {
			break
		}
		first := v.(*enlistInFlight)
		if first.key != req.PublicKey {
			err := coded(CodeAlreadyEnlisted, "another enlistment of %s is in progress: if this agent is not the one enlisting, give it its own name", name)
			m.auditBusRefused(ctx, "enlist", name, err)
			return nil, err
		}
		select {
		case <-first.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("enlist %s: the same agent's earlier request is still being handled: %w", name, ctx.Err())
		}
	}
	defer func() { m.enlisting.Delete(name); close(mine.done) }()
	t, action, err := m.admit(ctx, req, name)
	if err != nil {
		m.auditBusRefused(ctx, "enlist", name, err)
		return nil, err
	}
	if action == "" {
		// The same enlistment again (the target timed out waiting for the first reply and
		// resent it): its token is spent, but the token and key prove it is the same target.
		return enlistReply(t, m.cfg.Name), nil
	}
	t.Location = req.Location
	t.TimeZoneAdjustment = req.TimeZoneAdjustment
	t.PollInterval = req.PollInterval
	t.Version = req.Version
	t.ProtocolVersion = req.ProtocolVersion
	if err := m.Reg.PutTarget(ctx, t); err != nil {
		return nil, err
	}
	m.log.Info("target enlisted", "server", name, "server_id", t.ServerID, "location", t.Location, "action", action)
	m.auditEvent(ctx, "target "+name+" (key "+t.PublicKey+")", action, "server "+name,
		fmt.Sprintf("server_id %d, location %q, agent %s, protocol %d, poll %ds", t.ServerID, t.Location, t.Version, t.ProtocolVersion, t.PollInterval))
	return enlistReply(t, m.cfg.Name), nil
}

// enlistInFlight is an enlistment being handled: the agent's key, and done closed when it ends.
type enlistInFlight struct {
	key  string
	done chan struct{}
}

func enlistReply(t registry.Target, master string) *schemas.EnlistReply {
	return &schemas.EnlistReply{ServerID: t.ServerID, ServerName: t.ServerName, MasterName: master,
		EnlistDate: t.EnlistDate, PollInterval: t.PollInterval, StartSeq: t.StartSeq}
}

// decodeEnlist decodes and checks an enlistment request, returning it and the canonical name.
func decodeEnlist(data []byte, masterName string) (schemas.EnlistRequest, string, error) {
	var req schemas.EnlistRequest
	if err := schemas.Decode(data, &req); err != nil {
		return req, "", coded(CodeBadRequest, "enlistment request rejected: %w", err)
	}
	if req.ProtocolVersion < schemas.MinProtocolVersion || req.ProtocolVersion > schemas.ProtocolVersion {
		return req, "", coded(CodeVersion, "The target server version (protocol %d, agent %s) is not compatible with the master (protocol %d; targets with protocol %d to %d are supported): upgrade the target",
			req.ProtocolVersion, req.Version, schemas.ProtocolVersion, schemas.MinProtocolVersion, schemas.ProtocolVersion)
	}
	name, err := jobs.CanonicalServerName(req.ServerName)
	if err != nil {
		return req, "", coded(CodeInvalidName, "%w", err)
	}
	if name == masterName {
		return req, "", coded(CodeEnlistSelf, "Cannot enlist into the local machine: target %s has the master's own name", name)
	}
	if !nkeys.IsValidPublicUserKey(req.PublicKey) {
		return req, "", coded(CodeBadRequest, "enlistment request rejected: public_key is not a user nkey")
	}
	return req, name, nil
}

// admit decides an enlistment: the target record to store and the audit action ("enlist",
// "re-enlist", "replace"), or action "" for a resent enlistment to answer as before.
func (m *Master) admit(ctx context.Context, req schemas.EnlistRequest, name string) (registry.Target, string, error) {
	old, exists := m.Reg.Target(name)
	if req.Token == "" {
		if !exists {
			_, err := m.Target(name)
			return registry.Target{}, "", err
		}
		if err := verify(old.PublicKey, req.Signature, "enlist", name, req.LocalTime.UTC().Format(time.RFC3339Nano), req.LocalTime); err != nil {
			return registry.Target{}, "", err
		}
		return old, "re-enlist", nil
	}
	if exists && old.PublicKey == req.PublicKey && m.Tokens.UsedBy(ctx, req.Token, name) {
		return old, "", nil
	}
	action := "enlist"
	if exists {
		if old.ReplaceAllowedAt.IsZero() || time.Since(old.ReplaceAllowedAt) > replaceWindow {
			return registry.Target{}, "", coded(CodeAlreadyEnlisted,
				"Target server %s is already enlisted into MSX '%s' (server_id %d, since %s): a second agent cannot take its name. "+
					"If this agent replaces it (its data was lost, or it moved), run `msx targetserver replace %s` on the master, then enlist again with a new token; "+
					"otherwise give this agent its own name",
				name, m.cfg.Name, old.ServerID, old.EnlistDate.Format(time.RFC3339), name)
		}
		action = "replace"
	}
	if err := m.Tokens.UseEnlist(ctx, req.Token, name); err != nil {
		if errors.Is(err, auth.ErrOtherServer) {
			return registry.Target{}, "", coded(CodeTokenServer, "enlist %s: %w", name, err)
		}
		return registry.Target{}, "", coded(CodeBadToken, "enlist %s: %w: create a new one on the master with `msx token create --server %s`", name, err, name)
	}
	t := old
	if !exists {
		id, err := m.Reg.AllocServerID(ctx)
		if err != nil {
			return registry.Target{}, "", err
		}
		t = registry.Target{ServerID: id, ServerName: name, Token: jobs.ServerToken(name)}
	} else {
		// The replaced agent is cut off: instructions of the earlier enlistment are dropped
		// and its key is revoked once the new one is stored.
		m.purgeTarget(ctx, old.Token)
		defer m.revoke(old.PublicKey)
	}
	t.ReplaceAllowedAt, t.ReplaceAllowedBy = time.Time{}, ""
	t.EnlistDate = time.Now().UTC()
	t.PublicKey = req.PublicKey
	var err error
	if t.StartSeq, err = m.nextSeq(ctx); err != nil {
		return registry.Target{}, "", err
	}
	t.EnlistedBy = req.EnlistedBy
	return t, action, nil
}

// AllowReplace lets the next token enlistment of an enlisted target take its name over (the
// old agent's key is then revoked), for replaceWindow. It is MSX's answer to 14296 when the
// old agent is gone for good. It returns an error wrapping registry.ErrUnknownTarget when
// the name is not enlisted.
func (m *Master) AllowReplace(ctx context.Context, name, by string) (registry.Target, error) {
	t, err := m.Target(name)
	if err != nil {
		return t, err
	}
	t.ReplaceAllowedAt, t.ReplaceAllowedBy = time.Now().UTC(), by
	if err := m.Reg.PutTarget(ctx, t); err != nil {
		return t, err
	}
	m.log.Info("target may be replaced", "server", t.ServerName, "by", by, "until", t.ReplaceAllowedAt.Add(replaceWindow))
	return t, nil
}

// auditBusRefused records a refused bus request (aggregated per interval like refused API
// requests): a flood of them cannot hide real records.
func (m *Master) auditBusRefused(ctx context.Context, action, name string, err error) {
	obj := ""
	if name != "" {
		obj = "server " + name
	}
	a := schemas.Audit{Who: "bus client", From: "bus", Action: action, Object: obj, Status: 400, Detail: fmt.Sprintf("refused (%d): %v", CodeOf(err), err)}
	if aerr := m.AuditRefused(ctx, a); aerr != nil {
		m.log.Error("audit record lost", "action", action, "err", aerr)
	}
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
	t, err := m.defect(ctx, msg.Data)
	if err != nil {
		m.log.Warn("defection refused", "err", err)
		m.auditBusRefused(ctx, "defect", "", err)
		m.reply(msg, &schemas.DefectReply{Error: busError(err)})
		return
	}
	m.log.Info("target defected", "server", t.ServerName)
	m.auditEvent(ctx, "target "+t.ServerName+" (key "+t.PublicKey+")", "defect", "server "+t.ServerName,
		"the target defected (signed request); its jobs and download list were removed")
	m.reply(msg, &schemas.DefectReply{})
	_ = m.nc.Flush()
	// The key is revoked once the reply is on its way, not before: the reply travels on the
	// target's own connection.
	m.endDefect(t.PublicKey)
}

// decodeDefect decodes and checks a defection request.
func decodeDefect(data []byte) (schemas.DefectRequest, string, error) {
	var req schemas.DefectRequest
	if err := schemas.Decode(data, &req); err != nil {
		return req, "", coded(CodeBadRequest, "defection request rejected: %w", err)
	}
	name, err := jobs.CanonicalServerName(req.ServerName)
	if err != nil {
		return req, "", coded(CodeInvalidName, "defection request rejected: %w", err)
	}
	return req, name, nil
}

// defect handles one signed defection request and returns the removed target.
func (m *Master) defect(ctx context.Context, data []byte) (registry.Target, error) {
	req, name, err := decodeDefect(data)
	if err != nil {
		m.Rejected.Add(1)
		return registry.Target{}, err
	}
	t, err := m.Target(name)
	if err != nil {
		return t, err
	}
	if err := verify(t.PublicKey, req.Signature, "defect", t.ServerName, req.Time.UTC().Format(time.RFC3339Nano), req.Time); err != nil {
		return t, err
	}
	return t, m.removeTarget(ctx, t, true)
}
