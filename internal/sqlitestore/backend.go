package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ssogate/ssogate/internal/sqlstore"
)

// dialect is how the shared queries (internal/sqlstore) read in SQLite.
var dialect = &sqlstore.Dialect{
	Filter:      filterSQL,
	Greatest:    "MAX",
	Int:         "?",
	JSONStrings: "SELECT value FROM json_each(?)",
	Limit:       func(limit int) any { return limit }, // -1 is no limit
	// The org's row of member_counts, which triggers keep (migration 0004).
	MemberCount:  "SELECT members, version FROM member_counts WHERE org_id = ?",
	HideOrgIndex: true,
}

// backend is what the shared queries run on: the writer's transactions,
// through its prepared statements, and the reader pool.
type backend struct{ s *Store }

var _ sqlstore.Backend = backend{}

func (b backend) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.s.tx(ctx, func(tx *sql.Tx) error { return fn(sqlQ{b.s.cached(tx)}) })
}

func (b backend) TxGrant(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.s.txGrant(ctx, func(tx *sql.Tx) error { return fn(sqlQ{b.s.cached(tx)}) })
}

func (b backend) Reader() sqlstore.Querier { return sqlQ{b.s.r} }
func (b backend) Cached() sqlstore.Querier { return sqlQ{b.s.reader()} }
func (b backend) Warm() sqlstore.Querier   { return sqlQ{warmReader{b.s}} }
func (b backend) IsUnique(err error) bool  { return isUnique(err) }
func (b backend) Now() time.Time           { return b.s.now() }

// sqlQ is one of database/sql's queriers, or the store's that work alike
// (cachedTx, cachedReader, warmReader), as a sqlstore.Querier.
type sqlQ struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q sqlQ) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.q.ExecContext(ctx, query, args...)
}

func (q sqlQ) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.q.QueryContext(ctx, query, args...)
}

func (q sqlQ) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRowContext(ctx, query, args...)
}
