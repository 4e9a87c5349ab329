package mssqltest_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/internal/mssqltest"
)

// recorder keeps what the driver writes to the fake.
type recorder struct {
	net.Conn
	mu  *sync.Mutex
	out *[]byte
}

func (r recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	*r.out = append(*r.out, p...)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

type recordingDialer struct {
	fake *mssqltest.Server
	mu   sync.Mutex
	out  []byte
}

func (d *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	go d.fake.ServeConn(server)
	return recorder{Conn: client, mu: &d.mu, out: &d.out}, nil
}

// recordSession returns the bytes go-mssqldb sends for a session of
// typical requests: PRELOGIN, LOGIN7, batches, RPCs, a transaction.
func recordSession(tb testing.TB, fake *mssqltest.Server) []byte {
	c, err := fake.Connector()
	if err != nil {
		tb.Fatal(err)
	}
	d := &recordingDialer{fake: fake}
	c.Dialer = d
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	db.ExecContext(ctx, "SELECT 1; PRINT 'x'")
	db.ExecContext(ctx, "SELECT @p1, @p2, @p3, @p4", 1, "two", 3.5, []byte{4}, time.Unix(0, 0))
	db.ExecContext(ctx, "msdb.dbo.sp_add_job", sql.Named("job_name", "fuzz"), sql.Named("enabled", true))
	if tx, err := db.BeginTx(ctx, nil); err == nil {
		tx.Exec("SELECT 1")
		tx.Rollback()
	}
	db.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.out...)
}

// messageEnd returns the length of the first n TDS messages in b.
func messageEnd(b []byte, n int) int {
	off := 0
	for n > 0 && off+8 <= len(b) {
		size := int(binary.BigEndian.Uint16(b[off+2:]))
		if size < 8 {
			break
		}
		if b[off+1]&1 != 0 {
			n--
		}
		off += size
	}
	return min(off, len(b))
}

// FuzzTDSPacket feeds arbitrary bytes to a fake's connection, optionally
// after a valid login. The fake must not panic, and once the client hangs
// up it must end the connection promptly.
func FuzzTDSPacket(f *testing.F) {
	fake := mssqltest.Start(f)
	session := recordSession(f, fake)
	login := messageEnd(session, 2)
	if login == 0 || login >= len(session) {
		f.Fatalf("recorded %d bytes, login ends at %d", len(session), login)
	}
	f.Add(false, session)
	f.Add(true, session[login:])
	f.Add(false, session[:login])
	f.Add(false, []byte{0x12, 0x01, 0x00, 0x08, 0, 0, 0, 0})
	f.Add(true, []byte{0x01, 0x01, 0x00, 0x0C, 0, 0, 1, 0, 4, 0, 0, 0})
	f.Add(true, []byte{0x03, 0x01, 0x00, 0x10, 0, 0, 1, 0, 4, 0, 0, 0, 0xFF, 0xFF, 10, 0})
	f.Fuzz(func(t *testing.T, afterLogin bool, data []byte) {
		if afterLogin {
			data = append(append([]byte(nil), session[:login]...), data...)
		}
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			fake.ServeConn(server)
			close(done)
		}()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, client)
			close(drained)
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the fake did not end the connection after the client closed it")
		}
		<-drained
	})
}
