package scimserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/storage"
)

// tokenLabel is how the activity log names the token of the env: its
// name and ID.
func (e *env) tokenLabel(token string) string {
	e.t.Helper()
	rec, err := e.store.TokenByHash(context.Background(), apitoken.Hash(token))
	if err != nil {
		e.t.Fatal(err)
	}
	return "token " + rec.Name + " (" + rec.ID + ")"
}

// auditEvent is an event as compared: what the API shows but its ID and
// time.
type auditEvent struct {
	Actor, ActorKind, Action, Target string
	Before, After                    any
}

// storedEvents returns the org's events, oldest first.
func (e *env) storedEvents(org storage.Org) []auditEvent {
	e.t.Helper()
	es, _, err := e.store.ListAudit(context.Background(), org.ID, storage.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]auditEvent, len(es))
	for i, ev := range es {
		a := auditEvent{Actor: ev.Actor, ActorKind: ev.ActorKind, Action: ev.Action, Target: ev.Target}
		for _, v := range []struct {
			raw []byte
			dst *any
		}{{ev.Before, &a.Before}, {ev.After, &a.After}} {
			if len(v.raw) > 0 {
				if err := json.Unmarshal(v.raw, v.dst); err != nil {
					e.t.Fatalf("event %s: %v", ev.Action, err)
				}
			}
		}
		out[len(es)-1-i] = a
	}
	return out
}

// TestAuditAPI: the admin API's changes are events of the token's org,
// listed newest first and paged by GET /api/v1/audit; another org's
// token sees none of them and a SCIM token is refused.
func TestAuditAPI(t *testing.T) {
	e := newEnv(t)
	_, globexSCIM, globexAdmin := e.addOrg("globex", "globex.com")
	a, _, _ := testIdPs(t)
	admin := e.tokenLabel(e.admin)

	jo := e.addMember(e.org, "jo@acme.com", storage.RoleMember)
	eng := e.addTeam(e.org, "Engineering", jo.ID)
	var secret string
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/api/v1/tokens", `{"name":"Okta"}`, 201},
		{"PUT", "/api/v1/sso", explicitIdP(a), 200},
		{"PUT", "/api/v1/sso", `{"require_sso":true}`, 409}, // refused: not recorded
		{"PUT", "/api/v1/teams/" + eng.ID + "/role", `{"role":"admin"}`, 200},
		{"PUT", "/api/v1/members/" + jo.ID + "/role", `{"role":"owner"}`, 200},
		{"PUT", "/api/v1/members/" + jo.ID + "/role", `{"role":"owner"}`, 200}, // unchanged: not recorded
		{"POST", "/api/v1/domains", `{"domain":"acme.io"}`, 201},
		{"GET", "/api/v1/sso", nil, 200}, // a read: not recorded
	} {
		r := e.do(c.method, c.path, e.admin, c.body)
		if r.status != c.status {
			t.Fatalf("%s %s = %d %s; want %d", c.method, c.path, r.status, r.raw, c.status)
		}
		if c.path == "/api/v1/tokens" {
			secret = r.str("token")
		}
	}
	// One change of globex, which acme must never see.
	if r := e.do("POST", "/api/v1/domains", globexAdmin, `{"domain":"globex.io"}`); r.status != 201 {
		t.Fatalf("globex claim = %d %s", r.status, r.raw)
	}

	r := e.do("GET", "/api/v1/audit", e.admin, nil)
	if r.status != 200 {
		t.Fatalf("GET /api/v1/audit = %d %s", r.status, r.raw)
	}
	if strings.Contains(string(r.raw), secret) || strings.Contains(string(r.raw), "BEGIN CERTIFICATE") {
		t.Fatalf("the activity log shows a secret: %s", r.raw)
	}
	var page struct {
		Events []struct {
			ID        int64  `json:"id"`
			At        string `json:"at"`
			Actor     string `json:"actor"`
			ActorKind string `json:"actor_kind"`
			Action    string `json:"action"`
			Target    string `json:"target"`
			Before    any    `json:"before"`
			After     any    `json:"after"`
		} `json:"events"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(r.raw, &page); err != nil {
		t.Fatal(err)
	}
	var got []auditEvent
	for i, ev := range page.Events {
		if ev.ID == 0 || ev.At == "" || i > 0 && ev.ID >= page.Events[i-1].ID {
			t.Errorf("event %d: id %d, at %q; want newest first with times", i, ev.ID, ev.At)
		}
		got = append(got, auditEvent{ev.Actor, ev.ActorKind, ev.Action, ev.Target, ev.Before, ev.After})
	}
	okta := "token Okta (" + listTokenID(t, e, "Okta") + ")"
	fp := fingerprintOf(t, e)
	want := []auditEvent{
		{admin, "token", "domain.claim", "acme.io", nil, map[string]any{"status": "pending"}},
		{admin, "token", "member.role", "jo@acme.com", map[string]any{"role": "member"}, map[string]any{"role": "owner"}},
		{admin, "token", "team.role", "Engineering", map[string]any{"role": ""}, map[string]any{"role": "admin"}},
		{admin, "token", "sso.update", "SSO connection",
			map[string]any{"idp_sso_url": "", "idp_issuer": "", "idp_certificates": []any{}},
			map[string]any{"idp_sso_url": a.SSOURL(), "idp_issuer": a.EntityID(), "idp_certificates": []any{fp}}},
		{admin, "token", "token.create", okta, nil, map[string]any{"scope": "scim"}},
	}
	if diff := cmp.Diff(want, got); diff != "" || page.Total != len(want) {
		t.Fatalf("GET /api/v1/audit, total %d (-want +got):\n%s", page.Total, diff)
	}

	// Pages of it, and refusals.
	vars := map[string]string{"globex": globexAdmin, "globexSCIM": globexSCIM}
	api := func(s step) step {
		if s.token == "" {
			s.token = e.admin
		}
		return s
	}
	e.run(t, vars, []step{
		api(step{name: "a page", method: "GET", path: "/api/v1/audit?start_index=2&count=2", status: 200, checks: []check{
			eq("total", 5), length("events", 2), eq("events/0/action", "member.role"), eq("events/1/action", "team.role"),
		}}),
		api(step{name: "the total alone", method: "GET", path: "/api/v1/audit?count=0", status: 200, checks: []check{eq("total", 5), eq("events", []any{})}}),
		api(step{name: "past the end", method: "GET", path: "/api/v1/audit?start_index=9", status: 200, checks: []check{eq("total", 5), eq("events", []any{})}}),
		api(step{name: "a bad count", method: "GET", path: "/api/v1/audit?count=all", status: 400, checks: []check{eq("field", "count")}}),
		api(step{name: "another org sees its own only", method: "GET", path: "/api/v1/audit", token: "{{globex}}", status: 200, checks: []check{
			eq("total", 1), length("events", 1), eq("events/0/action", "domain.claim"), eq("events/0/target", "globex.io"),
		}}),
		{name: "a SCIM token is refused", method: "GET", path: "/api/v1/audit", token: "{{globexSCIM}}", status: 403},
		{name: "no token", method: "GET", path: "/api/v1/audit", token: "-", status: 401},
		api(step{name: "a wrong method", method: "POST", path: "/api/v1/audit", body: `{}`, status: 405}),
		api(step{name: "no sub-resource", method: "GET", path: "/api/v1/audit/1", status: 404}),
	})
}

func listTokenID(t *testing.T, e *env, name string) string {
	t.Helper()
	ts, err := e.store.ListTokens(context.Background(), e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range ts {
		if tok.Name == name {
			return tok.ID
		}
	}
	t.Fatalf("no token %s", name)
	return ""
}

// fingerprintOf is the fingerprint of acme's one IdP certificate.
func fingerprintOf(t *testing.T, e *env) string {
	t.Helper()
	r := e.do("GET", "/api/v1/sso", e.admin, nil)
	fp := r.str("certificates/0/sha256_fingerprint")
	if fp == "" {
		t.Fatalf("no certificate: %s", r.raw)
	}
	return fp
}
