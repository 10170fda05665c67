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

// checkPages compares unfiltered FindMembers pages with ListMembers.
func checkPages(t *testing.T, s *Store, orgID int64, step string) {
	t.Helper()
	ctx := context.Background()
	want, n, err := s.ListMembers(ctx, orgID, storage.Page{})
	if err != nil || len(want) != n {
		t.Fatalf("%s: ListMembers = %d of %d, %v", step, len(want), n, err)
	}
	for _, tc := range []struct{ start, count int }{
		{1, 10}, {2, 7}, {10, 10}, {11, 10}, {23, 5}, {50, 10}, {n - 1, 10}, {n, 10}, {n + 1, 10}, {200, 10}, {1, -1}, {31, -1}, {5, 0},
	} {
		got, total, err := s.FindMembers(ctx, orgID, storage.Query{StartIndex: tc.start, Count: tc.count})
		if err != nil {
			t.Fatal(err)
		}
		lo := min(max(tc.start-1, 0), n)
		hi := n
		if tc.count >= 0 {
			hi = min(lo+tc.count, n)
		}
		if total != n || len(got) != hi-lo {
			t.Fatalf("%s: start %d count %d: %d of %d, want %d of %d", step, tc.start, tc.count, len(got), total, hi-lo, n)
		}
		for i, m := range got {
			if w := want[lo+i]; m.ID != w.ID || m.Email != w.Email || m.OrgID != orgID {
				t.Fatalf("%s: start %d count %d: item %d = %s %s, want %s %s", step, tc.start, tc.count, i, m.ID, m.Email, w.ID, w.Email)
			}
		}
	}
}

// TestFindMembersUnfilteredPages checks the unfiltered pages (an IdP's
// import) against ListMembers, with anchors every 10 rows, through adds
// and removals (which must drop the anchors), in an org with another
// org's members interleaved.
func TestFindMembersUnfilteredPages(t *testing.T) {
	defer func(step int) { sqlstore.MemberAnchorStep = step }(sqlstore.MemberAnchorStep)
	sqlstore.MemberAnchorStep = 10
	ctx := context.Background()
	s := openTest(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	if got, total, err := s.FindMembers(ctx, acme.ID, storage.Query{Count: 10}); err != nil || len(got) != 0 || total != 0 {
		t.Fatalf("empty org: %d of %d, %v", len(got), total, err)
	}
	var ids []string
	for i := range 57 {
		m, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: fmt.Sprintf("m%02d@acme.com", i), Active: true}, true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		if i%3 == 0 {
			if _, err := s.CreateMember(ctx, other.ID, storage.NewMember{Email: fmt.Sprintf("o%02d@other.com", i), Active: true}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkPages(t, s, acme.ID, "57 members")
	if n := s.AnchorsKept(acme.ID); n != 5 {
		t.Errorf("%d anchors after paging 57 members by 10, want 5", n)
	}
	for _, id := range []string{ids[3], ids[25], ids[40]} {
		if err := s.DeleteMember(ctx, acme.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	checkPages(t, s, acme.ID, "after 3 removals")
	for i := range 8 {
		if _, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: fmt.Sprintf("late%02d@acme.com", i), Active: true}, true); err != nil {
			t.Fatal(err)
		}
	}
	checkPages(t, s, acme.ID, "after 8 more")

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
