// Package sqlstore holds the queries of storage.Store that the SQLite
// store (internal/sqlitestore) and the PostgreSQL store (internal/pgstore)
// share: the same tables, the same SQL, written once with "?"
// placeholders, and a Dialect for the few spellings where the two differ.
//
// A store embeds *Store, which implements most of storage.Store, and
// keeps what is its own behind a Backend: opening and migrating the
// database, the transaction runner and its retry policy, the mapping of
// its errors (storage.ErrUnavailable, uniqueness), statement caching, and
// whatever methods it writes its own way (it defines them on its own type,
// which hides the ones here).
//
// Every query on an org's rows is scoped by the org's ID, as
// internal/storage requires.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ssogate/ssogate/internal/sqlfilter"
	"github.com/ssogate/ssogate/internal/storage"
)

// Row is one row of a query's answer, as *sql.Row.
type Row interface {
	Scan(dest ...any) error
}

// Querier runs queries written with "?" placeholders: a transaction or a
// connection pool of one of the stores.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) Row
}

// Backend is what a store gives the shared queries.
type Backend interface {
	// Tx runs fn in a write transaction, committing when it returns nil;
	// its error is the store's (storage.ErrUnavailable when the database
	// cannot take writes now).
	Tx(ctx context.Context, fn func(Querier) error) error
	// TxGrant is Tx for the frequent writes whose loss in a power cut
	// gives no one access (sessions, replay records, audit rows, last-use
	// times, throttles): a store may commit them less durably.
	TxGrant(ctx context.Context, fn func(Querier) error) error
	// Alone runs one write statement of TxGrant's kind as a transaction
	// of its own: PostgreSQL sends it alone, one round trip instead of
	// three with BEGIN and COMMIT.
	Alone(ctx context.Context, query string, args ...any) error
	// CreateMember makes the account if needed and its membership in
	// the org (nm.Role is set), each store its own way: SQLite commits
	// concurrent creates together, PostgreSQL runs one statement. Its
	// refusals are storage.ErrConflict and storage.ErrAccountExists.
	CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error)
	// Reader runs reads outside a transaction.
	Reader() Querier
	// Cached is Reader for the frequent reads of a few fixed shapes,
	// which a store may keep prepared.
	Cached() Querier
	// Warm is Reader for a sign-in's reads, which lead to its session's
	// write (see sqlitestore's warmReader); never called inside Tx.
	Warm() Querier
	// IsUnique reports whether err is a uniqueness violation.
	IsUnique(err error) bool
	// Now is the store's clock.
	Now() time.Time
}

// Dialect is what differs between the stores' SQL. Every parameter is
// written "?"; a store that numbers its parameters rewrites them as it
// runs the query.
type Dialect struct {
	// Filter translates SCIM filters.
	Filter *sqlfilter.Dialect
	// Greatest is the function of the larger of two values ("MAX",
	// "GREATEST").
	Greatest string
	// Int is an integer parameter whose type the query does not tell
	// ("?", "?::bigint").
	Int string
	// JSONStrings selects the elements of a JSON array of strings given
	// as a parameter, one row each.
	JSONStrings string
	// Limit is LIMIT's argument for limit, where a negative limit is none.
	Limit func(limit int) any
	// MemberCount reads an org's member count, its version and the
	// number of member_counts rows they were summed from; no row when
	// the org has none.
	MemberCount string
	// FoldOrgCounts, when set, folds one org's member_counts rows (the
	// org's ID is its two parameters) into one: a page read runs it, alone,
	// when MemberCount summed more than MaxCountRows.
	FoldOrgCounts string
	// FoldCounts, when set, is a statement Prune runs last, to fold the
	// member_counts rows of each org into one.
	FoldCounts string
	// HideOrgIndex keeps the planner off the org's member index when a
	// member filter has an index of its own (see MemberQueries). SQLite
	// needs it; PostgreSQL's statistics tell its planner that the
	// filter's index finds few rows.
	HideOrgIndex bool
}

// Store implements the shared part of storage.Store on a Backend.
type Store struct {
	b Backend
	d *Dialect

	mu       sync.Mutex
	onChange []func()

	anchors anchorCache // unfiltered member pages, see scim_pages.go
}

// New returns the shared store of b, whose SQL speaks d.
func New(b Backend, d *Dialect) *Store {
	return &Store{b: b, d: d}
}

// OnChange registers fn to run after every write made through s that
// changes an identity or ends a session (and after the changes a store
// learns of otherwise: another process's, for PostgreSQL).
func (s *Store) OnChange(fn func()) {
	s.mu.Lock()
	s.onChange = append(s.onChange, fn)
	s.mu.Unlock()
}

// Changed runs the OnChange callbacks; write methods call it after
// commit.
func (s *Store) Changed() {
	s.mu.Lock()
	fns := append([]func(){}, s.onChange...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// ChangesSince returns the members and orgs changed after seq and the
// newest seq.
// Writers of change rows commit in seq order (the changes_seq trigger
// in PostgreSQL; SQLite has one writer), so no smaller seq appears later.
func (s *Store) ChangesSince(ctx context.Context, seq int64) (storage.Changes, int64, error) {
	r := s.b.Reader()
	var last int64
	if err := r.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes").Scan(&last); err != nil {
		return storage.Changes{}, 0, fmt.Errorf("reading change feed: %w", err)
	}
	if seq < 0 || last <= seq {
		return storage.Changes{}, last, nil
	}
	rows, err := r.QueryContext(ctx, "SELECT DISTINCT member_id, org_id FROM changes WHERE seq > ? AND seq <= ?", seq, last)
	if err != nil {
		return storage.Changes{}, 0, fmt.Errorf("reading change feed: %w", err)
	}
	defer rows.Close()
	var ch storage.Changes
	for rows.Next() {
		var member string
		var org int64
		if err := rows.Scan(&member, &org); err != nil {
			return storage.Changes{}, 0, err
		}
		if member != "" {
			ch.Members = append(ch.Members, member)
		}
		if org != 0 {
			ch.Orgs = append(ch.Orgs, org)
		}
	}
	return ch, last, rows.Err()
}

// execOne runs a write that must touch at least one row, in its own
// transaction; it returns ErrNotFound when it touched none.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	return s.b.Tx(ctx, func(tx Querier) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// Collect scans every row with scan and closes rows.
func Collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// NotFound turns sql.ErrNoRows into storage.ErrNotFound about what.
func NotFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return err
}

// Unix is t in the stores' columns: seconds since the epoch.
func Unix(t time.Time) int64 { return t.Unix() }

// FromUnix reads a time column; 0 is the zero time.
func FromUnix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// BoolInt is b as the stores' boolean columns take it.
func BoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
