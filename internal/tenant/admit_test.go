package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

func openStore(t testing.TB) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "tenant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// admitFixture is acme with acme.com verified and example.net claimed but
// pending, its active member jo (also a member of globex, under other
// names) and its deactivated member ann.
type admitFixture struct {
	st          *sqlitestore.Store
	acme        storage.Org
	globex      storage.Org
	jo, ann     storage.Member
	joAtGlobex  storage.Member
	samAtGlobex storage.Member // sam@acme.com, a member of globex only
}

func newAdmitFixture(t *testing.T) *admitFixture {
	t.Helper()
	ctx := context.Background()
	f := &admitFixture{st: openStore(t)}
	var err error
	if f.acme, err = f.st.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if f.globex, err = f.st.CreateOrg(ctx, "globex"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SyncConfigDomains(ctx, f.acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ClaimDomain(ctx, f.acme.ID, "example.net", "txt"); err != nil {
		t.Fatal(err)
	}
	add := func(org int64, email, given, family string, active bool) storage.Member {
		m, err := f.st.CreateMember(ctx, org, storage.NewMember{Email: email, GivenName: given, FamilyName: family,
			Role: storage.RoleMember, Active: active}, false)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	f.jo = add(f.acme.ID, "jo@acme.com", "Jo", "Smith", true)
	f.ann = add(f.acme.ID, "ann@acme.com", "Ann", "Lee", false)
	f.joAtGlobex = add(f.globex.ID, "jo@acme.com", "Joanna", "Globex", true)
	f.samAtGlobex = add(f.globex.ID, "sam@acme.com", "Sam", "Globex", true)
	return f
}

// ruleOutcome is a rule without its prose.
type ruleOutcome struct {
	Name   string
	Passed bool
	HasFix bool
}

func outcomes(rules []Rule) []ruleOutcome {
	var out []ruleOutcome
	for _, r := range rules {
		out = append(out, ruleOutcome{r.Name, r.Passed, r.Fix != ""})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	f := newAdmitFixture(t)
	ok := func(name string) ruleOutcome { return ruleOutcome{name, true, false} }
	failed := func(name string) ruleOutcome { return ruleOutcome{name, false, true} }
	for _, tc := range []struct {
		name       string
		email      string
		policy     Policy
		wantRules  []ruleOutcome
		wantCode   string // "" when admitted
		wantMember string // the member's ID, "" for none
	}{
		{"domain not verified", "jo@globex.com", Policy{},
			[]ruleOutcome{ok("email"), failed("domain")}, sso.CodeDomain, ""},
		{"domain pending", "jo@example.net", Policy{},
			[]ruleOutcome{ok("email"), failed("domain")}, sso.CodeDomain, ""},
		{"subdomain of a verified domain", "jo@eu.acme.com", Policy{},
			[]ruleOutcome{ok("email"), failed("domain")}, sso.CodeDomain, ""},
		{"new person", "new@acme.com", Policy{},
			[]ruleOutcome{ok("email"), ok("domain"), ok("member")}, "", ""},
		{"new person with idp_managed_access", "new@acme.com", Policy{IDPManagedAccess: true},
			[]ruleOutcome{ok("email"), ok("domain"), failed("member")}, sso.CodeNotProvisioned, ""},
		{"member of another org only, with idp_managed_access", "sam@acme.com", Policy{IDPManagedAccess: true},
			[]ruleOutcome{ok("email"), ok("domain"), failed("member")}, sso.CodeNotProvisioned, ""},
		{"active member", "jo@acme.com", Policy{},
			[]ruleOutcome{ok("email"), ok("domain"), ok("member"), ok("active")}, "", f.jo.ID},
		{"active member with idp_managed_access", "jo@acme.com", Policy{IDPManagedAccess: true, RequireSSO: true},
			[]ruleOutcome{ok("email"), ok("domain"), ok("member"), ok("active")}, "", f.jo.ID},
		{"deactivated member", "ann@acme.com", Policy{},
			[]ruleOutcome{ok("email"), ok("domain"), ok("member"), failed("active")}, sso.CodeDeactivated, f.ann.ID},
		{"deactivated member with idp_managed_access", "ann@acme.com", Policy{IDPManagedAccess: true},
			[]ruleOutcome{ok("email"), ok("domain"), ok("member"), failed("active")}, sso.CodeDeactivated, f.ann.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Evaluate(ctx, f.st, f.acme, tc.policy, &sso.Identity{Email: tc.email, GivenName: "G", FamilyName: "F"})
			if err != nil {
				t.Fatalf("Evaluate(%q) = %v", tc.email, err)
			}
			if diff := cmp.Diff(tc.wantRules, outcomes(ev.Rules)); diff != "" {
				t.Errorf("Evaluate(%q) rules (-want +got):\n%s", tc.email, diff)
			}
			var code string
			if ev.Refusal != nil {
				code = ev.Refusal.Code
				if ev.Refusal.Reason == "" || ev.Refusal.Status() != http.StatusForbidden {
					t.Errorf("Evaluate(%q) refusal = %+v, want a reason and 403", tc.email, ev.Refusal)
				}
			}
			if code != tc.wantCode {
				t.Errorf("Evaluate(%q) refusal code = %q, want %q", tc.email, code, tc.wantCode)
			}
			var member string
			if ev.Member != nil {
				member = ev.Member.ID
			}
			if member != tc.wantMember {
				t.Errorf("Evaluate(%q) member = %q, want %q", tc.email, member, tc.wantMember)
			}
		})
	}
	// Evaluate writes nothing.
	if ok, err := f.st.AccountExists(ctx, "new@acme.com"); err != nil || ok {
		t.Errorf("AccountExists(new@acme.com) after Evaluate = %v, %v; want false", ok, err)
	}
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()

	t.Run("a first sign-in makes a member with the IdP's names", func(t *testing.T) {
		f := newAdmitFixture(t)
		got, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: "new@acme.com", GivenName: "New", FamilyName: "Person"})
		if err != nil {
			t.Fatalf("Admit = %v", err)
		}
		m, err := f.st.MemberByEmail(ctx, f.acme.ID, "new@acme.com")
		if err != nil {
			t.Fatalf("MemberByEmail after Admit = %v", err)
		}
		if m.GivenName != "New" || m.FamilyName != "Person" || m.Role != storage.RoleMember || !m.Active {
			t.Errorf("new member = %+v; want New Person, an active member", m)
		}
		want := storage.Identity{MemberID: m.ID, OrgID: f.acme.ID, OrgName: "acme", Email: "new@acme.com", Active: true, Epoch: m.Epoch}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Admit (-want +got):\n%s", diff)
		}
	})

	t.Run("a member of another org joins with names of its own", func(t *testing.T) {
		f := newAdmitFixture(t)
		got, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: "sam@acme.com", GivenName: "Samuel", FamilyName: "Acme"})
		if err != nil {
			t.Fatalf("Admit = %v", err)
		}
		ms, err := f.st.Memberships(ctx, "sam@acme.com")
		if err != nil || len(ms) != 2 {
			t.Fatalf("Memberships(sam) = %d, %v; want 2", len(ms), err)
		}
		if got.OrgID != f.acme.ID || got.MemberID == f.samAtGlobex.ID {
			t.Errorf("Admit = %+v; want a new membership in acme", got)
		}
		atGlobex, _ := f.st.MemberByID(ctx, f.globex.ID, f.samAtGlobex.ID)
		if atGlobex.GivenName != "Sam" || atGlobex.FamilyName != "Globex" {
			t.Errorf("globex's membership = %q %q, want Sam Globex", atGlobex.GivenName, atGlobex.FamilyName)
		}
	})

	t.Run("the IdP's names update this org's membership only", func(t *testing.T) {
		f := newAdmitFixture(t)
		got, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: "jo@acme.com", GivenName: "Joe", FamilyName: ""})
		if err != nil {
			t.Fatalf("Admit = %v", err)
		}
		if got.MemberID != f.jo.ID {
			t.Errorf("Admit member = %q, want jo %q", got.MemberID, f.jo.ID)
		}
		atAcme, _ := f.st.MemberByID(ctx, f.acme.ID, f.jo.ID)
		if atAcme.GivenName != "Joe" || atAcme.FamilyName != "Smith" {
			t.Errorf("acme's membership = %q %q, want Joe Smith (an empty name keeps the stored one)", atAcme.GivenName, atAcme.FamilyName)
		}
		atGlobex, _ := f.st.MemberByID(ctx, f.globex.ID, f.joAtGlobex.ID)
		if atGlobex.GivenName != "Joanna" || atGlobex.FamilyName != "Globex" {
			t.Errorf("globex's membership = %q %q, want Joanna Globex", atGlobex.GivenName, atGlobex.FamilyName)
		}
	})

	t.Run("with idp_managed_access the names stay", func(t *testing.T) {
		f := newAdmitFixture(t)
		if _, err := Admit(ctx, f.st, f.acme, Policy{IDPManagedAccess: true}, &sso.Identity{Email: "jo@acme.com", GivenName: "Joe", FamilyName: "X"}); err != nil {
			t.Fatalf("Admit = %v", err)
		}
		m, _ := f.st.MemberByID(ctx, f.acme.ID, f.jo.ID)
		if m.GivenName != "Jo" || m.FamilyName != "Smith" {
			t.Errorf("member after Admit = %q %q, want Jo Smith", m.GivenName, m.FamilyName)
		}
	})

	for _, tc := range []struct {
		name   string
		email  string
		policy Policy
		code   string
	}{
		{"refused: domain not verified", "new@globex.com", Policy{}, sso.CodeDomain},
		{"refused: not provisioned", "new@acme.com", Policy{IDPManagedAccess: true}, sso.CodeNotProvisioned},
		{"refused: deactivated", "ann@acme.com", Policy{}, sso.CodeDeactivated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAdmitFixture(t)
			got, err := Admit(ctx, f.st, f.acme, tc.policy, &sso.Identity{Email: tc.email, GivenName: "G"})
			var ref *sso.Refusal
			if !errors.As(err, &ref) || ref.Code != tc.code {
				t.Fatalf("Admit(%q) = %+v, %v; want a refusal %s", tc.email, got, err, tc.code)
			}
			if got.MemberID != "" || got.OrgID != 0 {
				t.Errorf("a refused Admit returned %+v", got)
			}
			if tc.email != "ann@acme.com" {
				if ok, _ := f.st.AccountExists(ctx, tc.email); ok {
					t.Errorf("a refused Admit(%q) made an account", tc.email)
				}
			} else if m, _ := f.st.MemberByID(ctx, f.acme.ID, f.ann.ID); m.GivenName != "Ann" || m.Active {
				t.Errorf("a refused Admit changed ann: %+v", m)
			}
		})
	}
}

// TestAdmitConcurrentFirstSignIns: a person signing in from several tabs
// at once becomes one member.
func TestAdmitConcurrentFirstSignIns(t *testing.T) {
	ctx := context.Background()
	f := newAdmitFixture(t)
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: "new@acme.com", GivenName: "New"})
			ids[i], errs[i] = got.MemberID, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("Admit #%d = %q, %v; want member %q", i, ids[i], errs[i], ids[0])
		}
	}
	if ms, err := f.st.Memberships(ctx, "new@acme.com"); err != nil || len(ms) != 1 {
		t.Errorf("Memberships(new@acme.com) = %d, %v; want 1", len(ms), err)
	}
}

// teamNames returns the names of the member's teams.
func teamNames(t *testing.T, st *sqlitestore.Store, memberID string) []string {
	t.Helper()
	id, err := st.Identity(context.Background(), memberID)
	if err != nil {
		t.Fatalf("Identity(%q) = %v", memberID, err)
	}
	return id.Teams
}

// TestAdmitGroups: with a groups attribute, each sign-in makes the
// member's teams exactly the assertion's groups; without one, the teams
// are left alone; a failure to set them fails the sign-in.
func TestAdmitGroups(t *testing.T) {
	ctx := context.Background()
	tooMany := make([]string, storage.MaxTeamNames+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("group ", i)
	}
	for _, tc := range []struct {
		name      string
		email     string
		groups    []string
		hasGroups bool
		wantTeams []string // the member's teams after; jo starts in Eng
		wantErr   bool
	}{
		{"groups matched by name, a team made", "jo@acme.com", []string{"ENG", "Ops"}, true, []string{"Eng", "Ops"}, false},
		{"a first sign-in with groups", "new@acme.com", []string{"Ops"}, true, []string{"Ops"}, false},
		{"no group: no team", "jo@acme.com", nil, true, []string{}, false},
		{"without a groups attribute the teams stay", "jo@acme.com", []string{"Ops"}, false, []string{"Eng"}, false},
		{"a failure fails the sign-in", "jo@acme.com", tooMany, true, []string{"Eng"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAdmitFixture(t)
			eng, err := f.st.CreateTeam(ctx, f.acme.ID, "Eng", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.UpdateTeam(ctx, f.acme.ID, eng.ID, func(tm *storage.Team) error {
				tm.MemberIDs = []string{f.jo.ID}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			got, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: tc.email, Groups: tc.groups, HasGroups: tc.hasGroups})
			var ref *sso.Refusal
			switch {
			case tc.wantErr && (err == nil || errors.As(err, &ref)):
				t.Fatalf("Admit = %+v, %v; want a failure that is not a refusal", got, err)
			case tc.wantErr:
				if got.MemberID != "" || !strings.Contains(err.Error(), "teams") {
					t.Errorf("Admit = %+v, %v; want no member and an error about teams", got, err)
				}
			case err != nil:
				t.Fatalf("Admit = %v", err)
			}
			m, err := f.st.MemberByEmail(ctx, f.acme.ID, tc.email)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantTeams, teamNames(t, f.st, m.ID), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("teams after Admit (-want +got):\n%s", diff)
			}
			// jo's globex membership keeps its teams: none.
			if got := teamNames(t, f.st, f.joAtGlobex.ID); len(got) != 0 {
				t.Errorf("jo's teams in globex = %v, want none", got)
			}
		})
	}

	t.Run("a refused sign-in sets no team", func(t *testing.T) {
		f := newAdmitFixture(t)
		_, err := Admit(ctx, f.st, f.acme, Policy{}, &sso.Identity{Email: "ann@acme.com", Groups: []string{"Ops"}, HasGroups: true})
		var ref *sso.Refusal
		if !errors.As(err, &ref) || ref.Code != sso.CodeDeactivated {
			t.Fatalf("Admit(ann) = %v, want a refusal", err)
		}
		if teams, _, _ := f.st.ListTeams(ctx, f.acme.ID, storage.Page{}); len(teams) != 0 {
			t.Errorf("a refused sign-in made teams: %+v", teams)
		}
	})
}

// TestEvaluateGroups: a test sign-in reports the teams the member would
// get, and makes none.
func TestEvaluateGroups(t *testing.T) {
	ctx := context.Background()
	f := newAdmitFixture(t)
	many := make([]string, 25)
	for i := range many {
		many[i] = fmt.Sprintf("team-%02d", i)
	}
	for _, tc := range []struct {
		name      string
		ident     sso.Identity
		wantRules []string // rule names
		detail    []string // in the teams rule
		notIn     []string // not in it
	}{
		{"a member with groups", sso.Identity{Email: "jo@acme.com", Groups: []string{"Eng", "Ops"}, HasGroups: true},
			[]string{"email", "domain", "member", "active", "teams"}, []string{"2 groups: Eng, Ops"}, nil},
		{"a new person with groups", sso.Identity{Email: "new@acme.com", Groups: []string{"Ops"}, HasGroups: true},
			[]string{"email", "domain", "member", "teams"}, []string{"one group: Ops"}, nil},
		{"no group", sso.Identity{Email: "jo@acme.com", HasGroups: true},
			[]string{"email", "domain", "member", "active", "teams"}, []string{"no group"}, nil},
		{"many groups are cut short", sso.Identity{Email: "jo@acme.com", Groups: many, HasGroups: true},
			[]string{"email", "domain", "member", "active", "teams"}, []string{"25 groups: team-00", "team-19 and 5 more"}, []string{"team-20"}},
		{"without a groups attribute", sso.Identity{Email: "jo@acme.com", Groups: []string{"Eng"}},
			[]string{"email", "domain", "member", "active"}, nil, nil},
		{"a refusal has no teams rule", sso.Identity{Email: "ann@acme.com", Groups: []string{"Eng"}, HasGroups: true},
			[]string{"email", "domain", "member", "active"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Evaluate(ctx, f.st, f.acme, Policy{}, &tc.ident)
			if err != nil {
				t.Fatalf("Evaluate = %v", err)
			}
			var names []string
			var teams Rule
			for _, r := range ev.Rules {
				names = append(names, r.Name)
				if r.Name == "teams" {
					teams = r
				}
			}
			if diff := cmp.Diff(tc.wantRules, names); diff != "" {
				t.Errorf("Evaluate rules (-want +got):\n%s", diff)
			}
			for _, want := range tc.detail {
				if !teams.Passed || !strings.Contains(teams.Detail, want) {
					t.Errorf("teams rule = %+v, want it passed and saying %q", teams, want)
				}
			}
			for _, no := range tc.notIn {
				if strings.Contains(teams.Detail, no) {
					t.Errorf("teams rule = %q, which lists %q", teams.Detail, no)
				}
			}
		})
	}
	if teams, _, err := f.st.ListTeams(ctx, f.acme.ID, storage.Page{}); err != nil || len(teams) != 0 {
		t.Errorf("teams after Evaluate = %+v, %v; want none", teams, err)
	}
	if ok, _ := f.st.AccountExists(ctx, "new@acme.com"); ok {
		t.Error("Evaluate made an account")
	}
}
