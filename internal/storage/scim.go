package storage

import (
	"context"
	"errors"
)

// SCIMStore is what the provisioning sidecar needs beyond the plain member
// and team methods: filtered, paged queries that a backend answers with its
// indexes (an IdP looks a user up by userName before every push, so that
// lookup must not scan the org), and read-modify-write updates that cannot
// lose a concurrent change.
type SCIMStore interface {
	// FindMembers returns the org's members that match q.Filter, in the
	// same stable order as ListMembers, and how many match in all.
	FindMembers(ctx context.Context, orgID int64, q Query) ([]Member, int, error)
	// FindTeams returns the org's teams that match q.Filter, by name, and
	// how many match in all.
	FindTeams(ctx context.Context, orgID int64, q Query) ([]Team, int, error)
	// ModifyMember applies fn to the member inside one write transaction and
	// stores the result as UpdateMember would (a change of Active bumps the
	// epoch and ends sessions). fn sees the current state, so no concurrent
	// change is lost; when fn returns an error nothing is written.
	ModifyMember(ctx context.Context, orgID int64, id string, fn func(*Member) error) (Member, error)
	// CreateTeamWithMembers makes a team with these members in one
	// transaction: ErrConflict when the name is taken, ErrNotFound when a
	// member ID is not a member of the org; then nothing is written.
	CreateTeamWithMembers(ctx context.Context, orgID int64, name, externalID string, memberIDs []string) (Team, error)
}

// ErrBadFilter reports a Filter the backend cannot evaluate: a field used
// with an operator or value type it does not support. The SCIM layer
// validates filters first, so seeing it means a bug in the caller.
var ErrBadFilter = errors.New("unsupported filter")

// Query selects part of the members or teams of an org.
type Query struct {
	// Filter selects the records; nil selects all of them.
	Filter Filter
	// StartIndex is the 1-based position of the first record returned;
	// values below 1 mean 1.
	StartIndex int
	// Count is the most records returned; 0 returns none, only the total
	// (SCIM's count=0). Negative means no limit.
	Count int
	// OmitMembers leaves Team.MemberIDs nil, for clients that excluded the
	// members attribute: loading them is most of the cost of a team list.
	OmitMembers bool
}

// Filter is a condition on members or teams. The SCIM layer builds it from
// a SCIM filter; each backend translates it into its own query language, so
// that filtering happens where the indexes are.
type Filter interface{ isFilter() }

// Field names what a Compare looks at.
type Field string

// Fields of both members and teams.
const (
	FieldID         Field = "id"         // exact
	FieldExternalID Field = "externalId" // exact (SCIM caseExact)
	FieldCreated    Field = "created"    // time.Time
	FieldUpdated    Field = "updated"    // time.Time
)

// Fields of members. Text fields compare case-insensitively.
const (
	FieldEmail       Field = "email" // the account's email, SCIM userName
	FieldGivenName   Field = "givenName"
	FieldFamilyName  Field = "familyName"
	FieldDisplayName Field = "displayName"
	FieldActive      Field = "active" // bool; eq, ne and pr only
)

// Fields of one email of a member, usable only inside AnyEmail.
const (
	FieldEmailValue   Field = "email.value"   // case-insensitive
	FieldEmailType    Field = "email.type"    // case-insensitive
	FieldEmailPrimary Field = "email.primary" // bool; eq, ne and pr only
)

// Fields of teams.
const (
	FieldName     Field = "name"     // case-insensitive
	FieldMemberID Field = "memberId" // the team has this member; eq only
)

// Op is a comparison operator of RFC 7644 section 3.4.2.2.
type Op string

// The comparison operators.
const (
	OpEq Op = "eq"
	OpNe Op = "ne"
	OpCo Op = "co"
	OpSw Op = "sw"
	OpEw Op = "ew"
	OpGt Op = "gt"
	OpGe Op = "ge"
	OpLt Op = "lt"
	OpLe Op = "le"
	OpPr Op = "pr" // present: set and not empty; Value is unused
)

// Compare tests one field. Value is a string for text fields, a bool for
// FieldActive and FieldEmailPrimary, a time.Time for FieldCreated and
// FieldUpdated.
type Compare struct {
	Field Field
	Op    Op
	Value any
}

// And holds when both sides hold.
type And struct{ Left, Right Filter }

// Or holds when either side holds.
type Or struct{ Left, Right Filter }

// Not holds when its filter does not.
type Not struct{ Filter Filter }

// AnyEmail holds when one of the member's emails satisfies Filter, which
// uses the FieldEmail* fields. The emails are the SCIM "emails" list kept in
// Member.Attrs (objects with value, type and primary); a member without
// that list has one implied email: its account email, type "work",
// primary.
type AnyEmail struct{ Filter Filter }

func (Compare) isFilter()  {}
func (And) isFilter()      {}
func (Or) isFilter()       {}
func (Not) isFilter()      {}
func (AnyEmail) isFilter() {}
