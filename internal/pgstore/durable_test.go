package pgstore

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// TestCommitsDurableWhenServerSaysOff: a database whose default is
// synchronous_commit=off (acknowledging commits a power loss can undo)
// still gets durable commits from the store's own connections.
func TestCommitsDurableWhenServerSaysOff(t *testing.T) {
	dsn := pgtest.Database(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" SET synchronous_commit = off"); err != nil {
		t.Fatal(err)
	}
	// A new session of anyone else sees the database's default: off.
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var v string
	if err := other.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v); err != nil || v != "off" {
		t.Fatalf("another session's synchronous_commit = %q, %v; want off (the test's premise)", v, err)
	}

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Several connections at once, so that more than one of the pool's
	// is asked.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		if conns[i], err = s.db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	for i, c := range conns {
		if err := c.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v); err != nil || v != "on" {
			t.Errorf("the store's connection %d: synchronous_commit = %q, %v; want on", i, v, err)
		}
	}
}
