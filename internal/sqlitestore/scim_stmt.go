package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache. Filtered queries vary in
// shape only with the filter's structure (values are parameters), and
// IdPs send a handful of shapes; an odd client cannot grow the cache
// past this, its queries are then prepared each time.
const maxCachedStmts = 256

// stmtCache keeps prepared statements of the reader pool. Preparing is
// most of the cost of a point query in SQLite (a third of a userName
// lookup's CPU time was the SQL parser); database/sql prepares a cached
// *sql.Stmt once per connection and reuses it.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// readStmt returns a prepared statement of query on the reader pool,
// from the cache when possible, and the function to call when done with
// it (which closes a statement the full cache could not keep).
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, func(), error) {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st, func() {}, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if len(c.stmts) >= maxCachedStmts {
		return st, func() { st.Close() }, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st, func() {}, nil
}
