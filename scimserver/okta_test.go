package scimserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const (
	userURN  = `"urn:ietf:params:scim:schemas:core:2.0:User"`
	groupURN = `"urn:ietf:params:scim:schemas:core:2.0:Group"`
	patchURN = `"urn:ietf:params:scim:api:messages:2.0:PatchOp"`
	listURN  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	errorURN = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// oktaHeaders are what Okta's spec test sends.
var oktaHeaders = []string{"Accept", "application/scim+json", "Accept-Charset", "utf-8", "User-Agent", "OKTA SCIM Integration"}

// TestOktaSpecTest is Okta's "SCIM 2.0 SPEC Test" (Runscope), step for
// step, with its assertions (scim.md section 1.3).
func TestOktaSpecTest(t *testing.T) {
	e := newEnv(t)
	// Okta's guide: seed at least one active user first.
	e.mustCreateUser(e.scim, "seed.user@acme.com")
	random := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	vars := map[string]string{
		"InvalidUserEmail":       "invalid.user." + random + "@acme.com",
		"randomEmail":            "okta.user." + random + "@acme.com",
		"randomUsernameCaps":     strings.ToUpper("okta.user." + random + "@acme.com"),
		"randomGivenName":        "Given" + random,
		"randomFamilyName":       "Family" + random,
		"UserIdThatDoesNotExist": "010101001010101010",
	}
	createBody := `{"schemas":[` + userURN + `],"userName":"{{randomEmail}}",
		"name":{"givenName":"{{randomGivenName}}","familyName":"{{randomFamilyName}}"},
		"emails":[{"primary":true,"value":"{{randomEmail}}","type":"work"}],
		"displayName":"{{randomGivenName}} {{randomFamilyName}}","active":true}`
	jsonCT := append([]string{"Content-Type", "application/json"}, oktaHeaders...)
	e.run(t, vars, []step{
		{name: "S1 test users endpoint", method: "GET", path: "/scim/v2/Users?count=1&startIndex=1", hdr: oktaHeaders, status: 200,
			checks: []check{contains("schemas", listURN), number("itemsPerPage"), number("startIndex"), number("totalResults"),
				nonEmpty("Resources"), nonEmpty("Resources/0/id"), nonEmpty("Resources/0/name/familyName"),
				nonEmpty("Resources/0/name/givenName"), nonEmpty("Resources/0/userName"), eq("Resources/0/active", true),
				nonEmpty("Resources/0/emails/0/value")},
			save: map[string]string{"ISVUserid": "Resources/0/id"}},
		{name: "S2 get user by id", method: "GET", path: "/scim/v2/Users/{{ISVUserid}}", hdr: oktaHeaders, status: 200,
			checks: []check{eq("id", "{{ISVUserid}}"), nonEmpty("name/familyName"), nonEmpty("name/givenName"),
				nonEmpty("userName"), eq("active", true), nonEmpty("emails/0/value")}},
		{name: "S3 invalid user by username", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{InvalidUserEmail}}"`), hdr: oktaHeaders, status: 200,
			checks: []check{contains("schemas", listURN), eq("totalResults", 0)}},
		{name: "S4 invalid user by id", method: "GET", path: "/scim/v2/Users/{{UserIdThatDoesNotExist}}", hdr: oktaHeaders, status: 404,
			checks: []check{nonEmpty("detail"), contains("schemas", errorURN)}},
		{name: "S5 random user does not exist", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{randomEmail}}"`), hdr: oktaHeaders, status: 200,
			checks: []check{eq("totalResults", 0), contains("schemas", listURN)}},
		{name: "S6 create user", method: "POST", path: "/scim/v2/Users", hdr: jsonCT, body: createBody, status: 201,
			checks: []check{eq("active", true), nonEmpty("id"), eq("name/familyName", "{{randomFamilyName}}"),
				eq("name/givenName", "{{randomGivenName}}"), contains("schemas", "urn:ietf:params:scim:schemas:core:2.0:User"),
				eq("userName", "{{randomEmail}}")},
			save: map[string]string{"idUserOne": "id", "randomUserEmail": "emails/0/value"}},
		{name: "S7 verify user was created", method: "GET", path: "/scim/v2/Users/{{idUserOne}}", hdr: oktaHeaders, status: 200,
			checks: []check{eq("userName", "{{randomEmail}}"), eq("name/familyName", "{{randomFamilyName}}"), eq("name/givenName", "{{randomGivenName}}")}},
		{name: "S8 recreating the user fails", method: "POST", path: "/scim/v2/Users", hdr: jsonCT, body: createBody, status: 409,
			checks: []check{eq("status", "409"), eq("scimType", "uniqueness"), nonEmpty("detail")}},
		{name: "S9 username case sensitivity", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{randomUsernameCaps}}"`), hdr: oktaHeaders, status: 200,
			// Okta asserts only 200; userName is caseExact false, so the user is found.
			checks: []check{eq("totalResults", 1), eq("Resources/0/id", "{{idUserOne}}")}},
		{name: "S10 groups endpoint", method: "GET", path: "/scim/v2/Groups", hdr: oktaHeaders, status: 200,
			checks: []check{contains("schemas", listURN)}},
		{name: "S11 status 401", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{randomUsernameCaps}}"`), token: "-",
			hdr: append([]string{"Authorization", "non-token"}, oktaHeaders...), status: 401,
			checks: []check{nonEmpty("detail"), eq("status", "401"), contains("schemas", errorURN)}},
		{name: "S12 status 404", method: "GET", path: "/scim/v2/Users/00919288221112222", hdr: oktaHeaders, status: 404,
			checks: []check{nonEmpty("detail"), eq("status", "404"), contains("schemas", errorURN)}},
	})
}

// TestOktaSequences replays Okta's provisioning requests (scim.md section
// 1.1, O1-O13) in both flavours: OIN template apps PATCH active and group
// membership; apps made with the App Integration Wizard PUT everything.
func TestOktaSequences(t *testing.T) {
	for _, flavour := range []string{"patch", "put"} {
		t.Run(flavour, func(t *testing.T) {
			e := newEnv(t)
			// O2 pages across these; order must be stable whatever the count.
			for i := range 5 {
				e.mustCreateUser(e.scim, fmt.Sprintf("existing%d@acme.com", i))
			}
			vars := map[string]string{"email": "jo." + flavour + "@acme.com", "other": "ann." + flavour + "@acme.com"}
			userJSON := func(active, given string) string {
				return `{"schemas":[` + userURN + `],"id":"{{uid}}","userName":"{{email}}",
					"name":{"givenName":"` + given + `","familyName":"Smith"},
					"emails":[{"primary":true,"value":"{{email}}","type":"work"}],"displayName":"` + given + ` Smith",
					"locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":` + active + `,
					"meta":{"resourceType":"User","location":"x"}}`
			}
			deactivate := step{name: "O8 deactivate", method: "PATCH", path: "/scim/v2/Users/{{uid}}",
				body:   `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","value":{"active":false}}]}`,
				status: 200, checks: []check{eq("active", false), eq("id", "{{uid}}")}}
			reactivate := step{name: "O9 reactivate", method: "PATCH", path: "/scim/v2/Users/{{uid}}",
				body:   `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","value":{"active":true}}]}`,
				status: 200, checks: []check{eq("active", true)}}
			membership := step{name: "O11 membership change", method: "PATCH", path: "/scim/v2/Groups/{{gid}}",
				body: `{"schemas":[` + patchURN + `],"Operations":[
					{"op":"remove","path":"members[value eq \"{{uid}}\"]"},
					{"op":"add","path":"members","value":[{"value":"{{uid2}}","display":"{{other}}"}]}]}`,
				status: 204}
			fullPush := step{name: "O11 full push", method: "PATCH", path: "/scim/v2/Groups/{{gid}}",
				body:   `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"members","value":[{"value":"{{uid}}"},{"value":"{{uid2}}"}]}]}`,
				status: 204}
			rename := step{name: "O12 rename", method: "PATCH", path: "/scim/v2/Groups/{{gid}}",
				body:   `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","value":{"id":"{{gid}}","displayName":"Engineering"}}]}`,
				status: 204}
			if flavour == "put" {
				deactivate = step{name: "O8' deactivate by PUT", method: "PUT", path: "/scim/v2/Users/{{uid}}", body: userJSON("false", "Joe"),
					status: 200, checks: []check{eq("active", false), eq("name/givenName", "Joe")}}
				reactivate = step{name: "O9' reactivate by PUT", method: "PUT", path: "/scim/v2/Users/{{uid}}", body: userJSON("true", "Joe"),
					status: 200, checks: []check{eq("active", true)}}
				membership = step{name: "O11' membership by PUT", method: "PUT", path: "/scim/v2/Groups/{{gid}}",
					body:   `{"schemas":[` + groupURN + `],"id":"{{gid}}","displayName":"Eng","members":[{"value":"{{uid2}}","display":"{{other}}"}]}`,
					status: 200, checks: []check{length("members", 1), eq("members/0/value", "{{uid2}}")}}
				fullPush = step{name: "O11' full push by PUT", method: "PUT", path: "/scim/v2/Groups/{{gid}}",
					body:   `{"schemas":[` + groupURN + `],"id":"{{gid}}","displayName":"Eng","members":[{"value":"{{uid}}"},{"value":"{{uid2}}"}]}`,
					status: 200, checks: []check{length("members", 2)}}
				rename = step{name: "O12' rename by PUT", method: "PUT", path: "/scim/v2/Groups/{{gid}}",
					body:   `{"schemas":[` + groupURN + `],"id":"{{gid}}","displayName":"Engineering","members":[{"value":"{{uid}}"},{"value":"{{uid2}}"}]}`,
					status: 200, checks: []check{eq("displayName", "Engineering"), length("members", 2)}}
			}
			e.run(t, vars, []step{
				{name: "O1 test credentials users", method: "GET", path: "/scim/v2/Users?startIndex=1&count=2", status: 200,
					checks: []check{eq("itemsPerPage", 2), eq("startIndex", 1), eq("totalResults", 5), length("Resources", 2)},
					save:   map[string]string{"first": "Resources/0/id", "second": "Resources/1/id"}},
				{name: "O1 test credentials groups", method: "GET", path: "/scim/v2/Groups?startIndex=1&count=100", status: 200,
					checks: []check{eq("totalResults", 0), length("Resources", 0)}},
				{name: "O2 import page 1", method: "GET", path: "/scim/v2/Users?startIndex=1&count=100", status: 200,
					checks: []check{eq("totalResults", 5), eq("itemsPerPage", 5), eq("Resources/0/id", "{{first}}"), eq("Resources/1/id", "{{second}}")},
					save:   map[string]string{"third": "Resources/2/id", "fifth": "Resources/4/id"}},
				{name: "O2 import page 2 of 2", method: "GET", path: "/scim/v2/Users?startIndex=3&count=2", status: 200,
					checks: []check{eq("startIndex", 3), eq("itemsPerPage", 2), eq("Resources/0/id", "{{third}}")}},
				{name: "O2 import last page", method: "GET", path: "/scim/v2/Users?startIndex=5&count=2", status: 200,
					checks: []check{eq("itemsPerPage", 1), eq("Resources/0/id", "{{fifth}}")}},
				{name: "O2 past the end", method: "GET", path: "/scim/v2/Users?startIndex=101&count=100", status: 200,
					checks: []check{eq("totalResults", 5), eq("itemsPerPage", 0), length("Resources", 0)}},
				{name: "O4a lookup before push", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{email}}"`) + "&startIndex=1&count=100", status: 200,
					checks: []check{eq("totalResults", 0), length("Resources", 0)}},
				{name: "O4a lookup with plus for spaces", method: "GET", path: `/scim/v2/Users?filter=userName+eq+%22{{email}}%22&startIndex=1&count=100`, status: 200,
					checks: []check{eq("totalResults", 0)}},
				{name: "O4b create", method: "POST", path: "/scim/v2/Users", hdr: []string{"User-Agent", "Okta SCIM Client 1.0.0"},
					body: `{"schemas":[` + userURN + `],"userName":"{{email}}","name":{"givenName":"Jo","familyName":"Smith"},
						"emails":[{"primary":true,"value":"{{email}}","type":"work"}],"displayName":"Jo Smith","locale":"en-US",
						"externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`,
					status: 201, checks: []check{nonEmpty("id"), eq("userName", "{{email}}"), eq("externalId", "00ujl29u0le5T6Aj10h7"),
						eq("locale", "en-US"), absent("password"), absent("groups"), eq("meta/resourceType", "User"), nonEmpty("meta/location")},
					save: map[string]string{"uid": "id"}},
				{name: "O4 lookup now finds the user", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{email}}"`) + "&startIndex=1&count=100", status: 200,
					checks: []check{eq("totalResults", 1), eq("Resources/0/id", "{{uid}}")}},
				{name: "O4 push of an existing user", method: "POST", path: "/scim/v2/Users", body: userJSON("true", "Jo"), status: 409,
					checks: []check{eq("scimType", "uniqueness"), nonEmpty("detail")}},
				{name: "O5/O6 get by id", method: "GET", path: "/scim/v2/Users/{{uid}}", status: 200, checks: []check{eq("id", "{{uid}}")}},
				{name: "O6 unknown id", method: "GET", path: "/scim/v2/Users/" + uuid.NewString(), status: 404, checks: []check{eq("status", "404")}},
				{name: "O7 profile push (PUT echoing id, meta, groups)", method: "PUT", path: "/scim/v2/Users/{{uid}}", body: userJSON("true", "Joe"), status: 200,
					checks: []check{eq("name/givenName", "Joe"), eq("displayName", "Joe Smith"), eq("id", "{{uid}}"), absent("password")}},
				deactivate,
				{name: "deactivated user stays visible by id", method: "GET", path: "/scim/v2/Users/{{uid}}", status: 200, checks: []check{eq("active", false)}},
				{name: "deactivated user stays visible by filter", method: "GET", path: "/scim/v2/Users?filter=" + q(`userName eq "{{email}}"`), status: 200,
					checks: []check{eq("totalResults", 1), eq("Resources/0/active", false)}},
				reactivate,
				{name: "second user for groups", method: "POST", path: "/scim/v2/Users",
					body:   `{"schemas":[` + userURN + `],"userName":"{{other}}","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"primary":true,"value":"{{other}}","type":"work"}],"active":true}`,
					status: 201, save: map[string]string{"uid2": "id"}},
				{name: "O10 group lookup", method: "GET", path: "/scim/v2/Groups?filter=" + q(`displayName eq "Eng"`), status: 200,
					checks: []check{eq("totalResults", 0)}},
				{name: "O10 group create", method: "POST", path: "/scim/v2/Groups", body: `{"schemas":[` + groupURN + `],"displayName":"Eng","members":[]}`, status: 201,
					checks: []check{nonEmpty("id"), eq("displayName", "Eng"), eq("meta/resourceType", "Group")}, save: map[string]string{"gid": "id"}},
				{name: "O10 group lookup finds it", method: "GET", path: "/scim/v2/Groups?filter=" + q(`displayName eq "Eng"`), status: 200,
					checks: []check{eq("totalResults", 1), eq("Resources/0/id", "{{gid}}")}},
				{name: "seed membership", method: "PATCH", path: "/scim/v2/Groups/{{gid}}",
					body: `{"schemas":[` + patchURN + `],"Operations":[{"op":"add","path":"members","value":[{"value":"{{uid}}","display":"{{email}}"}]}]}`, status: 204},
				membership,
				{name: "after membership change", method: "GET", path: "/scim/v2/Groups/{{gid}}", status: 200,
					checks: []check{length("members", 1), eq("members/0/value", "{{uid2}}")}},
				fullPush,
				{name: "after full push", method: "GET", path: "/scim/v2/Groups/{{gid}}", status: 200, checks: []check{length("members", 2)}},
				rename,
				{name: "after rename", method: "GET", path: "/scim/v2/Groups/{{gid}}", status: 200,
					checks: []check{eq("displayName", "Engineering"), eq("id", "{{gid}}"), length("members", 2)}},
				{name: "O13 delete group", method: "DELETE", path: "/scim/v2/Groups/{{gid}}", status: 204},
				{name: "O13 group is gone", method: "GET", path: "/scim/v2/Groups/{{gid}}", status: 404},
				{name: "O8 again: unassign leaves the user deactivated", method: "PATCH", path: "/scim/v2/Users/{{uid}}",
					body:   `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","value":{"active":false}}]}`,
					status: 200, checks: []check{eq("active", false)}},
			})

			// The users are members of acme with role member; deactivation
			// and the group changes reached the store.
			m, err := e.store.MemberByEmail(context.Background(), e.org.ID, vars["email"])
			if err != nil || m.Active || m.Role != "member" || m.GivenName != "Joe" {
				t.Fatalf("stored member = %+v, %v; want inactive member Joe", m, err)
			}
			if strings.Contains(string(m.Attrs), "1mz050nq") {
				t.Fatalf("the password reached the store: %s", m.Attrs)
			}
		})
	}
}

// TestOktaAssignExistingDeactivatedUser is O5: Okta finds a user we hold
// deactivated, then reactivates it (PUT for wizard apps).
func TestOktaAssignExistingDeactivatedUser(t *testing.T) {
	e := newEnv(t)
	id := e.mustCreateUser(e.scim, "held@acme.com")
	if _, err := e.store.SetActive(context.Background(), e.org.ID, id, false); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "held@acme.com"`)+"&startIndex=1&count=100", e.scim, nil)
	if r.status != http.StatusOK || r.str("Resources/0/id") != id {
		t.Fatalf("lookup = %d %s", r.status, r.raw)
	}
	r = e.do("GET", "/scim/v2/Users/"+id, e.scim, nil)
	doc := r.body
	doc["active"] = true
	r = e.do("PUT", "/scim/v2/Users/"+id, e.scim, doc)
	if r.status != http.StatusOK || r.body["active"] != true {
		t.Fatalf("PUT echo with active:true = %d %s", r.status, r.raw)
	}
}
