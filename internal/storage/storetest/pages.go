package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// checkPages compares unfiltered FindMembers pages with ListMembers.
func checkPages(t *testing.T, s storage.Store, orgID int64, step string) {
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

// testFindMembersUnfilteredPages checks the unfiltered pages (an IdP's
// import) against ListMembers, with anchors every 10 rows (see
// internal/sqlstore's scim_pages.go), through adds and removals (which
// must drop the anchors), in an org with another org's members
// interleaved.
func testFindMembersUnfilteredPages(t *testing.T, b Backend) {
	defer func(step int) { sqlstore.MemberAnchorStep = step }(sqlstore.MemberAnchorStep)
	sqlstore.MemberAnchorStep = 10
	ctx := context.Background()
	s := b.Open(t)
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
	if a, ok := s.(interface{ AnchorsKept(orgID int64) int }); ok {
		if n := a.AnchorsKept(acme.ID); n != 5 {
			t.Errorf("%d anchors after paging 57 members by 10, want 5", n)
		}
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
}

// testMemberCountsFoldOnRead: an unfiltered page read leaves an org's
// member count in one row of member_counts (PostgreSQL keeps a row per
// membership added until something folds them: the sweep, or a read that
// met more than sqlstore.MaxCountRows), while creates and other reads
// run, and the totals stay exact for every org.
func testMemberCountsFoldOnRead(t *testing.T, be Backend) {
	defer func(n int) { sqlstore.MaxCountRows = n }(sqlstore.MaxCountRows)
	sqlstore.MaxCountRows = 5
	ctx := context.Background()
	s := be.Open(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	countRows := func(orgID int64) (rows, sum int) {
		t.Helper()
		if err := be.SQL(s).QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(members), 0) FROM member_counts WHERE org_id = ?", orgID).Scan(&rows, &sum); err != nil {
			t.Fatal(err)
		}
		return rows, sum
	}
	for i := range 20 {
		if _, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: fmt.Sprintf("a%02d@acme.com", i), Active: true}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, total, err := s.FindMembers(ctx, acme.ID, storage.Query{Count: 10}); err != nil || total != 20 {
		t.Fatalf("FindMembers total = %d, %v; want 20", total, err)
	}
	if rows, sum := countRows(acme.ID); rows != 1 || sum != 20 {
		t.Fatalf("after a read: %d rows summing to %d, want 1 row of 20", rows, sum)
	}

	// Creates in both orgs, and reads folding acme's rows, at once.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 15 {
				for _, org := range []storage.Org{acme, other} {
					if _, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: fmt.Sprintf("w%d-%02d@%s.com", w, i, org.Name), Active: true}, true); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				if _, _, err := s.FindMembers(ctx, acme.ID, storage.Query{StartIndex: 5, Count: 10}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []struct {
		org  storage.Org
		want int
	}{{acme, 80}, {other, 60}} {
		if _, sum := countRows(c.org.ID); sum != c.want {
			t.Errorf("%s: member_counts sum to %d, want %d", c.org.Name, sum, c.want)
		}
		if _, total, err := s.FindMembers(ctx, c.org.ID, storage.Query{Count: 1}); err != nil || total != c.want {
			t.Errorf("%s: FindMembers total = %d, %v; want %d", c.org.Name, total, err, c.want)
		}
	}
	checkPages(t, s, acme.ID, "after concurrent creates and folds")
}
