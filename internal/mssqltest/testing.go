package mssqltest

import (
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"testing"
)

// Option changes the Config of a server made by Start.
type Option func(*Config)

// Login adds a login. The first Login given is the one DSN and Connector
// use; without any, the default sa login is used.
func Login(user, password string) Option {
	return func(c *Config) {
		if c.Logins == nil {
			c.Logins = map[string]string{}
		}
		c.Logins[user] = password
		if c.firstLogin == "" {
			c.firstLogin = user
		}
	}
}

// ServerName sets @@SERVERNAME.
func ServerName(name string) Option { return func(c *Config) { c.ServerName = name } }

// Databases adds database names USE accepts.
func Databases(names ...string) Option {
	return func(c *Config) { c.Databases = append(c.Databases, names...) }
}

// Logger sets the server's logger.
func Logger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// Start runs a fake on a loopback TCP port (127.0.0.1:0), its store in
// tb.TempDir(), and closes it at cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := Config{Path: tb.TempDir() + "/fake.db"}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatalf("mssqltest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		tb.Fatalf("mssqltest: listen: %v", err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("mssqltest: close: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			tb.Errorf("mssqltest: serve: %v", err)
		}
	})
	return s
}

// Client opens a database/sql handle on the fake through go-mssqldb over
// TCP, closed at cleanup.
func (s *Server) Client(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlserver", s.DSN())
	if err != nil {
		tb.Fatalf("mssqltest: open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// PipeClient is Client through Connector: in-process, over net.Pipe.
func (s *Server) PipeClient(tb testing.TB) *sql.DB {
	tb.Helper()
	c, err := s.Connector()
	if err != nil {
		tb.Fatalf("mssqltest: %v", err)
	}
	db := sql.OpenDB(c)
	tb.Cleanup(func() { db.Close() })
	return db
}
