package target

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
	"github.com/msx-project/msx/target/store"
)

const rpcTimeout = 10 * time.Second

// defaultPollInterval is MSX's default poll interval, in seconds.
const defaultPollInterval = 60

// enlist takes up the saved identity of an enlisted target. One whose location, poll interval,
// time zone or version changed enlists again (signed), which updates the master. An empty
// Config.Location keeps the location held (the one last reported); ClearLocation clears it.
func (a *Agent) enlist(ctx context.Context, canon string, id store.Identity) error {
	if id.ServerName != canon {
		return fmt.Errorf("data directory %s belongs to target %s, not %s: use its own --data directory or defect it first",
			a.cfg.DataDir, id.ServerName, canon)
	}
	a.id = id
	loc := a.location(id.Location)
	if id.Location == loc && id.Version == Version && id.TimeZoneAdjustment == a.zoneOffset(time.Now()) &&
		(a.cfg.PollInterval == 0 || id.PollInterval == a.cfg.PollInterval) {
		return nil
	}
	a.id.Location = loc
	if a.cfg.PollInterval != 0 {
		a.id.PollInterval = a.cfg.PollInterval
	}
	return a.reenlist(ctx)
}

// location is the location to report: the configured one, or held when none is configured
// (and ClearLocation is not set).
func (a *Agent) location(held string) string {
	if a.cfg.Location != "" || a.cfg.ClearLocation {
		return a.cfg.Location
	}
	return held
}

// zoneOffset is the offset of the target's configured time zone from UTC at t, in minutes, as
// MSX's time_zone_adjustment.
func (a *Agent) zoneOffset(t time.Time) int {
	_, off := t.In(a.cfg.TimeZone).Zone()
	return off / 60
}

func (a *Agent) request(canon string, kp nkeys.KeyPair, token string) (*schemas.EnlistRequest, error) {
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	now := time.Now().In(a.cfg.TimeZone)
	req := &schemas.EnlistRequest{
		ProtocolVersion: schemas.ProtocolVersion, ServerName: canon, Location: a.location(a.id.Location),
		TimeZoneAdjustment: a.zoneOffset(now), LocalTime: now, PollInterval: a.cfg.PollInterval, Version: Version,
		EnlistedBy: a.cfg.EnlistedBy, Token: token, PublicKey: pub,
	}
	switch {
	case a.id.PollInterval != 0:
		req.PollInterval = a.id.PollInterval
	case req.PollInterval == 0:
		req.PollInterval = defaultPollInterval
	}
	if token == "" {
		sig, err := kp.Sign(schemas.SignedBytes("enlist", canon, req.LocalTime.UTC().Format(time.RFC3339Nano)))
		if err != nil {
			return nil, err
		}
		req.Signature = base64.StdEncoding.EncodeToString(sig)
	}
	return req, nil
}

func (a *Agent) firstEnlist(ctx context.Context, canon string) error {
	if a.cfg.Token == "" {
		return ErrNoToken
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("create target identity: %w", err)
	}
	secret, _ := SplitToken(a.cfg.Token)
	req, err := a.request(canon, kp, secret)
	if err != nil {
		return err
	}
	rep, err := a.call(ctx, req)
	if err != nil {
		return err
	}
	seed, _ := kp.Seed()
	a.id = store.Identity{
		ServerName: rep.ServerName, Token: jobs.ServerToken(rep.ServerName), ServerID: rep.ServerID,
		MasterName: rep.MasterName, Seed: string(seed), EnlistDate: rep.EnlistDate, StartSeq: rep.StartSeq,
		Location: req.Location, PollInterval: rep.PollInterval, Version: Version, TimeZoneAdjustment: req.TimeZoneAdjustment,
	}
	if err := a.store.SaveIdentity(ctx, a.id); err != nil {
		return err
	}
	a.log.Info("enlisted", "server_id", rep.ServerID, "master", rep.MasterName)
	return nil
}

// reenlist sends the enlistment information again, signed with the target's key.
func (a *Agent) reenlist(ctx context.Context) error {
	kp, err := nkeys.FromSeed([]byte(a.id.Seed))
	if err != nil {
		return fmt.Errorf("load target identity: %w", err)
	}
	req, err := a.request(a.id.ServerName, kp, "")
	if err != nil {
		return err
	}
	rep, err := a.call(ctx, req)
	if err != nil {
		var be *schemas.Error
		if errors.As(err, &be) && be.Code == CodeUnknownObject {
			return busErr(CodeAlreadyEnlisted, fmt.Sprintf(
				"This server is already enlisted into MSX '%s' (server_id %d), which does not know it any more: run `msx target defect --force --data %s`, then enlist again with a new token",
				a.id.MasterName, a.id.ServerID, a.cfg.DataDir))
		}
		return err
	}
	a.id.PollInterval = rep.PollInterval
	a.id.Version = Version
	a.id.Location = req.Location
	a.id.TimeZoneAdjustment = req.TimeZoneAdjustment
	if err := a.store.SaveIdentity(ctx, a.id); err != nil {
		// The master has the new information; the local copy catches up at the next start.
		a.log.Error("enlistment information not saved locally: it is sent again at the next start", "err", err)
	}
	return nil
}

func (a *Agent) call(ctx context.Context, req *schemas.EnlistRequest) (*schemas.EnlistReply, error) {
	data, err := schemas.Encode(req)
	if err != nil {
		return nil, err
	}
	var rep schemas.EnlistReply
	if err := rpc(ctx, a, bus.SubjectEnlist, data, &rep); err != nil {
		return nil, fmt.Errorf("enlist %s: %w", req.ServerName, err)
	}
	if rep.Error != nil {
		return nil, fmt.Errorf("enlist %s: %w", req.ServerName, rep.Error)
	}
	return &rep, nil
}

// rpc sends a request and decodes a typed reply, retrying while no master answers.
func rpc(ctx context.Context, a *Agent, subj string, data []byte, rep schemas.Typed) error {
	wait := 500 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		msg, err := a.nc.RequestWithContext(rctx, subj, data)
		cancel()
		if err == nil {
			return schemas.Decode(msg.Data, rep)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer from the master on %s: %w", subj, err)
		}
		a.log.Warn("master not answering, retrying", "subject", subj, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer from the master on %s: %w", subj, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
