package scimserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestAdminAPIIsolation tries, as globex's admin, every acme ID the admin
// API takes, and names acme wherever a request could name an org: each
// is refused or ignored, and acme's state, read through acme's own token
// afterwards, is what it was.
func TestAdminAPIIsolation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, globexSCIM, globexAdmin := e.addOrg("globex", "globex.com")
	a, _, _ := testIdPs(t)

	// acme's things: a member, a team, a token, a test sign-in.
	jo := e.addMember(e.org, "jo@acme.com", storage.RoleMember)
	e.addMember(e.org, "olive@acme.com", storage.RoleOwner)
	eng := e.addTeam(e.org, "Engineering", jo.ID)
	acmeTokens, err := e.store.ListTokens(ctx, e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("PUT", "/api/v1/sso", e.admin, explicitIdP(a)); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.raw)
	}
	test := e.do("POST", "/api/v1/sso/test", e.admin, nil).str("test_id")

	// snapshot is what acme's admin sees of acme.
	snapshot := func() map[string]any {
		out := map[string]any{}
		for _, p := range []string{"/api/v1/sso", "/api/v1/sso/test/" + test, "/api/v1/teams", "/api/v1/members", "/api/v1/domains"} {
			r := e.do("GET", p, e.admin, nil)
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s", p, r.status, r.raw)
			}
			out[p] = r.body
		}
		// Token IDs only: last_used_at moves with every minute of use.
		var ids []string
		for _, tok := range e.do("GET", "/api/v1/tokens", e.admin, nil).body["tokens"].([]any) {
			ids = append(ids, tok.(map[string]any)["id"].(string))
		}
		out["tokens"] = ids
		return out
	}
	before := snapshot()

	attacks := []struct {
		name         string
		method, path string
		body         string
		hdr          []string
		status       int
	}{
		{"set acme's member's role", "PUT", "/api/v1/members/" + jo.ID + "/role", `{"role":"owner"}`, nil, 404},
		{"set acme's team's role", "PUT", "/api/v1/teams/" + eng.ID + "/role", `{"role":"admin"}`, nil, 404},
		{"revoke acme's token", "DELETE", "/api/v1/tokens/" + acmeTokens[0].ID, "", nil, 404},
		{"revoke acme's other token", "DELETE", "/api/v1/tokens/" + acmeTokens[1].ID, "", nil, 404},
		{"read acme's test sign-in", "GET", "/api/v1/sso/test/" + test, "", nil, 404},
		{"name acme in the SSO body", "PUT", "/api/v1/sso", `{"org":"acme","require_sso":false}`, nil, 400},
		{"name acme's ID in the SSO body", "PUT", "/api/v1/sso", `{"org_id":1}`, nil, 400},
		{"name acme in the token body", "POST", "/api/v1/tokens", `{"name":"x","org":"acme"}`, nil, 400},
		{"name acme in the query", "PUT", "/api/v1/sso?org=acme", `{"idp_managed_access":true}`, nil, 200},
		{"name acme in a header", "POST", "/api/v1/sso/disable", "", []string{"X-Org", "acme", "X-Forwarded-Org", "acme"}, 200},
		{"read acme's domain", "GET", "/api/v1/domains/acme.com", "", nil, 404},
		{"remove acme's domain", "DELETE", "/api/v1/domains/acme.com", "", nil, 404},
	}
	for _, tt := range attacks {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := e.do(tt.method, tt.path, globexAdmin, body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("= %d %s; want %d", r.status, r.raw, tt.status)
			}
			if strings.Contains(string(r.raw), "jo@acme.com") || strings.Contains(string(r.raw), "Engineering") {
				t.Fatalf("the answer shows acme's data: %s", r.raw)
			}
		})
	}

	t.Run("globex sees only globex", func(t *testing.T) {
		r := e.do("GET", "/api/v1/sso?org=acme", globexAdmin, nil)
		if r.str("org") != "globex" || r.str("idp_issuer") != "" || r.body["idp_managed_access"] != true {
			t.Errorf("sso = %s; want globex's own connection, with the change made above", r.raw)
		}
		if members, total := e.membersByEmail(globexAdmin); total != 0 || len(members) != 0 {
			t.Errorf("members = %v, %v; want none", members, total)
		}
		if r := e.do("GET", "/api/v1/teams", globexAdmin, nil); r.body["total"] != float64(0) {
			t.Errorf("teams = %s; want none", r.raw)
		}
		r = e.do("GET", "/api/v1/tokens", globexAdmin, nil)
		for _, tok := range r.body["tokens"].([]any) {
			id := tok.(map[string]any)["id"]
			if id == acmeTokens[0].ID || id == acmeTokens[1].ID {
				t.Errorf("globex lists acme's token %v", id)
			}
		}
	})

	t.Run("acme is unchanged", func(t *testing.T) {
		if diff := cmp.Diff(before, snapshot()); diff != "" {
			t.Fatalf("acme changed (-before +after):\n%s", diff)
		}
		if r := e.do("GET", "/scim/v2/Users", e.scim, nil); r.status != 200 {
			t.Fatalf("acme's SCIM token = %d; want it still working", r.status)
		}
	})

	t.Run("scope", func(t *testing.T) {
		paths := []struct{ method, path string }{
			{"GET", "/api/v1/sso"}, {"PUT", "/api/v1/sso"}, {"POST", "/api/v1/sso/test"}, {"GET", "/api/v1/sso/test/" + test},
			{"POST", "/api/v1/sso/enable"}, {"POST", "/api/v1/sso/disable"}, {"GET", "/api/v1/tokens"}, {"POST", "/api/v1/tokens"},
			{"DELETE", "/api/v1/tokens/" + acmeTokens[0].ID}, {"GET", "/api/v1/teams"}, {"PUT", "/api/v1/teams/" + eng.ID + "/role"},
			{"GET", "/api/v1/members"}, {"PUT", "/api/v1/members/" + jo.ID + "/role"}, {"GET", "/api/v1/domains"},
		}
		for _, p := range paths {
			for _, tok := range []struct {
				name, token string
				status      int
			}{{"acme's scim token", e.scim, 403}, {"globex's scim token", globexSCIM, 403}, {"no token", "", 401}, {"a made-up token", "ssogate_x", 401}} {
				r := e.do(p.method, p.path, tok.token, `{"role":"owner","scope":"admin"}`)
				if r.status != tok.status || r.str("error") == "" {
					t.Errorf("%s %s with %s = %d %s; want %d", p.method, p.path, tok.name, r.status, r.raw, tok.status)
				}
			}
		}
		if r := e.do("GET", "/scim/v2/Users", e.admin, nil); r.status != 403 {
			t.Errorf("an admin token on SCIM = %d; want 403", r.status)
		}
	})
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Fatalf("acme changed (-before +after):\n%s", diff)
	}
}

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
