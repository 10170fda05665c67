package sqlitestore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestFindMembersUnfilteredPages checks the unfiltered pages (an IdP's
// import) against ListMembers, in an org with another org's members
// interleaved, and that the page query skips rows in the index.
func TestFindMembersUnfilteredPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	const n = 57
	for i := range n {
		if _, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: fmt.Sprintf("m%02d@acme.com", i), Active: true}, true); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := s.CreateMember(ctx, other.ID, storage.NewMember{Email: fmt.Sprintf("o%02d@other.com", i), Active: true}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	want, total, err := s.ListMembers(ctx, acme.ID, storage.Page{})
	if err != nil || total != n || len(want) != n {
		t.Fatalf("ListMembers = %d of %d, %v", len(want), total, err)
	}
	for _, tc := range []struct{ start, count int }{{1, 10}, {11, 10}, {51, 10}, {57, 10}, {58, 10}, {200, 10}, {1, -1}, {5, 0}} {
		got, gotTotal, err := s.FindMembers(ctx, acme.ID, storage.Query{StartIndex: tc.start, Count: tc.count})
		if err != nil {
			t.Fatal(err)
		}
		lo := min(tc.start-1, n)
		hi := n
		if tc.count >= 0 {
			hi = min(lo+tc.count, n)
		}
		if gotTotal != n || len(got) != hi-lo {
			t.Fatalf("start %d count %d: %d of %d, want %d of %d", tc.start, tc.count, len(got), gotTotal, hi-lo, n)
		}
		for i, m := range got {
			if m.ID != want[lo+i].ID || m.Email != want[lo+i].Email || m.OrgID != acme.ID {
				t.Fatalf("start %d count %d: item %d = %s %s, want %s %s", tc.start, tc.count, i, m.ID, m.Email, want[lo+i].ID, want[lo+i].Email)
			}
		}
	}

	pageQuery, _, args, err := memberQueries(acme.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+pageQuery, append(args, 100, 0)...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	rows.Close()
	if joined := strings.Join(plan, "; "); !strings.Contains(joined, "COVERING INDEX memberships_org_created") {
		t.Errorf("the unfiltered page does not skip rows in the covering index: %s", joined)
	}
}
