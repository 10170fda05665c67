package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ssogate/ssogate/internal/sqlstore"
)

// Prepared statements for the hot paths: a sign-in (replay record, domain,
// member, identity, session), the gate's session load, a SCIM create and
// the audit event every SCIM change records.
// Parsing the SQL was a third or more of each of these queries' CPU time
// in the pure-Go SQLite; prepared once, a statement is only bound and
// stepped.
//
// Reader queries go through the reader pool's statement cache (readStmt):
// cachedReader below. Writer queries run inside transactions on the one
// writer connection; a statement can only be prepared on it outside a
// transaction (the pool has one connection, which the transaction holds),
// so the writer statements are a fixed list, prepared when the store
// opens, and bound to each transaction with Tx.StmtContext, which reuses
// the statement already prepared on that connection.

// Writer statements, prepared at Open (some are the warm reads below).
const (
	qAccountIDByEmail = sqlstore.QAccountIDByEmail
	qInsertAccount    = sqlstore.QInsertAccount
	qCountMembership  = sqlstore.QCountMembership
	qInsertMember     = sqlstore.QInsertMember
	qMemberByID       = sqlstore.QMemberByID
	qInsertSession    = sqlstore.QInsertSession
	qDeleteSession    = sqlstore.QDeleteSession
	qInsertReplay     = sqlstore.QInsertReplay
	qMemberByEmail    = sqlstore.QMemberByEmail
	qDomainVerified   = sqlstore.QDomainVerified
	qIdentity         = sqlstore.QIdentity
	qIdentityTeams    = sqlstore.QIdentityTeams
	qInsertAudit      = sqlstore.QInsertAudit
	qReplaySeen       = sqlstore.QReplaySeen
	qSessionByID      = sqlstore.QSessionByID
)

var writerQueries = []string{
	qAccountIDByEmail, qInsertAccount, qCountMembership, qInsertMember, qMemberByID,
	qInsertSession, qDeleteSession, qInsertReplay, qInsertAudit,
	qReplaySeen, qDomainVerified, qMemberByEmail,
}

// prepareWriter prepares the writer statements; the store must not be in
// a transaction.
func (s *Store) prepareWriter(ctx context.Context) error {
	s.wstmts = make(map[string]*sql.Stmt, len(writerQueries))
	for _, q := range writerQueries {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return errors.Join(err, s.closeWriterStmts())
		}
		s.wstmts[q] = st
	}
	return nil
}

func (s *Store) closeWriterStmts() error {
	var errs []error
	for _, st := range s.wstmts {
		errs = append(errs, st.Close())
	}
	s.wstmts = nil
	return errors.Join(errs...)
}

// cachedTx runs a transaction's queries with the writer statements when
// they are among them, and plainly otherwise.
type cachedTx struct {
	s  *Store
	tx *sql.Tx
}

func (s *Store) cached(tx *sql.Tx) cachedTx { return cachedTx{s, tx} }

func (c cachedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := c.s.wstmts[query]; st != nil {
		return c.tx.StmtContext(ctx, st)
	}
	return nil
}

func (c cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, query, args...)
}

func (c cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}

// warmReader runs, on the writer connection with its prepared statements,
// a sign-in's reads (SignInLookup, AssertionConsumed), which lead to its
// session's write. In WAL mode every commit makes the reader pool's page
// caches start over, while the writer's stays warm: there these reads
// cost about half, and the full sign-in went from 1.19-1.20x to
// 1.16-1.17x crewjam's ParseResponse (go test -bench BenchmarkACS/full-vs
// ./caddymodule). Never from inside a transaction: the writer pool has
// one connection, so such a read would wait for itself. The general reads
// (DomainVerified, MemberByEmail), which SCIM makes inside ModifyMember's
// callback, stay on the reader pool.
type warmReader struct{ s *Store }

func (c warmReader) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	if st := c.s.wstmts[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.s.w.QueryRowContext(ctx, query, args...)
}

func (c warmReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.s.wstmts[query]; st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.s.w.QueryContext(ctx, query, args...)
}

func (c warmReader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.s.w.ExecContext(ctx, query, args...)
}

// cachedReader runs reader-pool queries through the statement cache.
type cachedReader struct{ s *Store }

func (s *Store) reader() cachedReader { return cachedReader{s} }

func (c cachedReader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.s.r.ExecContext(ctx, query, args...)
}

func (c cachedReader) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	st, done, err := c.s.readStmt(ctx, query)
	if err != nil {
		// The plain query reports the same error from Scan.
		return c.s.r.QueryRowContext(ctx, query, args...)
	}
	// A statement the full cache could not keep is closed once its row
	// has been read (database/sql waits for its open rows).
	defer done()
	return st.QueryRowContext(ctx, args...)
}

func (c cachedReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, done, err := c.s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	defer done()
	return st.QueryContext(ctx, args...)
}
