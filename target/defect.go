package target

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/target/store"
)

// DefectConfig configures `msx target defect`.
type DefectConfig struct {
	DataDir string
	// NATSURL is the bus; required unless Force.
	NATSURL string
	// Encrypt and CAFile as in Config; default verify against the CA saved at enlistment.
	Encrypt bus.EncryptMode
	CAFile  string
	// Force defects without telling the master (master gone or its data lost). The master keeps
	// listing the target until `msx targetserver delete NAME --no-post-defection`.
	Force       bool
	Logger      *slog.Logger
	ConnOptions []nats.Option
}

// Defect defects the target whose data directory is cfg.DataDir: it tells the master (unless
// Force), then deletes every job that came from the master and the target's identity. It
// returns MSX's 14227 message. The agent must not be running (the data directory is locked).
func Defect(ctx context.Context, cfg DefectConfig) (string, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	unlock, err := bus.LockDir(cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("defect: stop the running agent first: %w", err)
	}
	defer unlock()
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "target.db"))
	if err != nil {
		return "", err
	}
	defer st.Close()
	id, err := st.Identity(ctx)
	if err != nil {
		return "", fmt.Errorf("defect %s: %w", cfg.DataDir, err)
	}
	if !cfg.Force {
		if err := tellMaster(ctx, cfg, id); err != nil {
			return "", fmt.Errorf("defect %s: %w (use --force if the master is gone)", id.ServerName, err)
		}
	}
	n, err := st.Forget(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Server defected from MSX '%s'. %d job(s) deleted.", id.MasterName, n), nil
}

func tellMaster(ctx context.Context, cfg DefectConfig, id store.Identity) error {
	if cfg.NATSURL == "" {
		return errors.New("--nats URL of the master's bus is required for a normal defection")
	}
	kp, err := nkeys.FromSeed([]byte(id.Seed))
	if err != nil {
		return fmt.Errorf("load target identity: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	opts, err := bus.ClientTLS(cfg.Encrypt, trustedCA(cfg.CAFile, cfg.DataDir), "", cfg.Logger)
	if err != nil {
		return err
	}
	nc, err := dial(cctx, bus.ConnConfig{URL: cfg.NATSURL, Name: "msx-defect " + id.ServerName,
		InboxPrefix: bus.InboxPrefix(id.Token), Logger: cfg.Logger, Options: append(opts, cfg.ConnOptions...)}, kp)
	if err != nil {
		return err
	}
	defer nc.Close()
	now := time.Now().UTC()
	sig, err := kp.Sign(schemas.SignedBytes("defect", id.ServerName, now.Format(time.RFC3339Nano)))
	if err != nil {
		return err
	}
	data, err := schemas.Encode(&schemas.DefectRequest{ServerName: id.ServerName, Time: now, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return err
	}
	msg, err := nc.RequestWithContext(cctx, bus.SubjectDefect, data)
	if err != nil {
		return fmt.Errorf("no answer from the master: %w", err)
	}
	var rep schemas.DefectReply
	if err := schemas.Decode(msg.Data, &rep); err != nil {
		return err
	}
	if rep.Error != nil {
		return rep.Error
	}
	return nil
}
