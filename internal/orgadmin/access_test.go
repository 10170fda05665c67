package orgadmin_test

import (
	"slices"
	"testing"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// TestAuditTokens: making and revoking a token are events naming the
// token, never its secret; refusals record nothing.
func TestAuditTokens(t *testing.T) {
	f := newFixture(t, "")
	actor := orgadmin.Operator
	var tok, okta storage.Token
	var secrets []string
	create := func(name string, scope storage.Scope) func() error {
		return func() error {
			t, secret, err := f.svc.CreateToken(f.ctx, f.acme, actor, name, scope)
			if err == nil {
				tok = t
				secrets = append(secrets, secret)
			}
			return err
		}
	}
	revoke := func(id *string) func() error {
		return func() error { _, err := f.svc.RevokeToken(f.ctx, f.acme, actor, *id); return err }
	}
	operator := func(action string, target func() string, before, after any) func() *event {
		return func() *event {
			return &event{Actor: "operator (ssogate CLI)", ActorKind: storage.ActorOperator, Action: action, Target: target(), Before: before, After: after}
		}
	}
	label := func() string { return "token okta (" + tok.ID + ")" }
	globexTok, _, err := f.svc.CreateToken(f.ctx, f.globex, actor, "globex", storage.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	nope := "tok_nope"
	var id string
	f.run([]step{
		{name: "make a scim token", do: func() error {
			err := create(" okta ", storage.ScopeSCIM)()
			okta = tok
			return err
		}, want: operator("token.create", label, nil, obj("scope", "scim"))},
		{name: "make an admin token without a name", do: create("", storage.ScopeAdmin),
			want: operator("token.create", func() string { return "token " + tok.ID }, nil, obj("scope", "admin"))},
		{name: "a long name", do: create(string(make([]byte, 101)), storage.ScopeSCIM), wantErr: isField("name")},
		{name: "a control character", do: create("a\nb", storage.ScopeSCIM), wantErr: isField("name")},
		{name: "an unknown scope", do: create("x", "root"), wantErr: isField("scope")},
		{name: "revoke", do: func() error {
			tok = okta
			id = okta.ID
			return revoke(&id)()
		}, want: func() *event { return operator("token.revoke", label, obj("scope", "scim"), nil)() }},
		{name: "revoke again", do: revoke(&id), wantErr: isNotFound},
		{name: "an unknown token", do: revoke(&nope), wantErr: isNotFound},
		{name: "another org's token", do: revoke(&globexTok.ID), wantErr: isNotFound},
	})
	f.noSecrets(f.acme, secrets...)
	if len(secrets) != 2 {
		t.Fatalf("%d secrets", len(secrets))
	}
}

// TestAuditDomains: claim, verify and remove are events with the
// claim's status; a refused or failed one records nothing.
func TestAuditDomains(t *testing.T) {
	f := newFixture(t, "")
	jo := orgadmin.Member("jo@acme.com")
	var claim storage.Domain
	by := func(a orgadmin.Actor, action, target string, before, after any) func() *event {
		return func() *event {
			return &event{Actor: a.Name, ActorKind: a.Kind, Action: action, Target: target, Before: before, After: after}
		}
	}
	f.run([]step{
		{name: "claim", do: func() error {
			var err error
			claim, err = f.svc.ClaimDomain(f.ctx, f.acme, jo, "Acme.IO.")
			return err
		}, want: by(jo, "domain.claim", "acme.io", nil, obj("status", "pending"))},
		{name: "claim again", do: func() error { _, err := f.svc.ClaimDomain(f.ctx, f.acme, jo, "acme.io"); return err }, wantErr: isRule},
		{name: "a public suffix", do: func() error { _, err := f.svc.ClaimDomain(f.ctx, f.acme, jo, "co.uk"); return err }, wantErr: isField("domain")},
		{name: "verify before publishing", do: func() error { _, err := f.svc.VerifyDomain(f.ctx, f.acme, jo, "acme.io"); return err }, wantErr: isVerify},
		{name: "verify", do: func() error {
			f.dns.Publish(domainclaim.RecordName("acme.io"), claim.TXTValue)
			_, err := f.svc.VerifyDomain(f.ctx, f.acme, jo, "acme.io")
			return err
		}, want: by(jo, "domain.verify", "acme.io", obj("status", "pending"), obj("status", "verified"))},
		{name: "verify again changes nothing", do: func() error { _, err := f.svc.VerifyDomain(f.ctx, f.acme, jo, "acme.io"); return err }},
		{name: "verify unclaimed", do: func() error { _, err := f.svc.VerifyDomain(f.ctx, f.acme, jo, "nope.io"); return err }, wantErr: isNotFound},
		{name: "another org cannot claim it", do: func() error {
			_, err := f.svc.ClaimDomain(f.ctx, f.globex, jo, "acme.io")
			return err
		}, wantErr: isRule},
		{name: "a Caddyfile's domain is the operator's", do: func() error { return f.svc.RemoveDomain(f.ctx, f.acme, jo, "acme.com") }, wantErr: isRule},
		{name: "remove", do: func() error { return f.svc.RemoveDomain(f.ctx, f.acme, jo, "acme.io") },
			want: by(jo, "domain.remove", "acme.io", obj("status", "verified"), nil)},
		{name: "remove again", do: func() error { return f.svc.RemoveDomain(f.ctx, f.acme, jo, "acme.io") }, wantErr: isNotFound},
		{name: "the operator removes a Caddyfile's domain", do: func() error { return f.svc.RemoveDomain(f.ctx, f.acme, orgadmin.Operator, "acme.com") },
			want: by(orgadmin.Operator, "domain.remove", "acme.com", obj("status", "verified"), nil)},
	})
}

// TestAuditTeamsAndMembers: team and member changes are events with the
// role or state before and after; no-op and refused changes record
// nothing.
func TestAuditTeamsAndMembers(t *testing.T) {
	f := newFixture(t, "")
	admin, _, err := f.svc.CreateToken(f.ctx, f.acme, orgadmin.Operator, "settings page", storage.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	a := orgadmin.Token(admin)
	var eng storage.Team
	var olive, jo orgadmin.MemberView
	by := func(action, target string, before, after any) func() *event {
		return func() *event {
			return &event{Actor: "token settings page (" + admin.ID + ")", ActorKind: storage.ActorToken, Action: action, Target: target, Before: before, After: after}
		}
	}
	nope := "nope"
	setTeam := func(id *string, role storage.Role) func() error {
		return func() error { _, err := f.svc.SetTeamRole(f.ctx, f.acme, a, *id, role); return err }
	}
	setRole := func(m *orgadmin.MemberView, role storage.Role) func() error {
		return func() error { _, err := f.svc.SetMemberRole(f.ctx, f.acme, a, m.ID, role); return err }
	}
	setActive := func(m *orgadmin.MemberView, active bool) func() error {
		return func() error { _, err := f.svc.SetMemberActive(f.ctx, f.acme, a, m.ID, active); return err }
	}
	invite := func(dst *orgadmin.MemberView, email string, role storage.Role) func() error {
		return func() error {
			m, err := f.svc.InviteMember(f.ctx, f.acme, a, email, role)
			if dst != nil && err == nil {
				*dst = m
			}
			return err
		}
	}
	f.run([]step{
		{name: "make a team", do: func() error {
			var err error
			eng, err = f.svc.CreateTeam(f.ctx, f.acme, a, "Engineering", storage.RoleAdmin)
			return err
		}, want: by("team.create", "Engineering", nil, obj("role", "admin"))},
		{name: "a taken name", do: func() error { _, err := f.svc.CreateTeam(f.ctx, f.acme, a, "engineering", ""); return err }, wantErr: isField("name")},
		{name: "a team of owners", do: func() error { _, err := f.svc.CreateTeam(f.ctx, f.acme, a, "Owners", storage.RoleOwner); return err }, wantErr: isField("role")},
		{name: "set its role", do: setTeam(&eng.ID, storage.RoleMember), want: by("team.role", "Engineering", obj("role", "admin"), obj("role", "member"))},
		{name: "the same role changes nothing", do: setTeam(&eng.ID, storage.RoleMember)},
		{name: "take its role away", do: setTeam(&eng.ID, ""), want: by("team.role", "Engineering", obj("role", "member"), obj("role", ""))},
		{name: "owner", do: setTeam(&eng.ID, storage.RoleOwner), wantErr: isField("role")},
		{name: "an unknown team", do: setTeam(&nope, storage.RoleAdmin), wantErr: isNotFound},

		{name: "invite an owner", do: invite(&olive, "olive@Acme.com", storage.RoleOwner), want: by("member.invite", "olive@acme.com", nil, obj("role", "owner"))},
		{name: "invite a member", do: invite(&jo, "jo@acme.com", storage.RoleMember), want: by("member.invite", "jo@acme.com", nil, obj("role", "member"))},
		{name: "invite again", do: invite(nil, "jo@acme.com", storage.RoleAdmin), wantErr: isField("email")},
		{name: "not an email", do: invite(nil, "Jo <jo@acme.com>", storage.RoleMember), wantErr: isField("email")},
		{name: "invite with names", do: func() error {
			_, err := f.svc.Invite(f.ctx, f.acme, a, orgadmin.Invitation{Email: "kim@example.org", Role: storage.RoleAdmin, GivenName: ptr("Kim"), FamilyName: ptr("Lee")})
			return err
		}, want: by("member.invite", "kim@example.org", nil, obj("role", "admin"))},
		{name: "set a role", do: setRole(&jo, storage.RoleAdmin), want: by("member.role", "jo@acme.com", obj("role", "member"), obj("role", "admin"))},
		{name: "the same role changes nothing", do: setRole(&jo, storage.RoleAdmin)},
		{name: "an unknown role", do: setRole(&jo, "boss"), wantErr: isField("role")},
		{name: "the last owner stays", do: setRole(&olive, storage.RoleMember), wantErr: isRule},
		{name: "the last active owner stays active", do: setActive(&olive, false), wantErr: isRule},
		{name: "deactivate", do: setActive(&jo, false), want: by("member.deactivate", "jo@acme.com", obj("active", true), obj("active", false))},
		{name: "deactivate again changes nothing", do: setActive(&jo, false)},
		{name: "reactivate", do: setActive(&jo, true), want: by("member.reactivate", "jo@acme.com", obj("active", false), obj("active", true))},
		{name: "an unknown member", do: setRole(&orgadmin.MemberView{Member: storage.Member{ID: "nope"}}, storage.RoleAdmin), wantErr: isNotFound},
	})
}

// TestActivity: the org's events newest first, paged, and another org's
// never.
func TestActivity(t *testing.T) {
	f := newFixture(t, "")
	for _, email := range []string{"a@acme.com", "b@acme.com", "c@acme.com"} {
		if _, err := f.svc.InviteMember(f.ctx, f.acme, orgadmin.Operator, email, storage.RoleMember); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.InviteMember(f.ctx, f.globex, orgadmin.Operator, "z@globex.com", storage.RoleMember); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		page  storage.Page
		want  []string
		total int
	}{
		{"all", storage.Page{}, []string{"c@acme.com", "b@acme.com", "a@acme.com"}, 3},
		{"the newest", storage.Page{StartIndex: 1, Count: 1}, []string{"c@acme.com"}, 3},
		{"the second page of two", storage.Page{StartIndex: 3, Count: 2}, []string{"a@acme.com"}, 3},
		{"past the end", storage.Page{StartIndex: 9, Count: 2}, nil, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es, total, err := f.svc.Activity(f.ctx, f.acme, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Target)
			}
			if total != tt.total || !slices.Equal(got, tt.want) {
				t.Fatalf("Activity(%+v) = %v, total %d; want %v, total %d", tt.page, got, total, tt.want, tt.total)
			}
		})
	}
}
