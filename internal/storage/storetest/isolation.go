package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// testOrgIsolation is the attacker's side of the org-scoping rule (the
// package doc of internal/storage): globex's admin or SCIM token knows the
// IDs of acme's member, team, token and domain, and tries every org-scoped
// read and write on them with globex's org ID. Each must find nothing, and
// acme's objects must be as they were. The queries are shared by both
// stores (internal/sqlstore), so this runs on each.
func testOrgIsolation(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme, globex := mustOrg(t, s, "acme"), mustOrg(t, s, "globex")
	ann := mustMember(t, s, acme.ID, "ann@acme.com", storage.RoleMember)
	team, err := s.CreateTeam(ctx, acme.ID, "Eng", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTeam(ctx, acme.ID, team.ID, func(t *storage.Team) error {
		t.MemberIDs = []string{ann.ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, acme.ID, "scim", storage.ScopeSCIM, []byte("acme-token-hash-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDomain(ctx, acme.ID, "acme.com", "txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkDomainVerified(ctx, acme.ID, "acme.com"); err != nil {
		t.Fatal(err)
	}

	g := globex.ID
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"MemberByID", func() error { _, err := s.MemberByID(ctx, g, ann.ID); return err }},
		{"MemberByEmail", func() error { _, err := s.MemberByEmail(ctx, g, ann.Email); return err }},
		{"UpdateMember", func() error {
			m := ann
			m.OrgID, m.GivenName = g, "Mallory"
			_, err := s.UpdateMember(ctx, g, m)
			return err
		}},
		{"SetActive", func() error { _, err := s.SetActive(ctx, g, ann.ID, false); return err }},
		{"SetRole", func() error { _, err := s.SetRole(ctx, g, ann.ID, storage.RoleOwner); return err }},
		{"SetMemberTeamsByName", func() error { _, err := s.SetMemberTeamsByName(ctx, g, ann.ID, []string{"Eng"}); return err }},
		{"DeleteMember", func() error { return s.DeleteMember(ctx, g, ann.ID) }},
		{"TeamByID", func() error { _, err := s.TeamByID(ctx, g, team.ID); return err }},
		{"UpdateTeam", func() error {
			_, err := s.UpdateTeam(ctx, g, team.ID, func(t *storage.Team) error { t.MemberIDs = nil; return nil })
			return err
		}},
		{"SetTeamRole", func() error { _, err := s.SetTeamRole(ctx, g, team.ID, storage.RoleAdmin); return err }},
		{"DeleteTeam", func() error { return s.DeleteTeam(ctx, g, team.ID) }},
		{"RevokeToken", func() error { return s.RevokeToken(ctx, g, tok.ID) }},
		{"DomainByName", func() error { _, err := s.DomainByName(ctx, g, "acme.com"); return err }},
		{"RemoveDomain", func() error { return s.RemoveDomain(ctx, g, "acme.com") }},
	} {
		if err := tc.call(); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s with globex's org on acme's object = %v; want ErrNotFound", tc.name, err)
		}
	}
	// A globex team may not take acme's member either.
	gteam, err := s.CreateTeam(ctx, g, "Design", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTeam(ctx, g, gteam.ID, func(t *storage.Team) error {
		t.MemberIDs = []string{ann.ID}
		return nil
	}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("globex team taking acme's member = %v; want ErrNotFound", err)
	}
	if _, err := s.CreateTeamWithMembers(ctx, g, "Sales", "", []string{ann.ID}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CreateTeamWithMembers in globex with acme's member = %v; want ErrNotFound", err)
	}
	if ok, err := s.DomainVerified(ctx, g, "acme.com"); err != nil || ok {
		t.Errorf("DomainVerified(globex, acme.com) = %t, %v; want false", ok, err)
	}

	// acme's objects are as they were.
	if m, err := s.MemberByID(ctx, acme.ID, ann.ID); err != nil || !m.Active || m.Role != storage.RoleMember || m.GivenName != "" {
		t.Errorf("acme's member after globex's tries = %+v, %v", m, err)
	}
	if tm, err := s.TeamByID(ctx, acme.ID, team.ID); err != nil || len(tm.MemberIDs) != 1 || tm.Role != "" {
		t.Errorf("acme's team after globex's tries = %+v, %v", tm, err)
	}
	if toks, err := s.ListTokens(ctx, acme.ID); err != nil || len(toks) != 1 {
		t.Errorf("acme's tokens after globex's tries = %d, %v; want 1", len(toks), err)
	}
	if ok, err := s.DomainVerified(ctx, acme.ID, "acme.com"); err != nil || !ok {
		t.Errorf("acme's domain after globex's tries: verified %t, %v", ok, err)
	}
	if ms, n, err := s.ListMembers(ctx, g, storage.Page{}); err != nil || n != 0 || len(ms) != 0 {
		t.Errorf("ListMembers(globex) = %d of %d, %v; want none", len(ms), n, err)
	}
}
