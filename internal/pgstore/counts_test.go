package pgstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestMemberCountsFold: the sweep folds an org's member count rows into
// one, keeping the total.
func TestMemberCountsFold(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	org, err := s.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 12 {
		m, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: fmt.Sprintf("m%d@acme.com", i), Active: true}, true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := s.DeleteMember(ctx, org.ID, ids[0]); err != nil {
		t.Fatal(err)
	}
	total := func() int {
		_, n, err := s.FindMembers(ctx, org.ID, storage.Query{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := total(); n != 11 {
		t.Fatalf("total before the sweep = %d, want 11", n)
	}
	if err := s.DeleteExpired(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM member_counts WHERE org_id = ?", org.ID).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("member_counts rows after the sweep = %d, %v; want 1", rows, err)
	}
	if n := total(); n != 11 {
		t.Fatalf("total after the sweep = %d, want 11", n)
	}
}
