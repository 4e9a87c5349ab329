package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches the prepared statements of the hot paths (the outbox's window read and delete,
// the applied-instruction check): SQLite otherwise parses and plans the same SQL on every call,
// which was about half of their cost in a fleet's profile. A statement is prepared outside the
// lock (preparing reads the schema) and kept for the life of the Store.
type stmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns the cached statement for query, preparing it on first use.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	st := s.stmts.m[query]
	s.stmts.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if old := s.stmts.m[query]; old != nil {
		st.Close() // prepared meanwhile by another caller
		return old, nil
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[query] = st
	return st, nil
}

// closeStmts closes the cached statements (Close).
func (s *Store) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for q, st := range s.stmts.m {
		st.Close()
		delete(s.stmts.m, q)
	}
}
