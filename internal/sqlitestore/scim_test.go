package sqlitestore

import (
	"context"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestFindMembersUsesIndexes guards the query plans of the lookups IdPs
// make before each push, by userName (Okta, Entra), work email or
// externalId (Entra's other matching attributes): index probes, never a
// walk through the org's members, which is what a plan searching
// memberships by org_id alone amounts to.
func TestFindMembersUsesIndexes(t *testing.T) {
	s := openTest(t)
	email := func(v string) storage.Filter {
		return storage.Compare{Field: storage.FieldEmailValue, Op: storage.OpEq, Value: v}
	}
	for name, f := range map[string]storage.Filter{
		"userName":   storage.Compare{Field: storage.FieldEmail, Op: storage.OpEq, Value: "x@acme.com"},
		"work email": storage.AnyEmail{Filter: storage.And{Left: storage.Compare{Field: storage.FieldEmailType, Op: storage.OpEq, Value: "work"}, Right: email("x@acme.com")}},
		"email":      storage.AnyEmail{Filter: email("x@acme.com")},
		"externalId": storage.Compare{Field: storage.FieldExternalID, Op: storage.OpEq, Value: "x"},
		"id":         storage.Compare{Field: storage.FieldID, Op: storage.OpEq, Value: "x"},
		"userName and active": storage.And{Left: storage.Compare{Field: storage.FieldActive, Op: storage.OpEq, Value: true},
			Right: storage.Compare{Field: storage.FieldEmail, Op: storage.OpEq, Value: "x@acme.com"}},
	} {
		pageQuery, _, args, err := dialect.MemberQueries(1, f)
		if err != nil {
			t.Fatal(err)
		}
		plan := queryPlan(t, s, pageQuery, append(args, 100, 0)...)
		joined := strings.Join(plan, "; ")
		if len(plan) == 0 || strings.Contains(joined, "SCAN") || strings.Contains(joined, "SEARCH m USING INDEX memberships_org") ||
			strings.Contains(joined, "(org_id=?)") {
			t.Errorf("%s: the plan walks the org: %s", name, joined)
		}
	}
}

// queryPlan returns the detail lines of query's plan.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
