package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// SMTP is how the master sends e-mail (and pages, which go to an operator's pager address by
// e-mail, as SQL Agent's do).
type SMTP struct {
	// URL is smtp://[user@]host[:port] (port 25 by default; STARTTLS whenever the server
	// offers it) or smtps://[user@]host[:port] (TLS from the first byte, port 465 by default).
	// A password in the URL is refused: give it in Password (read from the environment or a
	// file by the CLI), so that it never shows in a process list or a log.
	URL string
	// From is the sender address.
	From string
	// Password authenticates the URL's user (PLAIN, only over TLS or to a loopback server).
	Password string
	// TLS, when set, is the TLS configuration (for example a private CA's roots).
	TLS *tls.Config
	// Timeout bounds one delivery attempt; default 30 s.
	Timeout time.Duration
}

// Check returns a clear error when the configuration cannot work, nil when it is empty or fine.
func (s SMTP) Check() error {
	if s.URL == "" {
		if s.From != "" {
			return errors.New("--smtp-from without --smtp: give the SMTP server's URL, e.g. --smtp smtp://user@mail.example.com:587")
		}
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return fmt.Errorf("--smtp %q: use smtp://[user@]host[:port] (STARTTLS) or smtps://[user@]host[:port] (TLS)", redactURL(s.URL))
	}
	if _, has := u.User.Password(); has {
		return errors.New("--smtp: the URL holds a password: remove it and set MSX_SMTP_PASSWORD or --smtp-password-file instead")
	}
	if s.From == "" {
		return errors.New("--smtp needs --smtp-from ADDR, the sender address of notifications")
	}
	if _, err := mail.ParseAddress(s.From); err != nil || strings.ContainsAny(s.From, "\r\n") {
		return fmt.Errorf("--smtp-from %q is not an e-mail address (msx@example.com)", s.From)
	}
	if u.User != nil && s.Password == "" {
		return fmt.Errorf("--smtp names user %q but no password is set: set MSX_SMTP_PASSWORD or --smtp-password-file", u.User.Username())
	}
	return nil
}

// String shows the configuration without its password.
func (s SMTP) String() string {
	if s.URL == "" {
		return "none"
	}
	return redactURL(s.URL) + " from " + s.From
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// mailMsg is one e-mail.
type mailMsg struct {
	To      []string
	Subject string
	Body    string
	ID      string // X-MSX-Notification-ID
}

// sendMail delivers one message in one attempt. A 5xx answer is permanent (no retry).
func (s SMTP) sendMail(ctx context.Context, m mailMsg) error {
	if s.URL == "" {
		return backoff.Permanent(errors.New("no SMTP server configured: start the master with --smtp URL --smtp-from ADDR"))
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return backoff.Permanent(err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"smtp": "25", "smtps": "465"}[u.Scheme]
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		tc = s.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("smtp %s: %w", net.JoinHostPort(host, port), err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	if u.Scheme == "smtps" {
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtps %s: TLS: %w", host, err)
		}
		conn = tconn
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if err := c.Hello("msx"); err != nil {
		return smtpErr("EHLO", err)
	}
	if u.Scheme == "smtp" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tc); err != nil {
				return smtpErr("STARTTLS", err)
			}
		}
	}
	if u.User != nil {
		if err := c.Auth(smtp.PlainAuth("", u.User.Username(), s.Password, host)); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	from, _ := mail.ParseAddress(s.From)
	if err := c.Mail(from.Address); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	var to []string
	for _, addr := range m.To {
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("recipient %q: %w", addr, err))
		}
		if err := c.Rcpt(a.Address); err != nil {
			return smtpErr("RCPT TO "+a.Address, err)
		}
		to = append(to, a.Address)
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	if m.ID != "" {
		hdr("X-MSX-Notification-ID", oneLine(m.ID))
	}
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	// A line of a single dot is escaped by the DATA writer.
	b.WriteString(body)
	if _, err := w.Write(b.Bytes()); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("end of DATA", err)
	}
	return c.Quit()
}

func smtpErr(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return backoff.Permanent(fmt.Errorf("smtp %s: %w", stage, err))
	}
	return fmt.Errorf("smtp %s: %w", stage, err)
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// postWebhook posts body to u in one attempt. 4xx answers other than 408 and 429 are permanent.
func postWebhook(ctx context.Context, hc *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "msx-notify/1")
	resp, err := hc.Do(req)
	if errors.Is(err, ErrWebhookNotAllowed) {
		return backoff.Permanent(fmt.Errorf("webhook %s: %w", redactHost(u), err))
	}
	if err != nil {
		return fmt.Errorf("webhook %s: %w", redactHost(u), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("webhook %s answered %s: %s", redactHost(u), resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode/100 == 3 {
		return backoff.Permanent(fmt.Errorf("%w (redirects are not followed: give the final URL)", err))
	}
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return backoff.Permanent(err)
	}
	return err
}

// redactHost keeps a webhook URL's scheme and host: its path is often its secret.
func redactHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(webhook)"
	}
	return u.Scheme + "://" + u.Host
}

// retry runs op with exponential backoff until it succeeds, fails permanently, or has been
// tried attempts times. It returns the number of attempts made.
func retry(ctx context.Context, attempts int, initial time.Duration, op func() error) (int, error) {
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = initial
	eb.MaxInterval = 30 * time.Second
	eb.MaxElapsedTime = 0
	n := 0
	err := backoff.Retry(func() error { n++; return op() },
		backoff.WithContext(backoff.WithMaxRetries(eb, uint64(max(attempts-1, 0))), ctx))
	return n, err
}

// webhookBody renders a message in the operator's format.
func webhookBody(format string, msg Message) ([]byte, error) {
	switch format {
	case "slack":
		return json.Marshal(map[string]string{"text": "*" + msg.Subject + "*\n" + msg.Text})
	case "teams":
		return json.Marshal(map[string]string{"@type": "MessageCard", "@context": "https://schema.org/extensions",
			"summary": msg.Subject, "title": msg.Subject, "text": strings.ReplaceAll(msg.Text, "\n", "  \n")})
	}
	return json.Marshal(msg)
}
