package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// dialect is how the shared queries (internal/sqlstore) read in SQLite.
var dialect = &sqlstore.Dialect{
	Filter:      filterSQL,
	Greatest:    "MAX",
	Int:         "?",
	JSONStrings: "SELECT value FROM json_each(?)",
	Limit:       func(limit int) any { return limit }, // -1 is no limit
	// The org's row of member_counts, which triggers keep (migration 0004).
	MemberCount:  "SELECT members, version, 1 FROM member_counts WHERE org_id = ?",
	HideOrgIndex: true,
}

// backend is what the shared queries run on: the writer's transactions,
// through its prepared statements, and the reader pool.
type backend struct{ s *Store }

var _ sqlstore.Backend = backend{}

func (b backend) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.s.tx(ctx, func(tx *sql.Tx) error { return fn(b.s.cached(tx)) })
}

func (b backend) TxGrant(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.s.txGrant(ctx, func(tx *sql.Tx) error { return fn(b.s.cached(tx)) })
}

func (b backend) Alone(ctx context.Context, query string, args ...any) error {
	return b.TxGrant(ctx, func(tx sqlstore.Querier) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// CreateMember queues the create for the next group commit
// (create_batch.go).
func (b backend) CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	return b.s.createBatched(ctx, &createRequest{ctx: ctx, orgID: orgID, nm: nm, requireNewAccount: requireNewAccount})
}

func (b backend) Reader() sqlstore.Querier { return plainReader{b.s.r} }
func (b backend) Cached() sqlstore.Querier { return b.s.reader() }
func (b backend) Warm() sqlstore.Querier   { return warmReader{b.s} }
func (b backend) IsUnique(err error) bool  { return isUnique(err) }
func (b backend) Now() time.Time           { return b.s.now() }

// plainReader runs reads on the reader pool, unprepared.
type plainReader struct{ db *sql.DB }

func (p plainReader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, args...)
}

func (p plainReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, query, args...)
}

func (p plainReader) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	return p.db.QueryRowContext(ctx, query, args...)
}
