package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
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
	qAccountIDByEmail = "SELECT id FROM accounts WHERE email = ?"
	qInsertAccount    = "INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id"
	qCountMembership  = "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND account_id = ?"
	qInsertMember     = `INSERT INTO memberships(id, org_id, account_id, given_name, family_name,
			display_name, external_id, role, active, attrs, source, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qMemberByID     = "SELECT " + memberColumns + memberFrom + "WHERE m.org_id = ? AND m.id = ?"
	qInsertSession  = `INSERT INTO sessions(id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDeleteSession  = "DELETE FROM sessions WHERE id = ?"
	qInsertReplay   = "INSERT INTO replay(assertion_id, expires_at) VALUES (?, ?)"
	qMemberByEmail  = "SELECT " + memberColumns + memberFrom + "WHERE m.org_id = ? AND a.email = ?"
	qDomainVerified = "SELECT COUNT(*) FROM domains WHERE org_id = ? AND name = ? AND status = 'verified'"
	qIdentity       = `SELECT m.id, o.id, o.name, a.email, m.given_name, m.family_name, m.role, m.active, m.epoch
		FROM memberships m JOIN accounts a ON a.id = m.account_id JOIN orgs o ON o.id = m.org_id
		WHERE m.id = ?`
	qIdentityTeams = `SELECT t.name, t.role FROM team_members tm JOIN teams t ON t.id = tm.team_id
		WHERE tm.member_id = ? ORDER BY t.name`
	qInsertAudit = `INSERT INTO audit(org_id, at, actor, actor_kind, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qReplaySeen  = "SELECT 1 FROM replay WHERE assertion_id = ?"
	qSessionByID = `SELECT id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index
		FROM sessions WHERE id = ?`
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

func (c cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
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

func (c warmReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.s.wstmts[query].QueryRowContext(ctx, args...)
}

// cachedReader runs reader-pool queries through the statement cache.
type cachedReader struct{ s *Store }

func (s *Store) reader() cachedReader { return cachedReader{s} }

func (c cachedReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
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
