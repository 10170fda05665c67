package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// TestUnfilteredPagesWalkTheIndex checks that the queries of unfiltered
// member pages (internal/sqlstore's scim_pages.go; the conformance suite
// checks their answers) skip rows in the covering index, in order.
func TestUnfilteredPagesWalkTheIndex(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	for i := range 20 {
		for _, org := range []storage.Org{acme, other} {
			if _, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: fmt.Sprintf("m%02d@%s.com", i, org.Name), Active: true}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every query skips rows in the covering index.
	for _, q := range []string{sqlstore.QPageFromStart, sqlstore.QPageFromAnchor, sqlstore.QFirstAnchor, sqlstore.QNextAnchor} {
		args := []any{acme.ID, 0, "", 10, 0}[:strings.Count(q, "?")]
		if joined := strings.Join(queryPlan(t, s, q, args...), "; "); !strings.Contains(joined, "COVERING INDEX memberships_org_created") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%.50s...: the plan does not walk the covering index in order: %s", q, joined)
		}
	}
}

// TestMemberCountsMigration opens a database made before migration 0004,
// with members, and checks that the counts are filled in and then kept.
func TestMemberCountsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ssogate.db")
	// A database as schema 3 left it: no counts table, no triggers.
	s, err := open(ctx, path, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.w.ExecContext(ctx, "INSERT INTO orgs(name, created_at) VALUES ('acme', 1)")
	if err != nil {
		t.Fatal(err)
	}
	orgID, _ := res.LastInsertId()
	for i := range 5 {
		if _, err := s.w.ExecContext(ctx, "INSERT INTO accounts(id, email, created_at) VALUES (?, ?, 1)", i+1, fmt.Sprintf("m%d@acme.com", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, "INSERT INTO memberships(id, org_id, account_id, created_at, updated_at) VALUES (?, ?, ?, 1, 1)",
			fmt.Sprintf("m%d", i), orgID, i+1); err != nil {
			t.Fatal(err)
		}
	}
	acme := storage.Org{ID: orgID}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, total, err := s.FindMembers(ctx, acme.ID, storage.Query{Count: 1}); err != nil || total != 5 {
		t.Fatalf("after the migration, total = %d, %v; want 5", total, err)
	}
	if _, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: "new@acme.com"}, true); err != nil {
		t.Fatal(err)
	}
	if _, total, err := s.FindMembers(ctx, acme.ID, storage.Query{Count: 1}); err != nil || total != 6 {
		t.Fatalf("after one more, total = %d, %v; want 6", total, err)
	}
}
