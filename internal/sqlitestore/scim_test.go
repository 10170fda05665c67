package sqlitestore

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// seedSCIM makes an org with a few members of different shapes and a
// second org whose members must never show up.
func seedSCIM(t *testing.T, s *Store) (orgID int64, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	ids = map[string]string{}
	add := func(org int64, key string, nm storage.NewMember) {
		m, err := s.CreateMember(ctx, org, nm, true)
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = m.ID
	}
	add(acme.ID, "jo", storage.NewMember{Email: "Jo@Acme.com", GivenName: "Jo", FamilyName: "Smith", ExternalID: "ext-Jo", Active: true,
		Attrs: json.RawMessage(`{"emails":[{"value":"jo@acme.com","type":"work","primary":true},{"value":"jo@home.example","type":"home"}]}`)})
	add(acme.ID, "ann", storage.NewMember{Email: "ann@acme.com", GivenName: "Ann", FamilyName: "Lee", DisplayName: "Ann_Lee%", Active: false})
	add(acme.ID, "bob", storage.NewMember{Email: "bob@acme.com", GivenName: "Bob", FamilyName: "Smithers", Active: true,
		Attrs: json.RawMessage(`{"emails":["not an object",{"value":"bob@work.example","type":"Work"}]}`)})
	add(other.ID, "zed", storage.NewMember{Email: "zed@acme.com", GivenName: "Jo", FamilyName: "Smith", Active: true})
	return acme.ID, ids
}

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
