package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
)

// Helpers for the tenant tests: every org, member and session is made
// through the store's own methods, on a real database file.

func mustModifyConnection(t *testing.T, s *Store, orgID int64, fn func(*storage.Connection)) storage.Connection {
	t.Helper()
	c, err := s.ModifyConnection(context.Background(), orgID, func(c *storage.Connection) error {
		fn(c)
		return nil
	})
	if err != nil {
		t.Fatalf("ModifyConnection(%d) = %v", orgID, err)
	}
	return c
}

// TestMigration6BackfillsSessions: a database left at schema 5 by an older
// binary, with sessions of two orgs, gains each session's org and method.
func TestMigration6BackfillsSessions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := open(ctx, path, 5)
	if err != nil {
		t.Fatalf("open(schema 5) = %v", err)
	}
	for _, q := range []string{
		"INSERT INTO orgs(id, name, created_at) VALUES (7, 'acme', 1), (9, 'globex', 1)",
		"INSERT INTO accounts(id, email, created_at) VALUES (1, 'jo@acme.com', 1), (2, 'gus@globex.com', 1)",
		`INSERT INTO memberships(id, org_id, account_id, created_at, updated_at) VALUES
			('m-jo-acme', 7, 1, 1, 1), ('m-jo-globex', 9, 1, 1, 1), ('m-gus', 9, 2, 1, 1)`,
		`INSERT INTO sessions(id, member_id, epoch, created_at, expires_at, last_seen, name_id, session_index) VALUES
			('s-saml', 'm-jo-acme', 0, 1, 99999999999, 1, 'jo@acme.com', 'idx'),
			('s-password', 'm-jo-acme', 0, 1, 99999999999, 1, '', ''),
			('s-globex', 'm-jo-globex', 0, 1, 99999999999, 1, 'jo@acme.com', ''),
			('s-gus', 'm-gus', 0, 1, 99999999999, 1, '', '')`,
	} {
		if _, err := old.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(schema 5 database) = %v", err)
	}
	defer s.Close()
	for _, want := range []storage.Session{
		{ID: "s-saml", MemberID: "m-jo-acme", OrgID: 7, Method: storage.MethodSAML, NameID: "jo@acme.com", SessionIndex: "idx"},
		{ID: "s-password", MemberID: "m-jo-acme", OrgID: 7, Method: storage.MethodPassword},
		{ID: "s-globex", MemberID: "m-jo-globex", OrgID: 9, Method: storage.MethodSAML, NameID: "jo@acme.com"},
		{ID: "s-gus", MemberID: "m-gus", OrgID: 9, Method: storage.MethodPassword},
	} {
		got, err := s.SessionByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("SessionByID(%q) = %v", want.ID, err)
		}
		want.CreatedAt, want.ExpiresAt, want.LastSeen = 1, 99999999999, 1
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("SessionByID(%q) after migration (-want +got):\n%s", want.ID, diff)
		}
	}
	// The migrated store works as a new one: a connection of org 7 that
	// leaves enabled ends its SAML session only.
	mustModifyConnection(t, s, 7, func(c *storage.Connection) { c.State = storage.ConnectionEnabled })
	mustModifyConnection(t, s, 7, func(c *storage.Connection) { c.State = storage.ConnectionDisabled })
	for id, gone := range map[string]bool{"s-saml": true, "s-password": false, "s-globex": false} {
		if _, err := s.SessionByID(ctx, id); errors.Is(err, storage.ErrNotFound) != gone {
			t.Errorf("SessionByID(%q) after acme's connection was disabled = %v; want gone=%v", id, err, gone)
		}
	}
	var teamRole string
	if err := s.r.QueryRowContext(ctx, "SELECT dflt_value FROM pragma_table_info('teams') WHERE name = 'role'").Scan(&teamRole); err != nil {
		t.Fatal(err)
	}
	if strings.Trim(teamRole, "'") != "" {
		t.Errorf("teams.role default = %s, want ''", teamRole)
	}
}
