package storetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssogate/ssogate/internal/storage"
)

// teamsOf returns the names of the member's teams, from its identity.
func teamsOf(t *testing.T, s storage.Store, memberID string) []string {
	t.Helper()
	id, err := s.Identity(context.Background(), memberID)
	if err != nil {
		t.Fatalf("Identity(%q) = %v", memberID, err)
	}
	return id.Teams
}

// orgTeams returns the org's teams by name, with their sources.
func orgTeams(t *testing.T, s storage.Store, orgID int64) map[string]storage.Team {
	t.Helper()
	teams, _, err := s.ListTeams(context.Background(), orgID, storage.Page{StartIndex: 1, Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.Team{}
	for _, tm := range teams {
		out[tm.Name] = tm
	}
	return out
}

func testSetMemberTeamsByName(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	jo := mustMember(t, s, acme.ID, "jo@acme.com", storage.RoleMember)
	ann := mustMember(t, s, acme.ID, "ann@acme.com", storage.RoleMember)
	gus := mustMember(t, s, globex.ID, "gus@globex.com", storage.RoleMember)
	team := func(org int64, name string, members ...storage.Member) storage.Team {
		tm, err := s.CreateTeam(ctx, org, name, "")
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, m := range members {
			ids = append(ids, m.ID)
		}
		if tm, err = s.UpdateTeam(ctx, org, tm.ID, func(tm *storage.Team) error { tm.MemberIDs = ids; return nil }); err != nil {
			t.Fatal(err)
		}
		return tm
	}
	eng := team(acme.ID, "Eng", jo, ann)
	if _, err := s.SetTeamRole(ctx, acme.ID, eng.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	team(acme.ID, "Sales", jo)
	team(acme.ID, "Équipe")
	team(globex.ID, "Design", gus)
	team(globex.ID, "eng", gus)

	for _, step := range []struct {
		name      string
		member    string
		org       int64
		names     []string
		want      storage.TeamsChange
		wantTeams []string // jo's teams after
		feed      bool     // jo on the change feed
	}{
		{"the named teams, matched without case, one made", jo.ID, acme.ID, []string{"eng", "Design", "équipe"},
			storage.TeamsChange{Added: []string{"Design", "Équipe"}, Created: []string{"Design"}, Removed: []string{"Sales"}},
			[]string{"Design", "Eng", "Équipe"}, true},
		{"the same names again change nothing", jo.ID, acme.ID, []string{"Équipe", "DESIGN", "Eng"},
			storage.TeamsChange{}, []string{"Design", "Eng", "Équipe"}, false},
		{"a name repeated in another case is one team", jo.ID, acme.ID, []string{"Sales", "SALES", "sales"},
			storage.TeamsChange{Added: []string{"Sales"}, Removed: []string{"Design", "Eng", "Équipe"}},
			[]string{"Sales"}, true},
		{"no group: no team", jo.ID, acme.ID, nil,
			storage.TeamsChange{Removed: []string{"Sales"}}, []string{}, true},
		{"no group again changes nothing", jo.ID, acme.ID, []string{},
			storage.TeamsChange{}, []string{}, false},
		{"a new team in another case of another org's", jo.ID, acme.ID, []string{"design", "ENG", "Ops"},
			storage.TeamsChange{Added: []string{"Design", "Eng", "Ops"}, Created: []string{"Ops"}},
			[]string{"Design", "Eng", "Ops"}, true},
	} {
		seq := feedSeq(t, s)
		calls := 0
		s.OnChange(func() { calls++ })
		before := orgTeams(t, s, acme.ID)
		got, err := s.SetMemberTeamsByName(ctx, step.org, step.member, step.names)
		if err != nil {
			t.Fatalf("%s: SetMemberTeamsByName = %v", step.name, err)
		}
		if diff := cmp.Diff(step.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: SetMemberTeamsByName (-want +got):\n%s", step.name, diff)
		}
		if diff := cmp.Diff(step.wantTeams, teamsOf(t, s, jo.ID), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: jo's teams (-want +got):\n%s", step.name, diff)
		}
		want := storage.Changes{}
		if step.feed {
			want.Members = []string{jo.ID}
		}
		if diff := cmp.Diff(want, changesAfter(t, s, seq), cmpChanges); diff != "" {
			t.Errorf("%s: feed (-want +got):\n%s", step.name, diff)
		}
		if (calls > 0) != step.feed {
			t.Errorf("%s: OnChange ran %d times", step.name, calls)
		}
		// A team the member joined or left has a new version (its SCIM
		// ETag); the others keep theirs.
		after := orgTeams(t, s, acme.ID)
		for name, tm := range after {
			changed := slices.Contains(got.Added, name) || slices.Contains(got.Removed, name)
			if b, ok := before[name]; ok && (tm.Version != b.Version) != changed {
				t.Errorf("%s: team %s went from version %d to %d", step.name, name, b.Version, tm.Version)
			}
		}
	}

	// The teams made are the org's, from SSO, granting no role; the
	// other org's teams and members are as they were; ann stays in Eng,
	// which still grants jo admin.
	teams := orgTeams(t, s, acme.ID)
	for _, name := range []string{"Design", "Ops"} {
		if tm := teams[name]; tm.Source != storage.SourceSSO || tm.Role != "" || tm.OrgID != acme.ID {
			t.Errorf("team %s = %+v; want acme's, source sso, no role", name, tm)
		}
	}
	if diff := cmp.Diff([]string{"Design", "eng"}, teamsOf(t, s, gus.ID)); diff != "" {
		t.Errorf("gus's teams in globex (-want +got):\n%s", diff)
	}
	if g := orgTeams(t, s, globex.ID); len(g) != 2 || len(g["Design"].MemberIDs) != 1 {
		t.Errorf("globex's teams = %+v, want Design and eng as they were", g)
	}
	if diff := cmp.Diff([]string{"Eng"}, teamsOf(t, s, ann.ID)); diff != "" {
		t.Errorf("ann's teams (-want +got):\n%s", diff)
	}
	if id, _ := s.Identity(ctx, jo.ID); id.Role != storage.RoleAdmin {
		t.Errorf("jo's effective role = %s, want admin from Eng", id.Role)
	}
}

func testSetMemberTeamsByNameRefused(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	jo := mustMember(t, s, acme.ID, "jo@acme.com", storage.RoleMember)
	if _, err := s.SetMemberTeamsByName(ctx, acme.ID, jo.ID, []string{"Eng"}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, storage.MaxTeamNames+1)
	for i := range many {
		many[i] = "team " + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name    string
		org     int64
		member  string
		names   []string
		wantErr error // nil: any error
	}{
		{"a member of another org", globex.ID, jo.ID, []string{"Ops"}, storage.ErrNotFound},
		{"no such member", acme.ID, "no-such-id", []string{"Ops"}, storage.ErrNotFound},
		{"too many names", acme.ID, jo.ID, many, nil},
		{"a name too long", acme.ID, jo.ID, []string{"Ops", strings.Repeat("x", storage.MaxTeamName+1)}, nil},
		{"an empty name", acme.ID, jo.ID, []string{"Ops", ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := feedSeq(t, s)
			_, err := s.SetMemberTeamsByName(ctx, tc.org, tc.member, tc.names)
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetMemberTeamsByName = %v, want an error matching %v (nil: any)", err, tc.wantErr)
			}
			if diff := cmp.Diff([]string{"Eng"}, teamsOf(t, s, jo.ID)); diff != "" {
				t.Errorf("jo's teams after a refusal (-want +got):\n%s", diff)
			}
			for _, org := range []int64{acme.ID, globex.ID} {
				if _, ok := orgTeams(t, s, org)["Ops"]; ok {
					t.Errorf("a refusal made team Ops in org %d", org)
				}
			}
			if ch := changesAfter(t, s, seq); !ch.Empty() {
				t.Errorf("feed after a refusal = %+v, want nothing", ch)
			}
		})
	}
	// At the bounds it works.
	bounded := many[:storage.MaxTeamNames]
	bounded[0] = strings.Repeat("y", storage.MaxTeamName)
	got, err := s.SetMemberTeamsByName(ctx, acme.ID, jo.ID, bounded)
	if err != nil || len(got.Created) != storage.MaxTeamNames || len(teamsOf(t, s, jo.ID)) != storage.MaxTeamNames {
		t.Errorf("SetMemberTeamsByName(%d names) = %d made, %v; want all made and joined", len(bounded), len(got.Created), err)
	}
}
