package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnConfig configures a client connection to the bus.
type ConnConfig struct {
	// URL of the NATS server(s), comma separated. Required.
	URL string
	// Name is the connection name shown in server monitoring.
	Name string
	// InboxPrefix, when set, replaces "_INBOX" for replies (targets use their own).
	InboxPrefix string
	// Logger receives connection events and asynchronous errors (permission violations arrive
	// here, while the caller only sees a timeout).
	Logger *slog.Logger
	// Options are appended last (TLS, credentials).
	Options []nats.Option
}

// transient reports whether a failed first dial may succeed if tried again: no server answered,
// or one was too slow (a loaded server or network times out the TCP or TLS handshake), or the
// connection was cut. Certificate and authorization errors are final: retrying cannot fix them.
func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// Connect dials the bus. The connection reconnects forever with a capped, jittered wait:
// nats.go gives up after about two minutes by default, and a target must never give up.
// The first dial is retried until ctx ends while the failure is transient (no server, a
// handshake timed out), so a target started before the master, or one of thousands dialling a
// busy server at once, waits for it.
func Connect(ctx context.Context, cfg ConnConfig) (*nats.Conn, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "bus.conn")
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from bus", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to bus", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("bus error", "subject", subj, "err", err)
		}),
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	opts = append(opts, cfg.Options...)
	shown := Redact(cfg.URL)
	wait := 200 * time.Millisecond
	for {
		nc, err := nats.Connect(cfg.URL, opts...)
		if err == nil {
			return nc, nil
		}
		if !transient(err) {
			return nil, fmt.Errorf("connect to bus %s: %w", shown, err)
		}
		log.Warn("bus not reachable, retrying", "url", shown, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to bus %s: %w (last error: %w)", shown, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}
