package scimserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/scimserver"
)

// TestProductRules covers ssogate's own rules on top of SCIM (SPEC
// section 5).
func TestProductRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	other, otherSCIM, _ := e.addOrg("globex", "globex.com")

	t.Run("unclaimed domain is 400 naming the domain", func(t *testing.T) {
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("jo@unclaimed.example", "Jo", "Smith"))
		if r.status != 400 || r.str("scimType") != "invalidValue" || !strings.Contains(r.str("detail"), "unclaimed.example") {
			t.Fatalf("= %d %s; want 400 invalidValue naming unclaimed.example", r.status, r.raw)
		}
	})
	t.Run("a pending claim counts for nothing", func(t *testing.T) {
		if _, err := e.store.ClaimDomain(ctx, e.org.ID, "pending.example", "x"); err != nil {
			t.Fatal(err)
		}
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("jo@pending.example", "Jo", "Smith"))
		if r.status != 400 || !strings.Contains(r.str("detail"), "pending.example") {
			t.Fatalf("= %d %s; want 400", r.status, r.raw)
		}
	})
	t.Run("a subdomain is not covered", func(t *testing.T) {
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("jo@eu.acme.com", "Jo", "Smith"))
		if r.status != 400 || !strings.Contains(r.str("detail"), "eu.acme.com") {
			t.Fatalf("= %d %s; want 400", r.status, r.raw)
		}
	})
	t.Run("another org's domain is refused", func(t *testing.T) {
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("jo@globex.com", "Jo", "Smith"))
		if r.status != 400 {
			t.Fatalf("= %d %s; want 400", r.status, r.raw)
		}
	})
	t.Run("userName must be an email", func(t *testing.T) {
		for _, name := range []string{"jo", "Jo Smith <jo@acme.com>", "jo@com", "@acme.com", "jo@acme..com"} {
			r := e.do("POST", "/scim/v2/Users", e.scim, userBody(name, "Jo", "Smith"))
			if r.status != 400 || r.str("scimType") != "invalidValue" {
				t.Errorf("userName %q = %d %s; want 400 invalidValue", name, r.status, r.raw)
			}
		}
	})

	var joID string
	t.Run("new members get role member", func(t *testing.T) {
		joID = e.mustCreateUser(e.scim, "Jo@Acme.com")
		m, err := e.store.MemberByID(ctx, e.org.ID, joID)
		if err != nil || m.Role != storage.RoleMember || !m.Active || m.Email != "Jo@Acme.com" {
			t.Fatalf("member = %+v, %v", m, err)
		}
	})
	t.Run("already a member is 409 uniqueness", func(t *testing.T) {
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("jo@acme.com", "Jo", "Smith"))
		if r.status != 409 || r.str("scimType") != "uniqueness" || r.str("status") != "409" {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
	})
	t.Run("an account outside the org is 409 telling to invite", func(t *testing.T) {
		// globex vouches for acme.com too? No: a domain is verified by one
		// org. The account comes from an invitation in globex instead.
		if _, err := e.store.CreateMember(ctx, other.ID, storage.NewMember{Email: "ann@acme.com", Active: true}, false); err != nil {
			t.Fatal(err)
		}
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody("ann@acme.com", "Ann", "Lee"))
		if r.status != 409 || r.str("scimType") != "uniqueness" || !strings.Contains(r.str("detail"), "ssogate user invite ann@acme.com") {
			t.Fatalf("= %d %s; want 409 with the invite command", r.status, r.raw)
		}
		// And the lookup before it leaks nothing across orgs.
		r = e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "ann@acme.com"`), e.scim, nil)
		if r.status != 200 || r.body["totalResults"] != float64(0) {
			t.Fatalf("lookup = %d %s; want 0 results", r.status, r.raw)
		}
	})
	t.Run("password, groups and roles are ignored", func(t *testing.T) {
		team, err := e.store.CreateTeam(ctx, e.org.ID, "Keep", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.UpdateTeam(ctx, e.org.ID, team.ID, func(t *storage.Team) error {
			t.MemberIDs = append(t.MemberIDs, joID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		body := userBody("jo@acme.com", "Jo", "Smith")
		body["password"] = "s3cret-pass"
		body["groups"] = []any{}
		body["roles"] = []any{map[string]any{"value": "owner", "primary": true}}
		r := e.do("PUT", "/scim/v2/Users/"+joID, e.scim, body)
		if r.status != 200 || strings.Contains(string(r.raw), "s3cret") || strings.Contains(string(r.raw), "roles") {
			t.Fatalf("PUT = %d %s", r.status, r.raw)
		}
		m, _ := e.store.MemberByID(ctx, e.org.ID, joID)
		if strings.Contains(string(m.Attrs), "s3cret") || m.Role != storage.RoleMember {
			t.Fatalf("stored %+v", m)
		}
		id, err := e.store.Identity(ctx, joID)
		if err != nil || len(id.Teams) != 1 {
			t.Fatalf("groups:[] in PUT changed team memberships: %+v, %v", id, err)
		}
		r = e.do("PATCH", "/scim/v2/Users/"+joID, e.scim, `{"schemas":[`+patchURN+`],"Operations":[{"op":"replace","value":{"password":"other-pass"}},{"op":"add","path":"roles","value":[{"value":"admin"}]}]}`)
		if r.status != 200 || strings.Contains(string(r.raw), "other-pass") {
			t.Fatalf("PATCH password = %d %s", r.status, r.raw)
		}
	})
	t.Run("deactivation ends sessions; deleting removes the account", func(t *testing.T) {
		m, _ := e.store.MemberByID(ctx, e.org.ID, joID)
		if err := e.store.CreateSession(ctx, storage.Session{ID: "sess-1", MemberID: joID, Epoch: m.Epoch, CreatedAt: 1, ExpiresAt: time.Now().Add(time.Hour).Unix(), LastSeen: 1}, nil); err != nil {
			t.Fatal(err)
		}
		r := e.do("PATCH", "/scim/v2/Users/"+joID, e.scim, `{"schemas":[`+patchURN+`],"Operations":[{"op":"replace","value":{"active":false}}]}`)
		if r.status != 200 {
			t.Fatalf("deactivate = %d %s", r.status, r.raw)
		}
		if _, err := e.store.SessionByID(ctx, "sess-1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("session after deactivation: %v; want it gone", err)
		}
		after, _ := e.store.MemberByID(ctx, e.org.ID, joID)
		if after.Epoch <= m.Epoch {
			t.Fatalf("epoch %d -> %d; want a bump", m.Epoch, after.Epoch)
		}
		if r := e.do("DELETE", "/scim/v2/Users/"+joID, e.scim, nil); r.status != 204 {
			t.Fatalf("delete = %d %s", r.status, r.raw)
		}
		if ok, _ := e.store.AccountExists(ctx, "jo@acme.com"); ok {
			t.Fatal("account left after deleting its only membership")
		}
	})
	t.Run("a removed claim stops provisioning but not deactivation", func(t *testing.T) {
		if err := e.store.SyncConfigDomains(ctx, e.org.ID, []string{"acme.com", "gone.example"}); err != nil {
			t.Fatal(err)
		}
		id := e.mustCreateUser(e.scim, "kim@gone.example")
		if err := e.store.SyncConfigDomains(ctx, e.org.ID, []string{"acme.com"}); err != nil {
			t.Fatal(err)
		}
		deact := `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"active","value":false}]}`
		if r := e.do("PATCH", "/scim/v2/Users/"+id, e.scim, deact); r.status != 200 || r.body["active"] != false {
			t.Fatalf("deactivate = %d %s", r.status, r.raw)
		}
		react := `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"active","value":true}]}`
		if r := e.do("PATCH", "/scim/v2/Users/"+id, e.scim, react); r.status != 400 || !strings.Contains(r.str("detail"), "gone.example") {
			t.Fatalf("reactivate = %d %s; want 400 naming gone.example", r.status, r.raw)
		}
		if r := e.do("GET", "/scim/v2/Users/"+id, e.scim, nil); r.body["active"] != false {
			t.Fatalf("after refused reactivation: %s", r.raw)
		}
	})
	t.Run("a member made outside SCIM, without names, can be deactivated", func(t *testing.T) {
		m, err := e.store.CreateMember(ctx, e.org.ID, storage.NewMember{Email: "invited@acme.com", Active: true}, false)
		if err != nil {
			t.Fatal(err)
		}
		r := e.do("PATCH", "/scim/v2/Users/"+m.ID, e.scim, `{"schemas":[`+patchURN+`],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
		if r.status != 200 || r.body["active"] != false {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		// A PUT replaces everything, so it needs the names.
		body := userBody("invited@acme.com", "", "")
		if r := e.do("PUT", "/scim/v2/Users/"+m.ID, e.scim, body); r.status != 400 || !strings.Contains(r.str("detail"), "givenName") {
			t.Fatalf("PUT without names = %d %s", r.status, r.raw)
		}
	})
	t.Run("a group name taken regardless of case is 409", func(t *testing.T) {
		if _, err := e.store.CreateTeam(ctx, e.org.ID, "Admins Made This", ""); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "admins made this"`), e.scim, nil)
		if r.body["totalResults"] != float64(1) {
			t.Fatalf("lookup of an admin-made team = %s", r.raw)
		}
		r = e.do("POST", "/scim/v2/Groups", e.scim, map[string]any{"displayName": "ADMINS MADE THIS"})
		if r.status != 409 || r.str("scimType") != "uniqueness" {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		gid := e.mustCreateGroup(e.scim, "Renamed Later")
		r = e.do("PATCH", "/scim/v2/Groups/"+gid, e.scim, `{"schemas":[`+patchURN+`],"Operations":[{"op":"replace","path":"displayName","value":"admins made THIS"}]}`)
		if r.status != 409 || !strings.Contains(r.str("detail"), `"admins made THIS"`) {
			t.Fatalf("rename to a taken name = %d %s", r.status, r.raw)
		}
	})
	_ = otherSCIM
}

// TestOrgIsolation: a token sees its own org only; another org's ids are
// 404, never 403.
func TestOrgIsolation(t *testing.T) {
	e := newEnv(t)
	_, bSCIM, bAdmin := e.addOrg("globex", "globex.com")
	aUser := e.mustCreateUser(e.scim, "a@acme.com")
	aGroup := e.mustCreateGroup(e.scim, "A team", aUser)
	bUser := e.mustCreateUser(bSCIM, "b@globex.com")
	bGroup := e.mustCreateGroup(bSCIM, "B team")
	patch := `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"active","value":false}]}`

	tests := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"get user", "GET", "/scim/v2/Users/" + aUser, nil, 404},
		{"put user", "PUT", "/scim/v2/Users/" + aUser, userBody("b2@globex.com", "B", "B"), 404},
		{"patch user", "PATCH", "/scim/v2/Users/" + aUser, patch, 404},
		{"delete user", "DELETE", "/scim/v2/Users/" + aUser, nil, 404},
		{"get group", "GET", "/scim/v2/Groups/" + aGroup, nil, 404},
		{"patch group", "PATCH", "/scim/v2/Groups/" + aGroup, `{"schemas":[` + patchURN + `],"Operations":[{"op":"remove","path":"members"}]}`, 404},
		{"delete group", "DELETE", "/scim/v2/Groups/" + aGroup, nil, 404},
		{"add another org's user to a group", "PATCH", "/scim/v2/Groups/" + bGroup,
			`{"schemas":[` + patchURN + `],"Operations":[{"op":"add","path":"members","value":[{"value":"` + aUser + `"}]}]}`, 400},
		{"create a group with another org's user", "POST", "/scim/v2/Groups", map[string]any{"displayName": "x", "members": []any{map[string]any{"value": aUser}}}, 400},
		{"another org's domain", "GET", "/api/v1/domains/acme.com", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := bSCIM
			if strings.HasPrefix(tt.path, "/api/") {
				tok = bAdmin
			}
			r := e.do(tt.method, tt.path, tok, tt.body)
			if r.status != tt.status {
				t.Fatalf("= %d %s; want %d", r.status, r.raw, tt.status)
			}
		})
	}
	for _, path := range []string{"/scim/v2/Users", "/scim/v2/Groups", "/scim/v2/Users?filter=" + q(`userName eq "a@acme.com"`), "/scim/v2/Groups?filter=" + q(`displayName eq "A team"`)} {
		r := e.do("GET", path, bSCIM, nil)
		if strings.Contains(string(r.raw), aUser) || strings.Contains(string(r.raw), aGroup) {
			t.Errorf("GET %s as globex shows acme's resources: %s", path, r.raw)
		}
	}
	// acme's things are untouched.
	if r := e.do("GET", "/scim/v2/Groups/"+aGroup, e.scim, nil); r.status != 200 || r.str("members/0/value") != aUser {
		t.Fatalf("acme's group after globex's attempts: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/scim/v2/Users/"+aUser, e.scim, nil); r.body["active"] != true {
		t.Fatalf("acme's user after globex's attempts: %s", r.raw)
	}
	_ = bUser
}

// TestAuth: 401 without a valid token, 403 with the wrong scope.
func TestAuth(t *testing.T) {
	e := newEnv(t)
	revoked, revoke := e.revocableToken(e.org, storage.ScopeSCIM)
	revoke()
	tests := []struct {
		name, path, auth string
		status           int
		scim             bool
	}{
		{"no token", "/scim/v2/Users", "", 401, true},
		{"basic auth", "/scim/v2/Users", "Basic dXNlcjpwYXNz", 401, true},
		{"unknown token", "/scim/v2/Users", "Bearer ssogate_nope", 401, true},
		{"revoked token", "/scim/v2/Users", "Bearer " + revoked, 401, true},
		{"admin token on scim", "/scim/v2/Users", "Bearer " + e.admin, 403, true},
		{"admin token on discovery", "/scim/v2/Schemas", "Bearer " + e.admin, 403, true},
		{"scim token on the domain API", "/api/v1/domains", "Bearer " + e.scim, 403, false},
		{"no token on the domain API", "/api/v1/domains", "", 401, false},
		{"lower-case scheme", "/scim/v2/Users", "bearer " + e.scim, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, "", nil, "Authorization", tt.auth)
			if r.status != tt.status {
				t.Fatalf("= %d %s; want %d", r.status, r.raw, tt.status)
			}
			if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if tt.status >= 400 && tt.scim && (r.str("status") != fmt.Sprint(tt.status) || r.str("detail") == "") {
				t.Errorf("SCIM error body = %s", r.raw)
			}
			if tt.status >= 400 && !tt.scim && r.str("error") == "" {
				t.Errorf("API error body = %s", r.raw)
			}
		})
	}
}

// TestRevocationTakesEffect: a token in use stops working within a second
// of its revocation (the server trusts a looked-up token that long).
func TestRevocationTakesEffect(t *testing.T) {
	e := newEnv(t)
	tok, revoke := e.revocableToken(e.org, storage.ScopeSCIM)
	if r := e.do("GET", "/scim/v2/Users", tok, nil); r.status != 200 {
		t.Fatalf("before revocation = %d", r.status)
	}
	revoke()
	time.Sleep(1100 * time.Millisecond)
	if r := e.do("GET", "/scim/v2/Users", tok, nil); r.status != 401 {
		t.Fatalf("1.1 s after revocation = %d, want 401", r.status)
	}
}

// TestBadInput: every malformed request is a 4xx with a SCIM error body
// (string status, scimType where RFC 7644 has one, a detail), never a 5xx,
// and changes nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	uid := e.mustCreateUser(e.scim, "jo@acme.com")
	gid := e.mustCreateGroup(e.scim, "Eng", uid)
	op := func(ops string) string { return `{"schemas":[` + patchURN + `],"Operations":[` + ops + `]}` }
	big := `{"userName":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		scimType           string
	}{
		{"malformed JSON", "POST", "/scim/v2/Users", `{"userName":`, nil, 400, "invalidSyntax"},
		{"JSON array body", "POST", "/scim/v2/Users", `[1,2]`, nil, 400, "invalidSyntax"},
		{"empty body", "POST", "/scim/v2/Users", ``, nil, 400, "invalidSyntax"},
		{"two JSON values", "POST", "/scim/v2/Users", `{} {}`, nil, 400, "invalidSyntax"},
		{"oversized body", "POST", "/scim/v2/Users", big, nil, 413, ""},
		{"oversized patch", "PATCH", "/scim/v2/Users/" + uid, big, nil, 413, ""},
		{"wrong content type", "POST", "/scim/v2/Users", `{}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"form content type", "PATCH", "/scim/v2/Groups/" + gid, `a=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"userName a number", "POST", "/scim/v2/Users", `{"userName":12,"name":{"givenName":"a","familyName":"b"},"emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidValue"},
		{"userName missing", "POST", "/scim/v2/Users", `{"name":{"givenName":"a","familyName":"b"},"emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidValue"},
		{"givenName missing", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","name":{"familyName":"b"},"emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidValue"},
		{"emails missing", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","name":{"givenName":"a","familyName":"b"}}`, nil, 400, "invalidValue"},
		{"two primary emails", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","name":{"givenName":"a","familyName":"b"},"emails":[{"value":"a@acme.com","primary":true},{"value":"b@acme.com","primary":true}]}`, nil, 400, "invalidValue"},
		{"name not an object", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","name":"a b","emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidValue"},
		{"active not a boolean", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","active":"maybe","name":{"givenName":"a","familyName":"b"},"emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidValue"},
		{"same attribute twice in different case", "POST", "/scim/v2/Users", `{"userName":"a@acme.com","UserName":"b@acme.com","name":{"givenName":"a","familyName":"b"},"emails":[{"value":"a@acme.com"}]}`, nil, 400, "invalidSyntax"},
		{"invalid filter", "GET", "/scim/v2/Users?filter=" + q(`userName eq`), nil, nil, 400, "invalidFilter"},
		{"unquoted filter value", "GET", "/scim/v2/Users?filter=" + q(`userName eq jo`), nil, nil, 400, "invalidFilter"},
		{"unsupported filter attribute", "GET", "/scim/v2/Users?filter=" + q(`title eq "x"`), nil, nil, 400, "invalidFilter"},
		{"boolean compared with gt", "GET", "/scim/v2/Users?filter=" + q(`active gt true`), nil, nil, 400, "invalidFilter"},
		{"string compared with a number", "GET", "/scim/v2/Users?filter=" + q(`userName eq 42`), nil, nil, 400, "invalidFilter"},
		{"bad date", "GET", "/scim/v2/Users?filter=" + q(`meta.created gt "yesterday"`), nil, nil, 400, "invalidFilter"},
		{"other schema in filter", "GET", "/scim/v2/Users?filter=" + q(`urn:x:y:z:userName eq "a"`), nil, nil, 400, "invalidFilter"},
		{"filter too long", "GET", "/scim/v2/Users?filter=" + q(`userName eq "`+strings.Repeat("a", 2000)+`"`), nil, nil, 400, "invalidFilter"},
		{"filter nested too deep", "GET", "/scim/v2/Users?filter=" + q(strings.Repeat("(", 40)+`userName pr`+strings.Repeat(")", 40)), nil, nil, 400, "invalidFilter"},
		{"group filter on members with and", "GET", "/scim/v2/Groups?filter=" + q(`members[value eq "a" and value eq "b"]`), nil, nil, 400, "invalidFilter"},
		{"startIndex not a number", "GET", "/scim/v2/Users?startIndex=abc", nil, nil, 400, "invalidValue"},
		{"count not a number", "GET", "/scim/v2/Groups?count=1.5", nil, nil, 400, "invalidValue"},
		{"patch without Operations", "PATCH", "/scim/v2/Users/" + uid, `{"schemas":[` + patchURN + `]}`, nil, 400, "invalidSyntax"},
		{"patch with empty Operations", "PATCH", "/scim/v2/Users/" + uid, op(``), nil, 400, "invalidSyntax"},
		{"patch with another schema", "PATCH", "/scim/v2/Users/" + uid, `{"schemas":["urn:x"],"Operations":[{"op":"add","path":"title","value":"x"}]}`, nil, 400, "invalidSyntax"},
		{"patch unknown op", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"frobnicate","path":"title","value":"x"}`), nil, 400, "invalidSyntax"},
		{"patch remove without path", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"remove"}`), nil, 400, "noTarget"},
		{"patch add without value", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"add","path":"title"}`), nil, 400, "invalidSyntax"},
		{"patch unknown path", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"shoeSize","value":"9"}`), nil, 400, "invalidPath"},
		{"patch unknown sub-attribute", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"name.nickname","value":"x"}`), nil, 400, "invalidPath"},
		{"patch malformed path", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"emails[type eq","value":"x"}`), nil, 400, "invalidPath"},
		{"patch path not a string", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":7,"value":"x"}`), nil, 400, "invalidPath"},
		{"patch filter on a single-valued attribute", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"name[givenName eq \"x\"]","value":"x"}`), nil, 400, "invalidPath"},
		{"patch unmatched or-filter", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"emails[type eq \"a\" or type eq \"b\"].value","value":"x@acme.com"}`), nil, 400, "noTarget"},
		{"patch filter on an unknown sub-attribute", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"emails[color eq \"red\"].value","value":"x"}`), nil, 400, "invalidFilter"},
		{"patch read-only id", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"id","value":"x"}`), nil, 400, "mutability"},
		{"patch active to a non-boolean", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"active","value":"maybe"}`), nil, 400, "invalidValue"},
		{"patch userName to a non-email", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"userName","value":"jo"}`), nil, 400, "invalidValue"},
		{"patch removes userName", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"remove","path":"userName"}`), nil, 400, "invalidValue"},
		{"patch path-less value not an object", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","value":"x"}`), nil, 400, "invalidValue"},
		{"patch: valid op, then an invalid one", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"title","value":"half"},{"op":"replace","path":"nope","value":"x"}`), nil, 400, "invalidPath"},
		{"group without displayName", "POST", "/scim/v2/Groups", `{"members":[]}`, nil, 400, "invalidValue"},
		{"group displayName not a string", "POST", "/scim/v2/Groups", `{"displayName":["a"]}`, nil, 400, "invalidValue"},
		{"group with an unknown member", "POST", "/scim/v2/Groups", `{"displayName":"New","members":[{"value":"nobody"}]}`, nil, 400, "invalidValue"},
		{"group with a member without value", "POST", "/scim/v2/Groups", `{"displayName":"New","members":[{"display":"x"}]}`, nil, 400, "invalidValue"},
		{"nested group", "POST", "/scim/v2/Groups", `{"displayName":"New","members":[{"value":"` + gid + `","type":"Group"}]}`, nil, 400, "invalidValue"},
		{"group patch adds an unknown member", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"replace","path":"displayName","value":"Renamed"},{"op":"add","path":"members","value":[{"value":"nobody"}]}`), nil, 400, "invalidValue"},
		{"group patch removes displayName", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"remove","path":"displayName"}`), nil, 400, "invalidValue"},
		{"group patch unknown path", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"replace","path":"owner","value":"x"}`), nil, 400, "invalidPath"},
		{"group patch members sub-attribute", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"replace","path":"members.display","value":"x"}`), nil, 400, "invalidPath"},
		{"group patch add by filter", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"add","path":"members[value eq \"x\"]","value":"x"}`), nil, 400, "invalidPath"},
		{"group patch taken name", "PATCH", "/scim/v2/Groups/" + gid, op(`{"op":"replace","path":"displayName","value":"OTHER"}`), nil, 409, "uniqueness"},
		{"group put without displayName", "PUT", "/scim/v2/Groups/" + gid, `{"members":[]}`, nil, 400, "invalidValue"},
		{"stale If-Match", "PATCH", "/scim/v2/Users/" + uid, op(`{"op":"replace","path":"title","value":"x"}`), []string{"If-Match", `W/"999"`}, 412, ""},
		{"put unknown user", "PUT", "/scim/v2/Users/" + uuid.NewString(), userBody("z@acme.com", "Z", "Z"), nil, 404, ""},
		{"patch unknown group", "PATCH", "/scim/v2/Groups/nope", op(`{"op":"remove","path":"members"}`), nil, 404, ""},
		{"method not allowed", "DELETE", "/scim/v2/Users", nil, nil, 405, ""},
		{"unknown endpoint", "GET", "/scim/v2/Widgets", nil, nil, 404, ""},
		{"too deep a path", "GET", "/scim/v2/Users/" + uid + "/x", nil, nil, 404, ""},
	}
	if _, err := e.store.CreateTeam(context.Background(), e.org.ID, "Other", ""); err != nil {
		t.Fatal(err)
	}
	beforeUser, _ := e.store.MemberByID(context.Background(), e.org.ID, uid)
	beforeGroup, _ := e.store.TeamByID(context.Background(), e.org.ID, gid)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, e.scim, tt.body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("= %d %s; want %d", r.status, r.raw, tt.status)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if r.str("status") != fmt.Sprint(tt.status) || r.str("detail") == "" || r.str("scimType") != tt.scimType {
				t.Errorf("body = %s; want status %q, scimType %q and a detail", r.raw, fmt.Sprint(tt.status), tt.scimType)
			}
			if s, _ := get(r.body, "schemas/0"); s != errorURN {
				t.Errorf("schemas = %v", r.body["schemas"])
			}
		})
	}
	// Nothing was half-written.
	afterUser, _ := e.store.MemberByID(context.Background(), e.org.ID, uid)
	afterGroup, _ := e.store.TeamByID(context.Background(), e.org.ID, gid)
	if afterUser.Version != beforeUser.Version || afterGroup.Version != beforeGroup.Version || afterGroup.Name != "Eng" || len(afterGroup.MemberIDs) != 1 {
		t.Fatalf("failed requests changed things: user v%d->v%d, group %+v -> %+v", beforeUser.Version, afterUser.Version, beforeGroup, afterGroup)
	}
	r := e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "a@acme.com" or userName eq "z@acme.com"`), e.scim, nil)
	if r.body["totalResults"] != float64(0) {
		t.Fatalf("failed creates left users: %s", r.raw)
	}
}

// TestPaging checks RFC 7644's clamping of startIndex and count.
func TestPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.mustCreateUser(e.scim, fmt.Sprintf("u%d@acme.com", i))
	}
	for _, tt := range []struct {
		query             string
		start, items, tot int
	}{
		{"startIndex=-3&count=2", 1, 2, 3},
		{"startIndex=0", 1, 3, 3},
		{"count=-5", 1, 0, 3},
		{"count=0", 1, 0, 3},
		{"count=1000000", 1, 3, 3},
		{"startIndex=2&count=5", 2, 2, 3},
		{"startIndex=99999999999999999999", 0, 0, 0},
	} {
		r := e.do("GET", "/scim/v2/Users?"+tt.query, e.scim, nil)
		if tt.tot == 0 {
			if r.status != 400 {
				t.Errorf("%s = %d, want 400", tt.query, r.status)
			}
			continue
		}
		if r.status != 200 || r.body["startIndex"] != float64(tt.start) || r.body["itemsPerPage"] != float64(tt.items) || r.body["totalResults"] != float64(tt.tot) {
			t.Errorf("%s = %d %s; want startIndex %d, %d items of %d", tt.query, r.status, r.raw, tt.start, tt.items, tt.tot)
		}
	}
}

// TestConcurrentGroupPatches: Okta sends membership PATCHes to one group
// concurrently; none may be lost.
func TestConcurrentGroupPatches(t *testing.T) {
	e := newEnv(t)
	gid := e.mustCreateGroup(e.scim, "Everyone")
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = e.mustCreateUser(e.scim, fmt.Sprintf("user%02d@acme.com", i))
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"schemas":[` + patchURN + `],"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]},
				{"op":"replace","value":{"id":"` + gid + `","displayName":"Everyone"}}]}`
			statuses[i] = doURL(t, e.srv.URL, "PATCH", "/scim/v2/Groups/"+gid, e.scim, body).status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 204 {
			t.Errorf("PATCH %d = %d", i, s)
		}
	}
	r := e.do("GET", "/scim/v2/Groups/"+gid, e.scim, nil)
	if got := len(r.body["members"].([]any)); got != 40 {
		t.Fatalf("group has %d members after 40 concurrent adds, want 40", got)
	}
}

// TestConcurrentLoadNoBusy runs mixed traffic through two servers on one
// SQLite file, as the gate and the sidecar in two processes would:
// SQLITE_BUSY must never surface as a 5xx.
func TestConcurrentLoadNoBusy(t *testing.T) {
	e := newEnv(t)
	st2, err := openStore(e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	second := e.serve(st2)
	gid := e.mustCreateGroup(e.scim, "Load")
	workers, perWorker := 8, 12
	if testing.Short() {
		perWorker = 4
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := e.srv.URL
			if w%2 == 1 {
				base = second.URL
			}
			for i := range perWorker {
				email := fmt.Sprintf("load-%d-%d@acme.com", w, i)
				r := doURL(t, base, "POST", "/scim/v2/Users", e.scim, userBody(email, "L", "U"))
				check := func(what string, r result, want int) {
					if r.status != want {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s = %d %s", what, r.status, r.raw))
						mu.Unlock()
					}
				}
				check("create "+email, r, 201)
				id := r.str("id")
				check("filter", doURL(t, base, "GET", "/scim/v2/Users?filter="+q(`userName eq "`+email+`"`), e.scim, nil), 200)
				check("patch user", doURL(t, base, "PATCH", "/scim/v2/Users/"+id, e.scim,
					`{"schemas":[`+patchURN+`],"Operations":[{"op":"replace","path":"active","value":"False"}]}`), 200)
				check("patch group", doURL(t, base, "PATCH", "/scim/v2/Groups/"+gid, e.scim,
					`{"schemas":[`+patchURN+`],"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`), 204)
				check("list", doURL(t, base, "GET", "/scim/v2/Users?startIndex=1&count=10", e.scim, nil), 200)
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	r := e.do("GET", "/scim/v2/Groups/"+gid, e.scim, nil)
	if got := len(r.body["members"].([]any)); got != workers*perWorker {
		t.Fatalf("group has %d members, want %d", got, workers*perWorker)
	}
}

// TestRateLimit: a burst beyond a token's bucket is 429 with Retry-After
// and a SCIM body; other tokens are not affected.
func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	limited := e.serve(e.store, func(c *scimserver.Config) { c.RequestsPerSecond = 0.5; c.Burst = 3 })
	other := e.token(e.org, storage.ScopeSCIM)
	for i := range 3 {
		if r := doURL(t, limited.URL, "GET", "/scim/v2/Users", e.scim, nil); r.status != 200 {
			t.Fatalf("request %d within the burst = %d", i+1, r.status)
		}
	}
	r := doURL(t, limited.URL, "GET", "/scim/v2/Users", e.scim, nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" || r.str("status") != "429" || r.str("detail") == "" {
		t.Fatalf("beyond the burst = %d Retry-After %q %s; want 429 with Retry-After and a SCIM body", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/scim+json") {
		t.Errorf("429 Content-Type = %q", r.header.Get("Content-Type"))
	}
	if r := doURL(t, limited.URL, "GET", "/scim/v2/Users", other, nil); r.status != 200 {
		t.Fatalf("another token = %d, want 200", r.status)
	}
	if _, err := scimserver.New(scimserver.Config{Store: e.store, Burst: -1}); err == nil {
		t.Fatal("New accepted a negative burst")
	}
	if _, err := scimserver.New(scimserver.Config{}); err == nil {
		t.Fatal("New accepted no store")
	}
}

// TestPathPrefix: the endpoints are found under any outer prefix, and
// locations carry it.
func TestPathPrefix(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/provisioning/scim/v2/Users", e.scim, userBody("p@acme.com", "P", "Q"))
	if r.status != 201 || !strings.HasSuffix(r.header.Get("Location"), "/provisioning/scim/v2/Users/"+r.str("id")) ||
		r.str("meta/location") != r.header.Get("Location") {
		t.Fatalf("= %d Location %q %s", r.status, r.header.Get("Location"), r.raw)
	}
	if r := e.do("GET", "/İİİİ/SCIM/V2/Users", e.scim, nil); r.status != 200 {
		t.Fatalf("prefix with letters that change length when lower-cased, path in upper case = %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/elsewhere", e.scim, nil); r.status != 404 || r.str("error") == "" {
		t.Fatalf("unknown path = %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/api/v1/nothing", e.admin, nil); r.status != 404 || r.str("error") == "" {
		t.Fatalf("unknown API path = %d %s", r.status, r.raw)
	}
}

// TestETag: meta.version is the ETag; If-Match guards writes,
// If-None-Match saves a read.
func TestETag(t *testing.T) {
	e := newEnv(t)
	uid := e.mustCreateUser(e.scim, "etag@acme.com")
	r := e.do("GET", "/scim/v2/Users/"+uid, e.scim, nil)
	tag := r.header.Get("ETag")
	if tag == "" || tag != r.str("meta/version") {
		t.Fatalf("ETag %q, meta.version %q", tag, r.str("meta/version"))
	}
	if r := e.do("GET", "/scim/v2/Users/"+uid, e.scim, nil, "If-None-Match", tag); r.status != 304 {
		t.Fatalf("If-None-Match = %d", r.status)
	}
	body := `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"title","value":"x"}]}`
	r = e.do("PATCH", "/scim/v2/Users/"+uid, e.scim, body, "If-Match", tag)
	if r.status != 200 || r.header.Get("ETag") == tag {
		t.Fatalf("PATCH with the current If-Match = %d, ETag %q", r.status, r.header.Get("ETag"))
	}
	if r := e.do("PATCH", "/scim/v2/Users/"+uid, e.scim, body, "If-Match", tag); r.status != 412 {
		t.Fatalf("PATCH with a stale If-Match = %d, want 412", r.status)
	}
}
