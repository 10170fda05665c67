package scimserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestAuditSCIM: what SCIM changes is recorded with the SCIM token as the
// actor: users and groups made, changed (the fields that changed) and
// deleted. Reads, refusals and pushes that change nothing are not.
func TestAuditSCIM(t *testing.T) {
	e := newEnv(t)
	scim := e.tokenLabel(e.scim)
	by := func(action, target string, before, after any) auditEvent {
		return auditEvent{scim, "scim", action, target, before, after}
	}
	const password = "Tr0ub4dor&3-never-logged"
	jo := userBody("jo@acme.com", "Jo", "Smith")
	var joID, kimID, groupID string
	steps := []struct {
		name   string
		method string
		path   func() string
		body   any
		status int
		want   []auditEvent // the events it records, oldest first
	}{
		{"create a user", "POST", func() string { return "/scim/v2/Users" }, jo, 201,
			[]auditEvent{by("scim.user.create", "jo@acme.com", nil, map[string]any{"active": true, "role": "member"})}},
		{"read it", "GET", func() string { return "/scim/v2/Users/" + joID }, nil, 200, nil},
		{"list", "GET", func() string { return "/scim/v2/Users?filter=" + q(`userName eq "jo@acme.com"`) }, nil, 200, nil},
		{"the same profile again", "PUT", func() string { return "/scim/v2/Users/" + joID }, jo, 200, nil},
		{"a user of an unclaimed domain", "POST", func() string { return "/scim/v2/Users" }, userBody("x@elsewhere.org", "X", "Y"), 400, nil},
		{"deactivate", "PATCH", func() string { return "/scim/v2/Users/" + joID },
			`{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","value":{"active":false}}]}`, 200,
			[]auditEvent{by("scim.user.update", "jo@acme.com", map[string]any{"active": true}, map[string]any{"active": false})}},
		{"rename, retitle and reactivate, with a password", "PUT", func() string { return "/scim/v2/Users/" + joID }, func() any {
			b := userBody("jo@acme.com", "Joanna", "Smith")
			b["title"], b["externalId"], b["password"], b["active"] = "CTO", "00u1", password, true
			return b
		}(), 200, []auditEvent{by("scim.user.update", "jo@acme.com",
			map[string]any{"name.givenName": "Jo", "externalId": "", "active": false},
			map[string]any{"name.givenName": "Joanna", "externalId": "00u1", "active": true, "attributes": []any{"title"}})}},
		{"a second user", "POST", func() string { return "/scim/v2/Users" }, userBody("kim@acme.com", "Kim", "Lee"), 201,
			[]auditEvent{by("scim.user.create", "kim@acme.com", nil, map[string]any{"active": true, "role": "member"})}},
		{"create a group", "POST", func() string { return "/scim/v2/Groups" }, func() any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineering",
				"members": []any{map[string]any{"value": joID}}}
		}, 201, []auditEvent{by("scim.group.create", "Engineering", nil,
			map[string]any{"displayName": "Engineering", "members": 1.0, "added": []any{"jo@acme.com"}})}},
		{"add a member", "PATCH", func() string { return "/scim/v2/Groups/" + groupID }, func() any {
			return `{"schemas":[` + patchURN + `],"Operations":[{"op":"add","path":"members","value":[{"value":"` + kimID + `"}]}]}`
		}, 204, []auditEvent{by("scim.group.update", "Engineering", map[string]any{"members": 1.0},
			map[string]any{"members": 2.0, "added": []any{"kim@acme.com"}})}},
		{"rename and drop a member", "PATCH", func() string { return "/scim/v2/Groups/" + groupID }, func() any {
			return `{"schemas":[` + patchURN + `],"Operations":[{"op":"replace","path":"displayName","value":"Platform"},` +
				`{"op":"remove","path":"members[value eq \"` + joID + `\"]"}]}`
		}, 204, []auditEvent{by("scim.group.update", "Platform", map[string]any{"displayName": "Engineering", "members": 2.0},
			map[string]any{"displayName": "Platform", "members": 1.0, "removed": []any{"jo@acme.com"}})}},
		{"the same group again", "PUT", func() string { return "/scim/v2/Groups/" + groupID }, func() any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Platform",
				"members": []any{map[string]any{"value": kimID}}}
		}, 200, nil},
		{"delete the group", "DELETE", func() string { return "/scim/v2/Groups/" + groupID }, nil, 204,
			[]auditEvent{by("scim.group.delete", "Platform", map[string]any{"displayName": "Platform", "members": 1.0}, nil)}},
		{"delete a user", "DELETE", func() string { return "/scim/v2/Users/" + joID }, nil, 204,
			[]auditEvent{by("scim.user.delete", "jo@acme.com", map[string]any{"active": true, "role": "member"}, nil)}},
		{"delete it again", "DELETE", func() string { return "/scim/v2/Users/" + joID }, nil, 404, nil},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			before := len(e.storedEvents(e.org))
			body := s.body
			if f, ok := body.(func() any); ok {
				body = f()
			}
			r := e.do(s.method, s.path(), e.scim, body)
			if r.status != s.status {
				t.Fatalf("%s = %d %s; want %d", s.name, r.status, r.raw, s.status)
			}
			switch s.name {
			case "create a user":
				joID = r.str("id")
			case "a second user":
				kimID = r.str("id")
			case "create a group":
				groupID = r.str("id")
			}
			got := e.storedEvents(e.org)[before:]
			if diff := cmp.Diff(s.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
	es, _, err := e.store.ListAudit(context.Background(), e.org.ID, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range es {
		if text := string(ev.Before) + string(ev.After) + ev.Target; strings.Contains(text, password) || strings.Contains(text, e.scim) {
			t.Errorf("event %s holds a secret: %s", ev.Action, text)
		}
	}
}

// TestAuditSCIMNamesManyByCount: a group change of more members than an
// event names shows the group's size alone.
func TestAuditSCIMNamesManyByCount(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 12 {
		ids = append(ids, e.mustCreateUser(e.scim, "user"+string(rune('a'+i))+"@acme.com"))
	}
	e.mustCreateGroup(e.scim, "Everyone", ids...)
	es := e.storedEvents(e.org)
	want := auditEvent{e.tokenLabel(e.scim), "scim", "scim.group.create", "Everyone", nil,
		map[string]any{"displayName": "Everyone", "members": 12.0}}
	if diff := cmp.Diff(want, es[len(es)-1]); diff != "" {
		t.Fatalf("event (-want +got):\n%s", diff)
	}
	if r := e.do("GET", "/api/v1/audit?count=1", e.admin, nil); r.status != http.StatusOK || r.str("events/0/action") != "scim.group.create" {
		t.Fatalf("GET /api/v1/audit = %d %s", r.status, r.raw)
	}
}
