package mssqltest

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// session is one client connection: a login, a dedicated SQLite
// connection (so transactions are per session, as in SQL Server), and the
// session state T-SQL can change.
//
// Requests run one at a time on the session goroutine. A reader goroutine
// reads ahead so that an ATTENTION packet can cancel the running request:
//
//	reader:  read message ──► attention? ──yes──► cancel active request
//	                  │                              │
//	                  └───────────► queue ◄──────────┘
//	session: take request ─► run with ctx ─► reply ends with DONE(attn)
//	                                          if ctx was cancelled
//	         take attention ─► already acknowledged? skip : reply DONE(attn)
type session struct {
	srv  *Server
	nc   net.Conn
	log  *slog.Logger
	spid uint16
	w    *packetWriter

	conn      *sql.Conn
	user      string
	loginDB   string
	database  string
	trancount int
	tranID    uint64
	nocount   bool
	rowcount  int64

	mu        sync.Mutex
	cancel    context.CancelCauseFunc // of the running request, nil between requests
	attnAcked int                     // attentions acknowledged inside a reply, not yet dequeued
}

// serve runs the connection until the client leaves, the server closes or
// the client breaks the protocol.
func (s *session) serve(ctx context.Context) error {
	br := bufio.NewReader(s.nc)
	limit := s.srv.cfg.MaxMessageSize
	m, err := readMessage(br, limit)
	if err != nil {
		return err
	}
	if m.typ != packPrelogin {
		return fmt.Errorf("%w: expected PRELOGIN, got packet type %d", ErrProtocol, m.typ)
	}
	if err := checkPrelogin(m.data); err != nil {
		return err
	}
	s.w = newPacketWriter(s.nc, defaultPacketSize)
	if err := preloginReply(s.w); err != nil {
		return err
	}
	if m, err = readMessage(br, limit); err != nil {
		return err
	}
	if m.typ != packLogin7 {
		return fmt.Errorf("%w: expected LOGIN7, got packet type %d (the fake does not support TLS)", ErrProtocol, m.typ)
	}
	ok, err := s.login(ctx, m.data)
	if err != nil || !ok {
		return err
	}
	defer s.conn.Close()

	// A broken or closed connection cancels the running request too: a
	// client that leaves mid-WAITFOR must not keep the session alive.
	ctx, connLost := context.WithCancelCause(ctx)
	defer connLost(nil)
	reqs := make(chan message, 4)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.readLoop(br, limit, reqs, quit)
		connLost(err)
		readErr <- err
	})
	defer func() {
		close(quit)
		s.nc.Close()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err := <-readErr:
			return err
		case m := <-reqs:
			if err := s.handle(ctx, m); err != nil {
				return err
			}
		}
	}
}

// readLoop reads requests ahead of the session goroutine and applies
// ATTENTION to the running request at once.
func (s *session) readLoop(r io.Reader, limit int, reqs chan<- message, quit <-chan struct{}) error {
	for {
		m, err := readMessage(r, limit)
		if err != nil {
			return err
		}
		if m.typ == packAttention {
			s.mu.Lock()
			if s.cancel != nil {
				s.cancel(errAttention)
			}
			s.mu.Unlock()
		}
		select {
		case reqs <- m:
		case <-quit:
			return nil
		}
	}
}

// handle runs one request and writes its reply. It returns an error only
// when the connection must end.
func (s *session) handle(ctx context.Context, m message) error {
	rep := &reply{w: s.w}
	if m.typ == packAttention {
		s.mu.Lock()
		acked := s.attnAcked > 0
		if acked {
			s.attnAcked--
		}
		s.mu.Unlock()
		if acked {
			return nil
		}
		return rep.end(true)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()

	if m.reset {
		s.resetSession(rep)
	}
	var err error
	switch m.typ {
	case packSQLBatch:
		err = s.batchRequest(rctx, rep, m.data)
	case packRPCRequest:
		err = s.rpcRequest(rctx, rep, m.data)
	case packTransMgrReq:
		err = s.tranRequest(rctx, rep, m.data)
	default:
		err = fmt.Errorf("%w: packet type %d after login", ErrProtocol, m.typ)
	}

	s.mu.Lock()
	s.cancel = nil
	attn := errors.Is(context.Cause(rctx), errAttention)
	if attn {
		s.attnAcked++
	}
	s.mu.Unlock()
	if err != nil && !attn && !errors.Is(err, errAttention) {
		return err
	}
	return rep.end(attn)
}

// finish turns the outcome of a request into the end of its reply: an
// error the client should see becomes ERROR and DONE(error) tokens.
func (s *session) finish(rep *reply, err error, doneTok byte) error {
	var se *sqlError
	switch {
	case err == nil, errors.Is(err, errReported), errors.Is(err, errAttention):
		return nil
	case errors.As(err, &se):
		s.writeError(rep, se, doneTok)
		return nil
	}
	return err
}

func (s *session) batchRequest(ctx context.Context, rep *reply, data []byte) error {
	r := &reader{b: data}
	r.skipAllHeaders()
	if r.err != nil {
		return r.err
	}
	text, err := fromUCS2(data[r.off:])
	if err != nil {
		return err
	}
	return s.finish(rep, s.execBatch(ctx, rep, text, nil, tokDone), tokDone)
}

func (s *session) rpcRequest(ctx context.Context, rep *reply, data []byte) error {
	req, err := parseRPC(data)
	var se *sqlError
	if errors.As(err, &se) {
		return s.finish(rep, se, tokDoneProc)
	}
	if err != nil {
		return err
	}
	name := req.procName
	if req.procID == procIDExecuteSQL {
		name = "sp_executesql"
	} else if req.procID != 0 {
		return s.finish(rep, unsupported(fmt.Sprintf("RPC to procedure id %d", req.procID)), tokDoneProc)
	}
	return s.finish(rep, s.callProc(ctx, rep, name, req.params, false), tokDoneProc)
}

// Transaction manager request types the driver sends for BeginTx, Commit
// and Rollback.
const (
	tmBegin    = 5
	tmCommit   = 7
	tmRollback = 8
)

func (s *session) tranRequest(ctx context.Context, rep *reply, data []byte) error {
	r := &reader{b: data}
	r.skipAllHeaders()
	typ := r.u16("transaction request type")
	if r.err != nil {
		return r.err
	}
	var err error
	switch typ {
	case tmBegin:
		if s.trancount > 0 {
			err = unsupported("nested BeginTx")
			break
		}
		err = s.beginTran(ctx, rep)
	case tmCommit, tmRollback:
		r.bvarchar("transaction name")
		flags := r.u8("commit flags")
		if r.err != nil {
			return r.err
		}
		if flags&1 != 0 {
			err = unsupported("commit or rollback that begins a new transaction")
			break
		}
		if typ == tmCommit {
			s.trancount = min(s.trancount, 1)
			err = s.commitTran(rep)
		} else {
			err = s.rollbackTran(rep)
		}
	default:
		err = unsupported(fmt.Sprintf("transaction manager request %d", typ))
	}
	if err == nil {
		rep.done(tokDone, 0, cmdOther, 0)
	}
	return s.finish(rep, err, tokDone)
}

func (s *session) beginTran(ctx context.Context, rep *reply) error {
	if s.trancount == 0 {
		if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return s.sqliteError(ctx, err)
		}
		s.tranID = s.srv.nextTranID()
		rep.envTran(envBeginTran, s.tranID)
	}
	s.trancount++
	return nil
}

func (s *session) commitTran(rep *reply) error {
	if s.trancount == 0 {
		return sqlErrorf(ErrNumCommitNoTran, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	s.trancount--
	if s.trancount > 0 {
		return nil
	}
	ctx := context.Background()
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		s.conn.ExecContext(ctx, "ROLLBACK")
		rep.envTran(envRollbackTran, s.tranID)
		s.tranID = 0
		return s.sqliteError(ctx, err)
	}
	rep.envTran(envCommitTran, s.tranID)
	s.tranID = 0
	return nil
}

func (s *session) rollbackTran(rep *reply) error {
	if s.trancount == 0 {
		return sqlErrorf(ErrNumRollbackNoTran, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	s.trancount = 0
	ctx := context.Background()
	_, err := s.conn.ExecContext(ctx, "ROLLBACK")
	rep.envTran(envRollbackTran, s.tranID)
	s.tranID = 0
	if err != nil {
		return s.sqliteError(ctx, err)
	}
	return nil
}

// resetSession does what sp_reset_connection does when the driver reuses
// a pooled connection: roll back, restore options and the login database.
func (s *session) resetSession(rep *reply) {
	if s.trancount > 0 {
		s.trancount = 0
		s.conn.ExecContext(context.Background(), "ROLLBACK")
		rep.envTran(envRollbackTran, s.tranID)
		s.tranID = 0
	}
	s.nocount = false
	if s.database != s.loginDB {
		rep.envChange(envDatabase, s.loginDB, s.database)
		s.database = s.loginDB
	}
}

// login checks LOGIN7 and answers it. It reports false, with the error
// already sent, when the login fails.
func (s *session) login(ctx context.Context, data []byte) (bool, error) {
	l, err := parseLogin7(data)
	if err != nil {
		return false, err
	}
	size := negotiatePacketSize(l.packetSize)
	s.w = newPacketWriter(s.nc, size)
	rep := &reply{w: s.w}
	fail := func(e *sqlError) (bool, error) {
		rep.message(tokError, e.Number, e.State, e.Class, e.Msg, s.srv.cfg.ServerName, "", 1)
		rep.done(tokDone, doneError, cmdOther, 0)
		return false, rep.end(false)
	}
	loginFailed := &sqlError{Number: ErrNumLoginFailed, State: 1, Class: severityLoginFailed,
		Msg: fmt.Sprintf("Login failed for user '%s'.", l.user)}
	if l.integrated || !s.srv.checkLogin(l.user, l.password) {
		s.log.Info("login failed", "user", l.user)
		return fail(loginFailed)
	}
	db := l.database
	if db == "" {
		db = "master"
	}
	canon, ok := s.srv.database(db)
	if !ok {
		rep.message(tokError, ErrNumCannotOpenDB, 1, 11,
			fmt.Sprintf("Cannot open database \"%s\" requested by the login. The login failed.", db), s.srv.cfg.ServerName, "", 1)
		return fail(loginFailed)
	}
	if s.conn, err = s.srv.db.Conn(ctx); err != nil {
		return false, fmt.Errorf("sqlite connection: %w", err)
	}
	s.user, s.loginDB, s.database = l.user, canon, canon
	rep.envChange(envDatabase, canon, "master")
	s.info(rep, 5701, severityInformational, fmt.Sprintf("Changed database context to '%s'.", canon))
	rep.loginAck(progName, 16, 0, 1)
	rep.packetSize(size)
	rep.done(tokDone, 0, cmdOther, 0)
	s.log.Debug("login", "user", l.user, "database", canon, "packet_size", size, "app", l.appName)
	return true, rep.end(false)
}
