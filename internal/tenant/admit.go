package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

// Policy is how an org's sign-in rules apply at one gate: the org's
// switches, with whatever the gate's Caddyfile forces on top.
type Policy struct {
	RequireSSO        bool
	IDPManagedAccess  bool
	AllowIDPInitiated bool
}

// PolicyOf returns the org's own switches.
func PolicyOf(t *Tenant) Policy {
	return Policy{
		RequireSSO:        t.Conn.RequireSSO,
		IDPManagedAccess:  t.Conn.IDPManagedAccess,
		AllowIDPInitiated: t.Conn.AllowIDPInitiated,
	}
}

// AdmitStore is what admission reads and writes.
type AdmitStore interface {
	SignInLookup(ctx context.Context, orgID int64, domain, email string) (bool, storage.Member, error)
	CreateMember(ctx context.Context, orgID int64, m storage.NewMember, requireNewAccount bool) (storage.Member, error)
	MemberByEmail(ctx context.Context, orgID int64, email string) (storage.Member, error)
	UpdateMember(ctx context.Context, orgID int64, m storage.Member) (storage.Member, error)
	SetMemberTeamsByName(ctx context.Context, orgID int64, memberID string, names []string) (storage.TeamsChange, error)
}

// Rule is one sign-in rule and how it went, for a test sign-in's report.
type Rule struct {
	Name   string `json:"rule"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
	// Fix says what to change, when the rule failed.
	Fix string `json:"fix,omitempty"`
}

// Evaluation is the sign-in rules of SPEC §4 applied to a verified
// identity, without writing anything.
type Evaluation struct {
	Rules []Rule
	// Member is the org's member with the email, nil when there is none.
	Member *storage.Member
	// Refusal is why the identity may not sign in; nil when it may.
	Refusal *sso.Refusal
}

// Evaluate applies the org's sign-in rules to an identity its IdP vouched
// for: the email's domain must be verified by the org; a deactivated
// member is refused; with idp_managed_access only an existing member may
// enter, without it a first sign-in makes one. When the identity carries
// groups (the org names a groups attribute), a rule says which teams the
// member would be in.
func Evaluate(ctx context.Context, st AdmitStore, org storage.Org, p Policy, ident *sso.Identity) (Evaluation, error) {
	var ev Evaluation
	domain := sso.EmailDomain(ident.Email)
	ev.Rules = append(ev.Rules, Rule{Name: "email", Passed: true,
		Detail: fmt.Sprintf("the assertion names %s", ident.Email)})
	verified, m, err := st.SignInLookup(ctx, org.ID, domain, ident.Email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return ev, err
	}
	if !verified {
		ev.Rules = append(ev.Rules, Rule{Name: "domain", Detail: fmt.Sprintf("%s is not a verified domain of %s", domain, org.Name),
			Fix: fmt.Sprintf("claim and verify %s for this organization, or have the IdP send the person's address in a domain you verified", domain)})
		ev.Refusal = sso.Refuse(sso.CodeDomain, fmt.Sprintf("the email domain %s is not claimed by this organization", domain))
		return ev, nil
	}
	ev.Rules = append(ev.Rules, Rule{Name: "domain", Passed: true, Detail: fmt.Sprintf("%s is verified by %s", domain, org.Name)})
	if errors.Is(err, storage.ErrNotFound) {
		if p.IDPManagedAccess {
			ev.Rules = append(ev.Rules, Rule{Name: "member", Detail: "IdP Managed Access is on and this person has not been provisioned",
				Fix: "assign the person to the app in the IdP so that SCIM provisions them, or turn IdP Managed Access off"})
			ev.Refusal = sso.Refuse(sso.CodeNotProvisioned, "your account has not been provisioned for this organization; ask your administrator")
			return ev, nil
		}
		ev.Rules = append(ev.Rules, Rule{Name: "member", Passed: true, Detail: "not a member yet: the first sign-in makes them one, with role member"})
		ev.Rules = appendTeamsRule(ev.Rules, ident)
		return ev, nil
	}
	ev.Member = &m
	ev.Rules = append(ev.Rules, Rule{Name: "member", Passed: true, Detail: fmt.Sprintf("a member of %s with role %s", org.Name, m.Role)})
	if !m.Active {
		ev.Rules = append(ev.Rules, Rule{Name: "active", Detail: "the member is deactivated",
			Fix: "reactivate the person (in the IdP when SCIM manages them)"})
		ev.Refusal = sso.Refuse(sso.CodeDeactivated, "your account is deactivated in this organization")
		return ev, nil
	}
	ev.Rules = append(ev.Rules, Rule{Name: "active", Passed: true, Detail: "the member is active"})
	ev.Rules = appendTeamsRule(ev.Rules, ident)
	return ev, nil
}

// maxTeamsShown bounds the team names a rule's detail lists.
const maxTeamsShown = 20

// appendTeamsRule adds, for an identity with groups, the rule saying
// which teams the sign-in gives the member.
func appendTeamsRule(rules []Rule, ident *sso.Identity) []Rule {
	if !ident.HasGroups {
		return rules
	}
	if len(ident.Groups) == 0 {
		return append(rules, Rule{Name: "teams", Passed: true,
			Detail: "the assertion names no group: signing in leaves the member in no team of the organization"})
	}
	names := ident.Groups
	more := ""
	if len(names) > maxTeamsShown {
		more = fmt.Sprintf(" and %d more", len(names)-maxTeamsShown)
		names = names[:maxTeamsShown]
	}
	count := fmt.Sprintf("%d groups", len(ident.Groups))
	if len(ident.Groups) == 1 {
		count = "one group"
	}
	return append(rules, Rule{Name: "teams", Passed: true,
		Detail: fmt.Sprintf("signing in makes the member's teams exactly the assertion's %s: %s%s (a team missing is made; the member leaves the organization's other teams)",
			count, strings.Join(names, ", "), more)})
}

// Admit applies the org's sign-in rules to an identity its IdP vouched for
// and returns the member it signs in, making the membership on a first
// sign-in (without idp_managed_access), taking the names the IdP sent
// (without SCIM, the IdP is their source) and, when the identity carries
// groups, making the member's teams exactly those. A refusal is a
// *sso.Refusal.
func Admit(ctx context.Context, st AdmitStore, org storage.Org, p Policy, ident *sso.Identity) (storage.Identity, error) {
	ev, err := Evaluate(ctx, st, org, p, ident)
	if err != nil {
		return storage.Identity{}, err
	}
	if ev.Refusal != nil {
		return storage.Identity{}, ev.Refusal
	}
	var m storage.Member
	if ev.Member == nil {
		m, err = st.CreateMember(ctx, org.ID, storage.NewMember{
			Email: ident.Email, GivenName: ident.GivenName, FamilyName: ident.FamilyName,
			Role: storage.RoleMember, Active: true, Source: storage.SourceSSO,
		}, false)
		if errors.Is(err, storage.ErrConflict) {
			// Made by a concurrent sign-in or provisioning; use it.
			m, err = st.MemberByEmail(ctx, org.ID, ident.Email)
		}
		if err != nil {
			return storage.Identity{}, err
		}
		if !m.Active {
			return storage.Identity{}, sso.Refuse(sso.CodeDeactivated, "your account is deactivated in this organization")
		}
	} else {
		m = *ev.Member
	}
	// Without SCIM the IdP is the source of the names; with
	// idp_managed_access, provisioning is. Names are the membership's own:
	// other orgs keep theirs.
	if !p.IDPManagedAccess && (ident.GivenName != "" && ident.GivenName != m.GivenName ||
		ident.FamilyName != "" && ident.FamilyName != m.FamilyName) {
		m.Email = ""
		if ident.GivenName != "" {
			m.GivenName = ident.GivenName
		}
		if ident.FamilyName != "" {
			m.FamilyName = ident.FamilyName
		}
		if _, err := st.UpdateMember(ctx, org.ID, m); err != nil {
			return storage.Identity{}, err
		}
	}
	// With a groups attribute the IdP is the source of the member's teams
	// too: exactly the groups it sent, at every sign-in. A failure fails
	// the sign-in rather than letting the member in with stale teams
	// (which may grant a role the IdP took away).
	if ident.HasGroups {
		if _, err := st.SetMemberTeamsByName(ctx, org.ID, m.ID, ident.Groups); err != nil {
			return storage.Identity{}, fmt.Errorf("setting the member's teams from the assertion's groups: %w", err)
		}
	}
	// A session needs only the member, its org and its epoch; the gate
	// loads the rest (role, teams) at the first request, as after a
	// restart.
	return storage.Identity{MemberID: m.ID, OrgID: org.ID, OrgName: org.Name, Email: ident.Email, Active: true, Epoch: m.Epoch}, nil
}
