package orgadmin

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// MaxTokenName bounds a token's name, in characters.
const MaxTokenName = 100

// Tokens returns the org's tokens, oldest first; never their secrets.
func (s *Service) Tokens(ctx context.Context, org storage.Org) ([]storage.Token, error) {
	return s.Store.ListTokens(ctx, org.ID)
}

// CreateToken makes a token of the org and returns it with its secret,
// which is shown once: only its hash is kept.
func (s *Service) CreateToken(ctx context.Context, org storage.Org, a Actor, name string, scope storage.Scope) (storage.Token, string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxTokenName {
		return storage.Token{}, "", &tenant.FieldError{Field: "name", Reason: fmt.Sprintf("is longer than %d characters", MaxTokenName)}
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return storage.Token{}, "", &tenant.FieldError{Field: "name", Reason: "holds a control character"}
	}
	if _, err := storage.ParseScope(string(scope)); err != nil {
		return storage.Token{}, "", &tenant.FieldError{Field: "scope", Reason: "must be scim (for the IdP's provisioning) or admin (for the admin API)"}
	}
	secret, hash, err := apitoken.New()
	if err != nil {
		return storage.Token{}, "", fmt.Errorf("making a token: %w", err)
	}
	t, err := s.Store.CreateToken(ctx, org.ID, name, scope, hash)
	if err != nil {
		return storage.Token{}, "", fmt.Errorf("storing a token: %w", err)
	}
	s.log().Info("created token", zap.String("org", org.Name), zap.String("token_id", t.ID), zap.String("scope", string(scope)))
	s.Record(ctx, org, a, "token.create", tokenLabel(t), nil, map[string]any{"scope": scope})
	return t, secret, nil
}

// RevokeToken deletes one of the org's tokens: requests bearing it are
// refused from then on (within a second in other processes).
func (s *Service) RevokeToken(ctx context.Context, org storage.Org, a Actor, id string) (storage.Token, error) {
	ts, err := s.Store.ListTokens(ctx, org.ID)
	if err != nil {
		return storage.Token{}, fmt.Errorf("listing tokens: %w", err)
	}
	i := slices.IndexFunc(ts, func(t storage.Token) bool { return t.ID == id })
	if i < 0 {
		return storage.Token{}, notFound("token " + id)
	}
	if err := s.Store.RevokeToken(ctx, org.ID, id); err != nil {
		return storage.Token{}, err
	}
	s.log().Info("revoked token", zap.String("org", org.Name), zap.String("token_id", id))
	s.Record(ctx, org, a, "token.revoke", tokenLabel(ts[i]), map[string]any{"scope": ts[i].Scope}, nil)
	return ts[i], nil
}

// Domains returns the org's domain claims, by name.
func (s *Service) Domains(ctx context.Context, org storage.Org) ([]storage.Domain, error) {
	return s.Store.ListDomains(ctx, org.ID)
}

// DomainName normalizes a domain an admin types: a *tenant.FieldError
// (field "domain") when it is malformed or a public suffix.
func DomainName(raw string) (string, error) {
	d, err := domainclaim.Normalize(raw)
	if err != nil {
		return "", &tenant.FieldError{Field: "domain", Reason: err.Error(), Cause: errors.Unwrap(err)}
	}
	return d, nil
}

// Domain returns the org's claim on a domain.
func (s *Service) Domain(ctx context.Context, org storage.Org, raw string) (storage.Domain, error) {
	name, err := DomainName(raw)
	if err != nil {
		return storage.Domain{}, err
	}
	return s.Store.DomainByName(ctx, org.ID, name)
}

// ClaimDomain records a pending claim with its TXT challenge.
func (s *Service) ClaimDomain(ctx context.Context, org storage.Org, a Actor, raw string) (storage.Domain, error) {
	name, err := DomainName(raw)
	if err != nil {
		return storage.Domain{}, err
	}
	if d, err := s.Store.DomainByName(ctx, org.ID, name); err == nil {
		return storage.Domain{}, rule("%s is already claimed by this organization (%s)", name, d.Status)
	}
	challenge, err := domainclaim.NewChallenge()
	if err != nil {
		return storage.Domain{}, fmt.Errorf("making a challenge: %w", err)
	}
	d, err := s.Store.ClaimDomain(ctx, org.ID, name, challenge)
	if errors.Is(err, storage.ErrConflict) {
		return storage.Domain{}, rule("%s is verified by another organization; a domain belongs to one organization at a time", name)
	}
	if err != nil {
		return storage.Domain{}, fmt.Errorf("claiming %s: %w", name, err)
	}
	s.log().Info("claimed domain", zap.String("org", org.Name), zap.String("domain", name))
	s.Record(ctx, org, a, "domain.claim", name, nil, map[string]any{"status": d.Status})
	return d, nil
}

// VerifyDomain looks up the claim's TXT record and marks it verified, or
// returns a *VerifyError saying what the lookup found and what to publish.
func (s *Service) VerifyDomain(ctx context.Context, org storage.Org, a Actor, raw string) (storage.Domain, error) {
	d, err := s.Domain(ctx, org, raw)
	if err != nil {
		return d, err
	}
	if d.Status == storage.DomainVerified {
		return d, nil
	}
	resolver := s.Resolver
	if resolver == nil {
		resolver = domainclaim.NewResolver("")
	}
	if err := domainclaim.Verify(ctx, resolver, d.Name, d.TXTValue); err != nil {
		return d, &VerifyError{Reason: fmt.Sprintf("%v; publish a TXT record at %s with the value %s, wait for DNS to serve it, and retry",
			err, domainclaim.RecordName(d.Name), d.TXTValue)}
	}
	v, err := s.Store.MarkDomainVerified(ctx, org.ID, d.Name)
	if errors.Is(err, storage.ErrConflict) {
		return d, rule("%s was verified by another organization first", d.Name)
	}
	if err != nil {
		return d, fmt.Errorf("verifying %s: %w", d.Name, err)
	}
	s.log().Info("verified domain", zap.String("org", org.Name), zap.String("domain", d.Name))
	s.Record(ctx, org, a, "domain.verify", d.Name, map[string]any{"status": d.Status}, map[string]any{"status": v.Status})
	return v, nil
}

// RemoveDomain deletes a claim. An org that requires SSO keeps a
// verified domain. A Caddyfile's domain would come back at the next
// config load, so only the operator, who owns the Caddyfile, removes one
// here; anyone else is refused.
func (s *Service) RemoveDomain(ctx context.Context, org storage.Org, a Actor, raw string) error {
	d, err := s.Domain(ctx, org, raw)
	if err != nil {
		return err
	}
	if d.FromConfig && a.Kind != storage.ActorOperator {
		return rule("%s is declared in the Caddyfile (a domain line); the operator removes it there", d.Name)
	}
	if err := tenant.CheckDomainRemoval(ctx, s.Store, org.ID, d.Name); err != nil {
		return err
	}
	if err := s.Store.RemoveDomain(ctx, org.ID, d.Name); err != nil {
		return err
	}
	s.log().Info("removed domain", zap.String("org", org.Name), zap.String("domain", d.Name))
	s.Record(ctx, org, a, "domain.remove", d.Name, map[string]any{"status": d.Status}, nil)
	return nil
}

// Teams returns the org's teams by name, with their members.
func (s *Service) Teams(ctx context.Context, org storage.Org) ([]storage.Team, error) {
	ts, _, err := s.Store.FindTeams(ctx, org.ID, storage.Query{Count: -1})
	if err != nil {
		return nil, fmt.Errorf("listing teams: %w", err)
	}
	return ts, nil
}

// SetTeamRole sets what a team grants its members: admin, member or ""
// (nothing). A team never grants owner.
func (s *Service) SetTeamRole(ctx context.Context, org storage.Org, a Actor, id string, role storage.Role) (storage.Team, error) {
	if role == storage.RoleOwner {
		return storage.Team{}, &tenant.FieldError{Field: "role", Reason: "a team cannot grant the owner role; make owners one by one"}
	}
	t, err := s.Store.TeamByID(ctx, org.ID, id)
	if err != nil {
		return t, err
	}
	if t.Role == role {
		return t, nil
	}
	u, err := s.Store.SetTeamRole(ctx, org.ID, id, role)
	if err != nil {
		return u, err
	}
	s.log().Info("set team role", zap.String("org", org.Name), zap.String("team_id", id), zap.String("role", string(role)))
	s.Record(ctx, org, a, "team.role", t.Name, map[string]any{"role": t.Role}, map[string]any{"role": role})
	return u, nil
}

// CreateTeam makes a team by hand, granting role; an IdP pushing a group
// of the same name links to it.
func (s *Service) CreateTeam(ctx context.Context, org storage.Org, a Actor, name string, role storage.Role) (storage.Team, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return storage.Team{}, &tenant.FieldError{Field: "name", Reason: "is required"}
	case utf8.RuneCountInString(name) > 256:
		return storage.Team{}, &tenant.FieldError{Field: "name", Reason: "is longer than 256 characters"}
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return storage.Team{}, &tenant.FieldError{Field: "name", Reason: "holds a control character"}
	case role == storage.RoleOwner:
		return storage.Team{}, &tenant.FieldError{Field: "role", Reason: "a team cannot grant the owner role"}
	}
	t, err := s.Store.CreateTeam(ctx, org.ID, name, "")
	if errors.Is(err, storage.ErrConflict) {
		return t, &tenant.FieldError{Field: "name", Reason: fmt.Sprintf("the organization has a team named %s already", name)}
	}
	if err != nil {
		return t, err
	}
	if role != "" {
		if t, err = s.Store.SetTeamRole(ctx, org.ID, t.ID, role); err != nil {
			return t, err
		}
	}
	s.Record(ctx, org, a, "team.create", t.Name, nil, map[string]any{"role": role})
	return t, nil
}

// MemberView is a member as an admin sees them: with their teams and the
// role those grant.
type MemberView struct {
	storage.Member
	Teams         []string
	EffectiveRole storage.Role
}

// Members returns a page of the org's members with their teams and
// effective roles, and the total.
func (s *Service) Members(ctx context.Context, org storage.Org, page storage.Page) ([]MemberView, int, error) {
	// FindMembers: its Count 0 means the total alone.
	ms, total, err := s.Store.FindMembers(ctx, org.ID, storage.Query{StartIndex: page.StartIndex, Count: page.Count})
	if err != nil {
		return nil, 0, fmt.Errorf("listing members: %w", err)
	}
	out := make([]MemberView, 0, len(ms))
	if len(ms) == 0 {
		return out, total, nil
	}
	teams, err := s.Teams(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	for _, m := range ms {
		out = append(out, view(m, teams))
	}
	return out, total, nil
}

// Member returns one of the org's members.
func (s *Service) Member(ctx context.Context, org storage.Org, id string) (MemberView, error) {
	m, err := s.Store.MemberByID(ctx, org.ID, id)
	if err != nil {
		return MemberView{}, err
	}
	teams, err := s.Teams(ctx, org)
	if err != nil {
		return MemberView{}, err
	}
	return view(m, teams), nil
}

func view(m storage.Member, teams []storage.Team) MemberView {
	v := MemberView{Member: m, Teams: []string{}}
	var roles []storage.Role
	for _, t := range teams {
		if slices.Contains(t.MemberIDs, m.ID) {
			v.Teams = append(v.Teams, t.Name)
			roles = append(roles, t.Role)
		}
	}
	sort.Strings(v.Teams)
	v.EffectiveRole = storage.EffectiveRole(m.Role, roles...)
	return v
}

// SetMemberRole sets a member's own role; the org keeps an active owner.
func (s *Service) SetMemberRole(ctx context.Context, org storage.Org, a Actor, id string, role storage.Role) (MemberView, error) {
	if _, err := storage.ParseRole(string(role)); err != nil {
		return MemberView{}, &tenant.FieldError{Field: "role", Reason: "must be owner, admin or member"}
	}
	m, err := s.Store.MemberByID(ctx, org.ID, id)
	if err != nil {
		return MemberView{}, err
	}
	if m.Role != role {
		_, err := s.Store.SetRole(ctx, org.ID, id, role)
		if errors.Is(err, storage.ErrLastOwner) {
			return MemberView{}, rule("%s is the organization's last owner; make another member owner first, then change this one", m.Email)
		}
		if err != nil {
			return MemberView{}, err
		}
		s.log().Info("set member role", zap.String("org", org.Name), zap.String("member_id", id), zap.String("role", string(role)))
		s.Record(ctx, org, a, "member.role", m.Email, map[string]any{"role": m.Role}, map[string]any{"role": role})
	}
	return s.Member(ctx, org, id)
}

// SetMemberActive deactivates (ending their sessions) or reactivates a
// member. The org's last active owner is not deactivated here: nobody
// could then sign in to undo it. (The IdP may, over SCIM: it is the
// authority on who works there.)
func (s *Service) SetMemberActive(ctx context.Context, org storage.Org, a Actor, id string, active bool) (MemberView, error) {
	m, err := s.Store.MemberByID(ctx, org.ID, id)
	if err != nil {
		return MemberView{}, err
	}
	if m.Active == active {
		return s.Member(ctx, org, id)
	}
	if !active && m.Role == storage.RoleOwner {
		owners, _, err := s.Store.FindMembers(ctx, org.ID, storage.Query{Count: -1})
		if err != nil {
			return MemberView{}, err
		}
		n := 0
		for _, o := range owners {
			if o.Role == storage.RoleOwner && o.Active {
				n++
			}
		}
		if n <= 1 {
			return MemberView{}, rule("%s is the organization's last active owner; make another member owner first", m.Email)
		}
	}
	if _, err := s.Store.SetActive(ctx, org.ID, id, active); err != nil {
		return MemberView{}, err
	}
	action := "member.deactivate"
	if active {
		action = "member.reactivate"
	}
	s.log().Info(strings.ReplaceAll(action, ".", " "), zap.String("org", org.Name), zap.String("member_id", id))
	s.Record(ctx, org, a, action, m.Email, map[string]any{"active": m.Active}, map[string]any{"active": active})
	return s.Member(ctx, org, id)
}

// InviteMember adds a person to the org with role, taking their names
// from another org where they have an account. Any domain may be invited:
// this is how a guest, or someone SCIM cannot create because their
// account exists elsewhere, joins.
func (s *Service) InviteMember(ctx context.Context, org storage.Org, a Actor, email string, role storage.Role) (MemberView, error) {
	return s.Invite(ctx, org, a, Invitation{Email: email, Role: role})
}

// Invitation is who to invite, as what.
type Invitation struct {
	Email string
	Role  storage.Role
	// GivenName and FamilyName, when either is set, are the member's
	// names (nil as ""); when both are nil, the names the account has in
	// another org, if any.
	GivenName, FamilyName *string
}

// Invite is InviteMember with the member's names given.
func (s *Service) Invite(ctx context.Context, org storage.Org, a Actor, inv Invitation) (MemberView, error) {
	email := strings.TrimSpace(inv.Email)
	addr, err := mail.ParseAddress(email)
	local, domain, ok := strings.Cut(email, "@")
	if err != nil || addr.Address != email || addr.Name != "" || !ok || local == "" || !strings.Contains(domain, ".") {
		return MemberView{}, &tenant.FieldError{Field: "email", Reason: fmt.Sprintf("%q is not an email address (want the bare address, such as jo@example.com)", email)}
	}
	email = local + "@" + strings.ToLower(domain)
	role := inv.Role
	if _, err := storage.ParseRole(string(role)); err != nil {
		return MemberView{}, &tenant.FieldError{Field: "role", Reason: "must be owner, admin or member"}
	}
	nm := storage.NewMember{Email: email, Role: role, Active: true, Source: storage.SourceInvite}
	if inv.GivenName != nil || inv.FamilyName != nil {
		for _, n := range []struct {
			field string
			src   *string
			dst   *string
		}{{"first_name", inv.GivenName, &nm.GivenName}, {"last_name", inv.FamilyName, &nm.FamilyName}} {
			if n.src == nil {
				continue
			}
			v := *n.src
			if utf8.RuneCountInString(v) > 256 {
				return MemberView{}, &tenant.FieldError{Field: n.field, Reason: "is longer than 256 characters"}
			}
			*n.dst = v
		}
	} else if ms, err := s.Store.Memberships(ctx, email); err == nil && len(ms) > 0 {
		nm.GivenName, nm.FamilyName, nm.DisplayName = ms[0].GivenName, ms[0].FamilyName, ms[0].DisplayName
	}
	m, err := s.Store.CreateMember(ctx, org.ID, nm, false)
	if errors.Is(err, storage.ErrConflict) {
		return MemberView{}, &tenant.FieldError{Field: "email", Reason: fmt.Sprintf("%s is a member already", email)}
	}
	if err != nil {
		return MemberView{}, err
	}
	s.log().Info("invited member", zap.String("org", org.Name), zap.String("member_id", m.ID), zap.String("role", string(role)))
	s.Record(ctx, org, a, "member.invite", email, nil, map[string]any{"role": role})
	return s.Member(ctx, org, m.ID)
}
