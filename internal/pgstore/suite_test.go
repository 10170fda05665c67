package pgstore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/storage/storetest"
)

// openTest opens a store on a fresh database of the PostgreSQL named by
// SSOGATE_TEST_POSTGRES, or skips.
func openTest(t testing.TB) *Store {
	t.Helper()
	dsn := pgtest.Database(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the backend-neutral store suite on PostgreSQL.
func TestConformance(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storage.Store { return openTest(t) },
		Again: func(t *testing.T, s storage.Store) storage.Store {
			again, err := Open(t.Context(), s.(*Store).dsn)
			if err != nil {
				t.Fatalf("Open again: %v", err)
			}
			t.Cleanup(func() { again.Close() })
			return again
		},
		SQL:      func(s storage.Store) storetest.SQL { return rawSQL{s.(*Store).db} },
		SetClock: func(s storage.Store, now func() time.Time) { s.(*Store).now = now },
		Notifies: true,
	})
}

// rawSQL is the store's pool for hand-made statements with ?
// placeholders.
type rawSQL struct{ db *sql.DB }

func (r rawSQL) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.ExecContext(ctx, rebind(query), args...)
}

func (r rawSQL) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.db.QueryRowContext(ctx, rebind(query), args...)
}
