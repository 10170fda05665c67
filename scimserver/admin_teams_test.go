package scimserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
)

// addMember makes a member of org in the store, as an invitation does.
func (e *env) addMember(org storage.Org, email string, role storage.Role) storage.Member {
	e.t.Helper()
	m, err := e.store.CreateMember(context.Background(), org.ID, storage.NewMember{
		Email: email, GivenName: "Given", FamilyName: "Family", Role: role, Active: true,
	}, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// addTeam makes a team of org with these members.
func (e *env) addTeam(org storage.Org, name string, members ...string) storage.Team {
	e.t.Helper()
	t, err := e.store.CreateTeamWithMembers(context.Background(), org.ID, name, "", members)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// membersByEmail lists the org's members through the API, by email.
func (e *env) membersByEmail(token string) (map[string]map[string]any, float64) {
	e.t.Helper()
	r := e.do("GET", "/api/v1/members", token, nil)
	list, ok := r.body["members"].([]any)
	if r.status != http.StatusOK || !ok {
		e.t.Fatalf("members = %d %s", r.status, r.raw)
	}
	out := map[string]map[string]any{}
	for _, el := range list {
		m := el.(map[string]any)
		out[m["email"].(string)] = m
	}
	total, _ := r.body["total"].(float64)
	return out, total
}

// TestTeamRoles: a team grants its members a role, which their effective
// role shows; a team never grants owner.
func TestTeamRoles(t *testing.T) {
	e := newEnv(t)
	jo := e.addMember(e.org, "jo@acme.com", storage.RoleMember)
	kim := e.addMember(e.org, "kim@acme.com", storage.RoleMember)
	eng := e.addTeam(e.org, "Engineering", jo.ID, kim.ID)
	e.addTeam(e.org, "Ops")
	vars := map[string]string{"eng": eng.ID}
	api := func(s step) step {
		s.token = e.admin
		return s
	}
	e.run(t, vars, []step{
		api(step{name: "list", method: "GET", path: "/api/v1/teams", status: 200, checks: []check{
			eq("total", 2), length("teams", 2), eq("teams/0/id", "{{eng}}"), eq("teams/0/name", "Engineering"), eq("teams/0/role", nil),
			eq("teams/0/members", 2), eq("teams/1/name", "Ops"), eq("teams/1/members", 0),
		}}),
		api(step{name: "a page", method: "GET", path: "/api/v1/teams?start_index=2&count=1", status: 200, checks: []check{
			eq("total", 2), length("teams", 1), eq("teams/0/name", "Ops"),
		}}),
		api(step{name: "a bad count", method: "GET", path: "/api/v1/teams?count=ten", status: 400, checks: []check{eq("field", "count")}}),
		api(step{name: "a bad start", method: "GET", path: "/api/v1/teams?start_index=x", status: 400, checks: []check{eq("field", "start_index")}}),
		api(step{name: "grant admin", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":"admin"}`, status: 200, checks: []check{
			eq("id", "{{eng}}"), eq("name", "Engineering"), eq("role", "admin"), eq("members", 2),
		}}),
		api(step{name: "again is the same", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":"admin"}`, status: 200, checks: []check{eq("role", "admin")}}),
		api(step{name: "never owner", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":"owner"}`, status: 400, checks: []check{
			eq("field", "role"), contains("error", "cannot grant the owner role"),
		}}),
		api(step{name: "an unknown role", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":"boss"}`, status: 400, checks: []check{eq("field", "role")}}),
		api(step{name: "a role of the wrong type", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":1}`, status: 400, checks: []check{eq("field", "role")}}),
		api(step{name: "no role", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{}`, status: 400, checks: []check{eq("field", "role"), contains("error", "required")}}),
		api(step{name: "an unknown field", method: "PUT", path: "/api/v1/teams/{{eng}}/role", body: `{"role":"admin","name":"x"}`, status: 400, checks: []check{eq("field", "name")}}),
		api(step{name: "an unknown team", method: "PUT", path: "/api/v1/teams/nope/role", body: `{"role":"admin"}`, status: 404, checks: []check{contains("error", "GET /api/v1/teams")}}),
		api(step{name: "a wrong method", method: "GET", path: "/api/v1/teams/{{eng}}/role", status: 405}),
	})
	members, _ := e.membersByEmail(e.admin)
	if diff := cmp.Diff(normalize(map[string]any{
		"id": jo.ID, "email": "jo@acme.com", "first_name": "Given", "last_name": "Family", "role": "member",
		"effective_role": "admin", "active": true, "teams": []string{"Engineering"},
	}), any(members["jo@acme.com"])); diff != "" {
		t.Fatalf("jo (-want +got):\n%s", diff)
	}
	for _, role := range []string{`"none"`, `null`, `""`} {
		r := e.do("PUT", "/api/v1/teams/"+eng.ID+"/role", e.admin, `{"role":`+role+`}`)
		if r.status != 200 || r.body["role"] != nil {
			t.Fatalf("role %s = %d %s; want 200, role null", role, r.status, r.raw)
		}
	}
	members, _ = e.membersByEmail(e.admin)
	if got := members["jo@acme.com"]["effective_role"]; got != "member" {
		t.Fatalf("effective role after the team's role is removed = %v; want member", got)
	}
	r := e.do("PUT", "/api/v1/teams/"+eng.ID+"/role", e.admin, `{"role":"member"}`)
	if r.status != 200 || r.body["role"] != "member" {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
}

// TestMemberRoles: a member's own role; the last owner stays an owner.
func TestMemberRoles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	olive := e.addMember(e.org, "olive@acme.com", storage.RoleOwner)
	jo := e.addMember(e.org, "jo@acme.com", storage.RoleMember)
	gone := e.addMember(e.org, "gone@acme.com", storage.RoleAdmin)
	if _, err := e.store.SetActive(ctx, e.org.ID, gone.ID, false); err != nil {
		t.Fatal(err)
	}
	e.addTeam(e.org, "Admins", jo.ID)

	members, total := e.membersByEmail(e.admin)
	if total != 3 || len(members) != 3 {
		t.Fatalf("members = %v, total %v; want 3", members, total)
	}
	for email, want := range map[string]map[string]any{
		"olive@acme.com": {"role": "owner", "effective_role": "owner", "active": true, "teams": []any{}},
		"jo@acme.com":    {"role": "member", "effective_role": "member", "active": true, "teams": []any{"Admins"}},
		"gone@acme.com":  {"role": "admin", "effective_role": "admin", "active": false, "teams": []any{}},
	} {
		got := map[string]any{}
		for k := range want {
			got[k] = members[email][k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", email, diff)
		}
	}

	vars := map[string]string{"olive": olive.ID, "jo": jo.ID}
	api := func(s step) step {
		s.token = e.admin
		return s
	}
	e.run(t, vars, []step{
		api(step{name: "a page", method: "GET", path: "/api/v1/members?start_index=2&count=1", status: 200, checks: []check{eq("total", 3), length("members", 1)}}),
		api(step{name: "the total alone", method: "GET", path: "/api/v1/members?count=0", status: 200, checks: []check{eq("total", 3), eq("members", []any{})}}),
		api(step{name: "the last owner stays", method: "PUT", path: "/api/v1/members/{{olive}}/role", body: `{"role":"admin"}`, status: 409, checks: []check{
			contains("error", "last owner"), contains("error", "olive@acme.com"),
		}}),
		api(step{name: "an unknown role", method: "PUT", path: "/api/v1/members/{{jo}}/role", body: `{"role":"superuser"}`, status: 400, checks: []check{eq("field", "role")}}),
		api(step{name: "no role", method: "PUT", path: "/api/v1/members/{{jo}}/role", body: `{"role":null}`, status: 400, checks: []check{eq("field", "role")}}),
		api(step{name: "an unknown member", method: "PUT", path: "/api/v1/members/nope/role", body: `{"role":"admin"}`, status: 404, checks: []check{contains("error", "GET /api/v1/members")}}),
		api(step{name: "make a second owner", method: "PUT", path: "/api/v1/members/{{jo}}/role", body: `{"role":"owner"}`, status: 200, checks: []check{
			eq("id", "{{jo}}"), eq("role", "owner"), eq("effective_role", "owner"), eq("teams", []any{"Admins"}),
		}}),
		api(step{name: "now the first may step down", method: "PUT", path: "/api/v1/members/{{olive}}/role", body: `{"role":"member"}`, status: 200, checks: []check{
			eq("role", "member"), eq("effective_role", "member"),
		}}),
		api(step{name: "a wrong method", method: "POST", path: "/api/v1/members", status: 405}),
	})
	if m, err := e.store.MemberByID(ctx, e.org.ID, olive.ID); err != nil || m.Role != storage.RoleMember {
		t.Fatalf("stored %+v, %v", m, err)
	}
}
