package mssqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	mssql "github.com/microsoft/go-mssqldb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// progName is what LOGINACK and @@VERSION call the server: never SQL Server.
const progName = "msx fake TDS server"

// Default credentials of a Config without Logins.
const (
	DefaultUser     = "sa"
	DefaultPassword = "msx-Fake-Passw0rd"
)

// Config configures a fake server. The zero value is usable.
type Config struct {
	// Path is the SQLite database file backing the fake. Default: a file in
	// a new temporary directory that Close removes.
	Path string
	// Logins maps login names to passwords. Default: DefaultUser with
	// DefaultPassword. DSN uses the first login added with the Login option,
	// or the default.
	Logins map[string]string
	// ServerName is @@SERVERNAME and the name sp_add_jobserver accepts besides
	// "(local)". Default "MSXFAKE".
	ServerName string
	// Databases lists database names USE and the login accept besides
	// master, msdb, tempdb and model. All of them share one SQLite store.
	Databases []string
	// MaxMessageSize bounds one client request in bytes. Default 64 MiB.
	MaxMessageSize int
	// Logger receives connection events. Default: discarded.
	Logger *slog.Logger

	firstLogin string // set by the Login option
}

// Server is a fake SQL Server: it speaks enough TDS for go-mssqldb, runs
// statements on SQLite, and emulates msdb's job procedures and a SQL Server
// Agent that only records runs (see Agent).
type Server struct {
	cfg     Config
	db      *sql.DB
	tmpDir  string
	log     *slog.Logger
	agent   *Agent
	version string

	dsnUser, dsnPassword string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	addr      string
	closed    bool
	closeOnce sync.Once
	closeErr  error

	spid   atomic.Uint32
	tranID atomic.Uint64
}

// NewServer opens the SQLite store, creates the msdb tables and starts the
// fake Agent. It returns an error when the store cannot be opened.
func NewServer(cfg Config) (*Server, error) {
	if cfg.ServerName == "" {
		cfg.ServerName = "MSXFAKE"
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 64 << 20
	}
	s := &Server{cfg: cfg, listeners: map[net.Listener]bool{}, conns: map[net.Conn]bool{}, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "mssqltest")
	s.dsnUser, s.dsnPassword = DefaultUser, DefaultPassword
	if len(cfg.Logins) == 0 {
		s.cfg.Logins = map[string]string{DefaultUser: DefaultPassword}
	} else {
		u := cfg.firstLogin
		if _, ok := cfg.Logins[u]; !ok {
			for u = range cfg.Logins {
				break
			}
		}
		s.dsnUser, s.dsnPassword = u, cfg.Logins[u]
	}
	if cfg.Path == "" {
		dir, err := os.MkdirTemp("", "mssqltest-")
		if err != nil {
			return nil, fmt.Errorf("temporary directory: %w", err)
		}
		s.tmpDir = dir
		s.cfg.Path = filepath.Join(dir, "fake.db")
	}
	dsn := "file:" + s.cfg.Path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(on)&_txlock=immediate&_time_format=sqlite"
	db, err := sql.Open("sqlite", dsn)
	if err == nil {
		err = db.Ping()
	}
	if err == nil {
		err = createMSDB(db)
	}
	if err == nil {
		err = db.QueryRow("SELECT sqlite_version()").Scan(&s.version)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		s.removeTmp()
		return nil, fmt.Errorf("open fake store %s: %w", s.cfg.Path, err)
	}
	s.db = db
	s.version = fmt.Sprintf("%s 1.0 - a test double for Microsoft SQL Server, backed by SQLite %s (not SQL Server)", progName, s.version)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.agent = newAgent(s)
	s.wg.Go(func() { s.agent.run(s.ctx) })
	return s, nil
}

// Version is the fake's @@VERSION: it names the fake and SQLite.
func (s *Server) Version() string { return s.version }

// DB is the SQLite store behind the fake, for tests to inspect or seed.
// Table names are the unqualified SQL Server names (sysjobs, not
// msdb.dbo.sysjobs).
func (s *Server) DB() *sql.DB { return s.db }

// Agent is the fake SQL Server Agent.
func (s *Server) Agent() *Agent { return s.agent }

// Serve accepts connections on ln until Close; it returns ErrClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = true
	if s.addr == "" {
		s.addr = ln.Addr().String()
	}
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			return fmt.Errorf("accept: %w", err)
		}
		if !s.track(c) {
			c.Close()
			return ErrClosed
		}
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// track registers a connection; it reports false after Close.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = true
	s.wg.Add(1)
	return true
}

// ServeConn serves one connection and returns when it ends. The server
// closes c on protocol violations, so garbage never hangs it.
func (s *Server) ServeConn(c net.Conn) {
	if !s.track(c) {
		c.Close()
		return
	}
	defer s.wg.Done()
	s.serveConn(c)
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	spid := uint16(50 + s.spid.Add(1)%30000)
	sess := &session{srv: s, nc: c, spid: spid, log: s.log.With("spid", spid)}
	if err := sess.serve(s.ctx); err != nil && !isClosedErr(err) {
		sess.log.Info("connection closed", "err", err)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrClosedPipe)
}

// Close stops listeners, closes connections, stops the Agent and waits for
// all goroutines, then closes the store. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for ln := range s.listeners {
			ln.Close()
		}
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.closeErr = s.db.Close()
		s.removeTmp()
	})
	return s.closeErr
}

func (s *Server) removeTmp() {
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

// Addr is the address of the first listener Serve was given, or "".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// DSN returns a sqlserver:// connection string for the first listener, with
// the default login, database master and encryption disabled.
func (s *Server) DSN() string {
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.dsnUser, s.dsnPassword), Host: s.Addr(),
		RawQuery: "database=master&encrypt=disable"}
	return u.String()
}

// Connector returns a go-mssqldb connector whose connections reach the
// fake in-process through net.Pipe, without a socket.
func (s *Server) Connector() (*mssql.Connector, error) {
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.dsnUser, s.dsnPassword), Host: "127.0.0.1:1433",
		RawQuery: "database=master&encrypt=disable"}
	c, err := mssql.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	c.Dialer = pipeDialer{s}
	return c, nil
}

type pipeDialer struct{ s *Server }

func (d pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	if !d.s.track(server) {
		client.Close()
		server.Close()
		return nil, ErrClosed
	}
	go func() {
		defer d.s.wg.Done()
		d.s.serveConn(server)
	}()
	return client, nil
}

func (s *Server) checkLogin(user, password string) bool {
	p, ok := s.cfg.Logins[user]
	return ok && p == password
}

// database returns the canonical name of a database the fake accepts.
func (s *Server) database(name string) (string, bool) {
	for _, d := range append([]string{"master", "msdb", "tempdb", "model"}, s.cfg.Databases...) {
		if strings.EqualFold(d, name) {
			return d, true
		}
	}
	return "", false
}

func (s *Server) nextTranID() uint64 { return s.tranID.Add(1) }
