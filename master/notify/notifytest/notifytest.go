// Package notifytest runs real receivers of notifications for tests: an SMTP server on
// loopback (emersion/go-smtp, optionally with STARTTLS and authentication) and a webhook
// receiver (an HTTP server on loopback) that can be told to fail.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server received.
type Mail struct {
	From    string
	To      []string
	Subject string // decoded
	Header  mail.Header
	Body    string
	TLS     bool // sent over TLS (STARTTLS)
	User    string
}

// SMTPOptions configures RunSMTP.
type SMTPOptions struct {
	// TLS offers STARTTLS with a certificate for 127.0.0.1 (see SMTPServer.Roots).
	TLS bool
	// User and Password, when set, are required (AUTH PLAIN).
	User, Password string
}

// SMTPServer is a running SMTP server on loopback.
type SMTPServer struct {
	Addr  string
	Roots *x509.CertPool // trusts the server's certificate when TLS is on

	opts     SMTPOptions
	mu       sync.Mutex
	mails    []Mail
	accepted func(Mail)
}

// OnAccept sets f to be called with each message once it is received and recorded, before the
// server answers the client: f may block to hold the sender in the middle of its send (a test
// of a master dying at that moment).
func (s *SMTPServer) OnAccept(f func(Mail)) {
	s.mu.Lock()
	s.accepted = f
	s.mu.Unlock()
}

// RunSMTP starts an SMTP server on 127.0.0.1 and stops it when the test ends.
func RunSMTP(tb testing.TB, opts SMTPOptions) *SMTPServer {
	tb.Helper()
	s := &SMTPServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0) // a client hanging up is no news
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxMessageBytes = 1 << 20
	// Authentication without TLS is refused by SMTP servers but accepted by clients for a
	// loopback server: the test server allows it when it offers no TLS.
	srv.AllowInsecureAuth = opts.User != "" && !opts.TLS
	if opts.TLS {
		cert, roots := selfSigned(tb)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.Roots = roots
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the server's smtp:// URL, with the user when one is required.
func (s *SMTPServer) URL() string {
	if s.opts.User != "" {
		return "smtp://" + s.opts.User + "@" + s.Addr
	}
	return "smtp://" + s.Addr
}

// Mails returns the messages received so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

type session struct {
	s    *SMTPServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.opts.User || pass != x.s.opts.Password {
			return errors.New("invalid credentials")
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.User != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error { x.to = append(x.to, to); return nil }

func (x *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subj = m.Header.Get("Subject")
	}
	_, tlsOn := x.c.TLSConnectionState()
	got := Mail{From: x.from, To: x.to, Subject: subj, Header: m.Header,
		Body: strings.ReplaceAll(string(body), "\r\n", "\n"), TLS: tlsOn, User: x.user}
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, got)
	f := x.s.accepted
	x.s.mu.Unlock()
	if f != nil {
		f(got)
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notifytest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// Hook is a webhook receiver: an HTTP server on loopback recording every POST body.
type Hook struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	fail     int // answer 503 to this many more requests
	tries    int
	accepted func([]byte)
}

// OnAccept sets f to be called with each accepted body once it is recorded, before the
// receiver answers: f may block to hold the sender in the middle of its send.
func (h *Hook) OnAccept(f func(body []byte)) {
	h.mu.Lock()
	h.accepted = f
	h.mu.Unlock()
}

// RunHook starts a webhook receiver and stops it when the test ends.
func RunHook(tb testing.TB) *Hook {
	h := &Hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.tries++
		if h.fail > 0 {
			h.fail--
			h.mu.Unlock()
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		h.bodies = append(h.bodies, b)
		f := h.accepted
		h.mu.Unlock()
		if f != nil {
			f(b)
		}
	}))
	tb.Cleanup(h.Close)
	return h
}

// FailNext makes the next n requests fail with 503.
func (h *Hook) FailNext(n int) {
	h.mu.Lock()
	h.fail = n
	h.mu.Unlock()
}

// Bodies returns the bodies accepted so far; Tries counts every request, refused ones too.
func (h *Hook) Bodies() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// Tries counts the requests received, refused ones included.
func (h *Hook) Tries() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries
}

// Decode returns the accepted bodies decoded into T.
func Decode[T any](tb testing.TB, h *Hook) []T {
	tb.Helper()
	var out []T
	for _, b := range h.Bodies() {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			tb.Fatalf("webhook body %s: %v", b, err)
		}
		out = append(out, v)
	}
	return out
}
