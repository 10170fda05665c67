package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

// ErrAccountExists reports that an account with the email exists outside
// the org. It matches ErrConflict too.
var ErrAccountExists = fmt.Errorf("account exists outside the organization: %w", ErrConflict)

// Role is a member's role in an org.
type Role string

// The roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOwner, RoleAdmin, RoleMember:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want owner, admin or member)", s)
}

// Privileged reports whether the role may use break-glass password login.
func (r Role) Privileged() bool { return r == RoleOwner || r == RoleAdmin }

// rank orders roles; an unknown role ranks below member.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// EffectiveRole is the highest of a member's own role and the roles its
// teams grant. A team never grants owner, whatever it holds.
func EffectiveRole(own Role, teamRoles ...Role) Role {
	best := own
	for _, r := range teamRoles {
		if r == RoleOwner {
			continue
		}
		if r.rank() > best.rank() {
			best = r
		}
	}
	return best
}

// ParseTeamRole returns the role a team may grant: admin, member, or ""
// (none, also spelled "none").
func ParseTeamRole(s string) (Role, error) {
	switch s {
	case "", "none":
		return "", nil
	case string(RoleAdmin), string(RoleMember):
		return Role(s), nil
	case string(RoleOwner):
		return "", fmt.Errorf("a team cannot grant the owner role; make owners one by one")
	}
	return "", fmt.Errorf("unknown team role %q (want admin, member or none)", s)
}

// ErrLastOwner reports a role change that would leave an org without an
// owner. It matches ErrConflict too.
var ErrLastOwner = fmt.Errorf("the organization would have no owner left: %w", ErrConflict)

// Scope is what a bearer token may do.
type Scope string

// The token scopes.
const (
	ScopeSCIM  Scope = "scim"
	ScopeAdmin Scope = "admin"
)

// ParseScope returns the scope named s.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case ScopeSCIM, ScopeAdmin:
		return sc, nil
	}
	return "", fmt.Errorf("unknown scope %q (want scim or admin)", s)
}

// Org is an organization: a customer of the protected app.
type Org struct {
	ID         int64
	Name       string
	FromConfig bool
	CreatedAt  time.Time
}

// NewMember is what creating a member needs.
type NewMember struct {
	Email       string
	GivenName   string
	FamilyName  string
	DisplayName string
	ExternalID  string
	Role        Role
	Active      bool
	// Attrs holds extra SCIM attributes kept verbatim (a JSON object).
	Attrs json.RawMessage
	// Source says how the member came to be (SourceSCIM, SourceSSO,
	// SourceInvite); "" for unknown.
	Source string
}

// Member is an account's membership in an org, with the account's profile.
// Its ID is the SCIM User id.
type Member struct {
	ID          string
	OrgID       int64
	AccountID   int64
	Email       string
	GivenName   string
	FamilyName  string
	DisplayName string
	ExternalID  string
	Role        Role
	Active      bool
	// Epoch grows when the member is deactivated or deleted; a session
	// issued under an older epoch is over.
	Epoch     int64
	Attrs     json.RawMessage
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version grows with every change; it makes the SCIM ETag.
	Version int64
}

// Identity is what the gate passes to the app about a signed-in member.
type Identity struct {
	MemberID   string
	OrgID      int64
	OrgName    string
	Email      string
	GivenName  string
	FamilyName string
	// Role is the effective role: the highest of the member's own and its
	// teams' roles.
	Role   Role
	Teams  []string
	Active bool
	Epoch  int64
}

// Team is a named set of an org's members; its ID is the SCIM Group id.
type Team struct {
	ID         string
	OrgID      int64
	Name       string
	ExternalID string
	// Role is what the team grants its members (admin or member), or ""
	// for nothing.
	Role Role
	// Source is SourceSCIM for a team the IdP pushed, SourceManual for one
	// an admin made.
	Source string
	// MemberIDs lists member IDs, sorted.
	MemberIDs []string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Bounds of SetMemberTeamsByName's input: an assertion's groups, as
// internal/sso reads them.
const (
	MaxTeamNames = 256
	MaxTeamName  = 256
)

// TeamsChange is what SetMemberTeamsByName changed, by team name (as
// stored), each list sorted: the teams the member joined (those made for
// it among them), the teams made, and the teams it left.
type TeamsChange struct {
	Added   []string
	Created []string
	Removed []string
}

// Empty reports whether nothing changed.
func (c TeamsChange) Empty() bool { return len(c.Added) == 0 && len(c.Removed) == 0 }

// Domain states.
const (
	DomainPending  = "pending"
	DomainVerified = "verified"
)

// Domain is an org's claim on an email domain.
type Domain struct {
	Name       string
	OrgID      int64
	Status     string
	TXTValue   string
	FromConfig bool
	CreatedAt  time.Time
	VerifiedAt time.Time
}

// Token is a bearer token's record; the token itself is never stored.
type Token struct {
	ID         string
	OrgID      int64
	Name       string
	Scope      Scope
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Session methods: how a session began.
const (
	MethodSAML     = "saml"
	MethodPassword = "password"
)

// Session is a sign-in session of one org. Times are unix seconds.
type Session struct {
	ID        string
	MemberID  string
	OrgID     int64
	Method    string
	Epoch     int64
	CreatedAt int64
	ExpiresAt int64
	LastSeen  int64
	// NameID and SessionIndex name the session at the IdP, for single
	// logout; empty for password sign-ins.
	NameID       string
	SessionIndex string
}

// ConsumedAssertion is an assertion ID recorded as used until ExpiresAt
// (unix seconds), after which the assertion is refused anyway.
type ConsumedAssertion struct {
	ID        string
	ExpiresAt int64
}

// Page selects part of a list: 1-based StartIndex and Count.
type Page struct {
	StartIndex int
	Count      int
}
