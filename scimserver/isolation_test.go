package scimserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestSCIMSharedAccount: the email of an account that is a member of two
// orgs is the sign-in of both, so neither org's IdP may change it (issue
// 10: acme's SCIM token renamed globex's owner). What is kept per
// membership (names, externalId, active) stays changeable, and an account
// of one org alone may still be renamed.
func TestSCIMSharedAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	globex, _, _ := e.addOrg("globex", "globex.com")
	annID := e.mustCreateUser(e.scim, "ann@acme.com")
	if _, err := e.store.CreateMember(ctx, globex.ID, storage.NewMember{
		Email: "ann@acme.com", GivenName: "Ann", FamilyName: "Guest", Role: storage.RoleOwner, Active: true,
	}, false); err != nil {
		t.Fatal(err)
	}
	bobID := e.mustCreateUser(e.scim, "bob@acme.com")
	patch := func(ops string) string { return `{"schemas":[` + patchURN + `],"Operations":[` + ops + `]}` }

	refused := []struct {
		name, method, body string
	}{
		{"PATCH userName by path", "PATCH", patch(`{"op":"replace","path":"userName","value":"ann.lee@acme.com"}`)},
		{"PATCH userName in a value", "PATCH", patch(`{"op":"replace","value":{"userName":"ann.lee@acme.com","name":{"givenName":"X"}}}`)},
		{"PUT with a new userName", "PUT", js(t, userBody("ann.lee@acme.com", "Ann", "Lee"))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, "/scim/v2/Users/"+annID, e.scim, tt.body)
			detail := r.str("detail")
			if r.status != 409 || !strings.Contains(detail, "another organization") || !strings.Contains(detail, "ask the operator") {
				t.Fatalf("= %d %s; want 409 telling to ask the operator", r.status, r.raw)
			}
			if strings.Contains(detail, "globex") || r.str("scimType") == "uniqueness" {
				t.Fatalf("detail %s: names the other org, or says the name is taken", r.raw)
			}
		})
	}
	checkEmails := func() {
		t.Helper()
		acme, err := e.store.MemberByID(ctx, e.org.ID, annID)
		if err != nil || acme.Email != "ann@acme.com" {
			t.Fatalf("acme's member = %+v, %v", acme, err)
		}
		g, err := e.store.MemberByEmail(ctx, globex.ID, "ann@acme.com")
		if err != nil || g.Email != "ann@acme.com" || g.GivenName != "Ann" || g.FamilyName != "Guest" || !g.Active {
			t.Fatalf("globex's member = %+v, %v; want it untouched", g, err)
		}
	}
	checkEmails()

	allowed := []struct {
		name, method, body string
		check              func(storage.Member) bool
	}{
		{"names", "PATCH", patch(`{"op":"replace","path":"name.givenName","value":"Annie"}`),
			func(m storage.Member) bool { return m.GivenName == "Annie" }},
		{"externalId", "PATCH", patch(`{"op":"replace","path":"externalId","value":"00u1"}`),
			func(m storage.Member) bool { return m.ExternalID == "00u1" }},
		{"a userName in another case keeps the stored one", "PUT", js(t, userBody("ANN@acme.com", "Ann", "Lee")),
			func(m storage.Member) bool { return m.Email == "ann@acme.com" && m.FamilyName == "Lee" }},
		{"deactivation", "PATCH", patch(`{"op":"replace","value":{"active":false}}`),
			func(m storage.Member) bool { return !m.Active }},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, "/scim/v2/Users/"+annID, e.scim, tt.body)
			if r.status != 200 {
				t.Fatalf("= %d %s; want 200", r.status, r.raw)
			}
			m, err := e.store.MemberByID(ctx, e.org.ID, annID)
			if err != nil || !tt.check(m) {
				t.Fatalf("stored %+v, %v", m, err)
			}
		})
	}
	checkEmails()

	t.Run("an account of one org alone may be renamed", func(t *testing.T) {
		r := e.do("PATCH", "/scim/v2/Users/"+bobID, e.scim, patch(`{"op":"replace","path":"userName","value":"robert@acme.com"}`))
		if r.status != 200 || r.str("userName") != "robert@acme.com" {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		if m, err := e.store.MemberByID(ctx, e.org.ID, bobID); err != nil || m.Email != "robert@acme.com" {
			t.Fatalf("stored %+v, %v", m, err)
		}
	})
}
