package pgstore

import (
	"context"
	"time"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// dialect is how the shared queries (internal/sqlstore) read in
// PostgreSQL.
var dialect = &sqlstore.Dialect{
	Filter:      filterSQL,
	Greatest:    "GREATEST",
	Int:         "?::bigint",
	JSONStrings: "SELECT json_array_elements_text(?::json)",
	Limit:       limitArg,
	// The sum of the org's rows of member_counts, which triggers keep
	// (migrations/0001_init.sql), and Prune and page reads fold. One
	// statement: the rows it deletes are the rows it sums, so a create
	// committed meanwhile keeps its own row, and two folds at once each
	// sum only what they deleted.
	MemberCount: "SELECT SUM(members)::bigint, SUM(version)::bigint, COUNT(*) FROM member_counts WHERE org_id = ? HAVING COUNT(*) > 0",
	FoldOrgCounts: `WITH folded AS (DELETE FROM member_counts WHERE org_id = ? RETURNING members, version)
		INSERT INTO member_counts(org_id, members, version) SELECT ?, SUM(members), SUM(version) FROM folded HAVING COUNT(*) > 0`,
	FoldCounts: `WITH folded AS (DELETE FROM member_counts RETURNING org_id, members, version)
			INSERT INTO member_counts(org_id, members, version)
			SELECT org_id, SUM(members), SUM(version) FROM folded GROUP BY org_id`,
}

// backend is what the shared queries run on: SERIALIZABLE transactions
// run again on a serialization failure, and the pool.
type backend struct{ s *Store }

var _ sqlstore.Backend = backend{}

func (b backend) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.s.tx(ctx, func(tx *Tx) error { return fn(tx) })
}

// TxGrant is Tx: every commit waits for the disk (see durableCommits).
func (b backend) TxGrant(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return b.Tx(ctx, fn)
}

// Alone sends the statement on its own, outside a transaction.
func (b backend) Alone(ctx context.Context, query string, args ...any) error {
	_, err := b.s.db.ExecContext(ctx, rebind(query), args...)
	return unavailable(err)
}

// CreateMember runs pgstore's one-statement create (members.go).
func (b backend) CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	m, err := b.s.createMember(ctx, orgID, nm, requireNewAccount)
	return m, unavailable(err)
}

func (b backend) Reader() sqlstore.Querier { return b.s.r }
func (b backend) Cached() sqlstore.Querier { return b.s.r }
func (b backend) Warm() sqlstore.Querier   { return b.s.r }
func (b backend) IsUnique(err error) bool  { return isUnique(err) }
func (b backend) Now() time.Time           { return b.s.now() }
