// Package storage defines what ssogate keeps: organizations, accounts and
// their memberships, teams, claimed domains, API tokens, passwords, sessions,
// the assertion replay cache and the password throttles, and the Store
// interface every backend implements. The embedded SQLite backend lives in
// internal/sqlitestore, the PostgreSQL backend for several replicas in
// internal/pgstore; most of their queries are one shared set, in
// internal/sqlstore, and both pass the conformance suite in
// internal/storage/storetest.
//
// Tenant isolation. Orgs are tenants: nothing one org's people, tokens or
// IdP do may read or change what another org sees. The rule that keeps it
// so, for every backend and every caller:
//
//   - Every method that reads or writes an org's records takes the org's ID
//     and matches every row on it, IDs from a URL included: a member, team,
//     token, domain or test ID of another org is ErrNotFound, never a row.
//   - That org ID comes only from what the request proves, never from what
//     it says: the bearer token's record (TokenByHash) in the sidecar, the
//     session's record (SessionByID, whose OrgID the gate compares with the
//     org its cookie is bound to) or the gate's pinned org in the gate, and
//     the org named by the ACS path only after that org's own IdP signed the
//     response. A body, query or header never names the org.
//   - What several orgs share (an account: its email and password) changes
//     only where no other org sees it: UpdateMember refuses a new email for
//     an account that is a member of another org (ErrSharedAccount). Names,
//     external IDs, roles and states are kept per membership.
//   - An org's SP private keys (SPKeys) sign and decrypt for that org's
//     own provider only; the admin API, the pages and the CLI show their
//     certificates and fingerprints, never the keys, and no error quotes
//     one.
//   - Methods without an org (Identity, SessionByID, TokenByHash,
//     Memberships, ListConnections, ListVerifiedDomains) serve the gate, the
//     sidecar's authentication and the tenant registry; their callers scope
//     what they return by the org the record itself names.
//
// Errors: a method returns ErrNotFound when the thing it names does not exist
// (in the org it was asked about), ErrConflict when a uniqueness rule would be
// broken, and wraps either with context. Any other error is a technical
// failure of the backend.
package storage

import (
	"context"
	"errors"
	"sync/atomic"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound reports that the named record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a write would break a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrReplayed reports that an assertion ID was already consumed.
	ErrReplayed = errors.New("assertion already used")
	// ErrUnavailable reports that the backend cannot serve the call for
	// now (disk full, read-only file, locked past the busy timeout,
	// database unreachable): callers answer 503 and retry later; nothing
	// was written.
	ErrUnavailable = errors.New("the store is unavailable")
)

// Store is everything the gate, the provisioning sidecar and the
// subcommands need from a backend. It is safe for concurrent use, and
// several processes may share one backend.
type Store interface {
	OrgStore
	MemberStore
	TeamStore
	DomainStore
	TokenStore
	CredentialStore
	SessionStore
	ReplayStore
	SignInStore
	SettingStore
	ChangeFeed
	SCIMStore
	ConnectionStore
	AuditStore
	SPKeyStore
	ThrottleStore

	// Close releases the backend's resources.
	Close() error
}

// OrgStore manages organizations.
type OrgStore interface {
	// EnsureOrg returns the org with this name, creating it if absent.
	// fromConfig marks an org named in a Caddyfile.
	EnsureOrg(ctx context.Context, name string, fromConfig bool) (Org, error)
	// CreateOrg creates an org; ErrConflict when the name is taken.
	CreateOrg(ctx context.Context, name string) (Org, error)
	// OrgByName returns the named org or ErrNotFound.
	OrgByName(ctx context.Context, name string) (Org, error)
	// OrgByID returns the org with this ID or ErrNotFound.
	OrgByID(ctx context.Context, id int64) (Org, error)
	// ListOrgs returns every org, by name.
	ListOrgs(ctx context.Context) ([]Org, error)
}

// MemberStore manages accounts and their memberships in orgs.
type MemberStore interface {
	// MemberByEmail returns the org's member with this email (compared
	// case-insensitively), active or not, or ErrNotFound.
	MemberByEmail(ctx context.Context, orgID int64, email string) (Member, error)
	// MemberByID returns the org's member with this ID or ErrNotFound, also
	// when the ID belongs to another org.
	MemberByID(ctx context.Context, orgID int64, id string) (Member, error)
	// Memberships returns every membership of the account with this email,
	// in every org, oldest first: a password belongs to the account, so a
	// gate that serves several orgs checks it first and then picks the
	// org among these. Callers outside such a sign-in must not use it.
	Memberships(ctx context.Context, email string) ([]Member, error)
	// AccountExists reports whether any org has an account with this email.
	AccountExists(ctx context.Context, email string) (bool, error)
	// CreateMember makes the account (if no account has the email yet) and
	// its membership in the org. ErrConflict when the account is already a
	// member of the org; ErrAccountExists (which also matches ErrConflict)
	// when requireNewAccount is set and the account exists outside the org.
	CreateMember(ctx context.Context, orgID int64, m NewMember, requireNewAccount bool) (Member, error)
	// UpdateMember replaces the profile fields of a member (names, email,
	// external ID, extra attributes and active). A change of Active bumps
	// the member's epoch, which ends every session issued before.
	UpdateMember(ctx context.Context, orgID int64, m Member) (Member, error)
	// SetActive activates or deactivates a member. Deactivation bumps the
	// epoch, ending the member's sessions.
	SetActive(ctx context.Context, orgID int64, id string, active bool) (Member, error)
	// SetRole changes a member's role; ErrLastOwner when it would leave
	// the org without an owner.
	SetRole(ctx context.Context, orgID int64, id string, role Role) (Member, error)
	// DeleteMember removes the membership, ends its sessions, and removes the
	// account when it belongs to no other org.
	DeleteMember(ctx context.Context, orgID int64, id string) error
	// ListMembers returns a page of the org's members in a stable order.
	ListMembers(ctx context.Context, orgID int64, page Page) ([]Member, int, error)
	// Identity returns what the gate tells the app about a member: its
	// org, current names, effective role (the highest of its own and its
	// teams' roles), team names and state.
	Identity(ctx context.Context, memberID string) (Identity, error)
}

// TeamStore manages teams (SCIM Groups) and their members.
type TeamStore interface {
	// CreateTeam makes a team by hand (source manual); ErrConflict when the
	// org has one with the same name (compared case-insensitively).
	CreateTeam(ctx context.Context, orgID int64, name, externalID string) (Team, error)
	// TeamByID returns the org's team or ErrNotFound.
	TeamByID(ctx context.Context, orgID int64, id string) (Team, error)
	// ListTeams returns a page of the org's teams by name.
	ListTeams(ctx context.Context, orgID int64, page Page) ([]Team, int, error)
	// DeleteTeam removes a team and its memberships.
	DeleteTeam(ctx context.Context, orgID int64, id string) error
	// UpdateTeam applies fn to the team and its member IDs inside one
	// transaction, then stores the result. Concurrent updates to one team
	// are serialized, so none is lost. The team's role is not changed.
	UpdateTeam(ctx context.Context, orgID int64, id string, fn func(*Team) error) (Team, error)
	// SetTeamRole sets the role the team grants its members: admin,
	// member, or "" for none. A team never grants owner.
	SetTeamRole(ctx context.Context, orgID int64, id string, role Role) (Team, error)
	// SetMemberTeamsByName makes the member's teams in the org exactly the
	// named ones, as an assertion's groups name them, in one write: a
	// name matches a team's name without regard to case, a name no team
	// has makes a team (source sso), and the member leaves the org's
	// other teams. At most MaxTeamNames names of at most MaxTeamName
	// bytes each. ErrNotFound when the member is not the org's.
	SetMemberTeamsByName(ctx context.Context, orgID int64, memberID string, names []string) (TeamsChange, error)
}

// DomainStore manages claimed email domains.
type DomainStore interface {
	// SyncConfigDomains makes the org's config-declared domains exactly
	// this set: each verified and marked as from the config; config domains
	// no longer listed are removed. ErrConflict when another org has one of
	// them verified.
	SyncConfigDomains(ctx context.Context, orgID int64, domains []string) error
	// DomainVerified reports whether the org has this domain claimed and
	// verified.
	DomainVerified(ctx context.Context, orgID int64, domain string) (bool, error)
	// ClaimDomain records a pending claim with its TXT challenge value;
	// ErrConflict when another org has it verified or this org has it
	// claimed already.
	ClaimDomain(ctx context.Context, orgID int64, domain, txtValue string) (Domain, error)
	// MarkDomainVerified marks the org's claim verified; ErrConflict when
	// another org verified it first.
	MarkDomainVerified(ctx context.Context, orgID int64, domain string) (Domain, error)
	// DomainByName returns the org's claim or ErrNotFound.
	DomainByName(ctx context.Context, orgID int64, domain string) (Domain, error)
	// ListDomains returns the org's claims by name.
	ListDomains(ctx context.Context, orgID int64) ([]Domain, error)
	// RemoveDomain deletes the org's claim.
	RemoveDomain(ctx context.Context, orgID int64, domain string) error
	// ListVerifiedDomains returns every verified domain with its org.
	ListVerifiedDomains(ctx context.Context) ([]VerifiedDomain, error)
}

// TokenStore manages bearer tokens for the sidecar. Only a hash of each
// token is stored.
type TokenStore interface {
	// CreateToken stores a token's hash and returns its record.
	CreateToken(ctx context.Context, orgID int64, name string, scope Scope, hash []byte) (Token, error)
	// TokenByHash returns the token with this hash or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns the org's tokens.
	ListTokens(ctx context.Context, orgID int64) ([]Token, error)
	// RevokeToken deletes one of the org's tokens.
	RevokeToken(ctx context.Context, orgID int64, id string) error
	// TouchToken records that the token was used at (unix seconds).
	TouchToken(ctx context.Context, id string, at int64) error
}

// CredentialStore keeps password hashes of accounts.
type CredentialStore interface {
	// SetPasswordHash stores the encoded hash for the account with this
	// email and, in the same write, ends the account's password sessions
	// in every org (its SAML sessions stay); the change feed names their
	// members.
	SetPasswordHash(ctx context.Context, email, hash string) error
	// PasswordHash returns the encoded hash or ErrNotFound.
	PasswordHash(ctx context.Context, email string) (string, error)
}

// SessionStore keeps sign-in sessions, so that they survive restarts and are
// shared by processes.
type SessionStore interface {
	// CreateSession records a new session and, when granted is not nil,
	// the assertion that granted it, in one write: it returns ErrReplayed
	// (and records no session) when that assertion is recorded already.
	CreateSession(ctx context.Context, s Session, granted *ConsumedAssertion) error
	// SessionByID returns a session or ErrNotFound.
	SessionByID(ctx context.Context, id string) (Session, error)
	// TouchSessions records the last time each session was seen.
	TouchSessions(ctx context.Context, seen map[string]int64) error
	// DeleteSession ends one session; the change feed names its member,
	// so that every process drops its cached copy.
	DeleteSession(ctx context.Context, id string) error
	// EndSessionsByNameID ends the org's SAML sessions of the IdP's
	// nameID, as a logout request from the IdP names them: with
	// sessionIndexes, only the sessions with one of those session
	// indexes. Every process drops its cached copies (through the change
	// feed). It returns how many sessions ended.
	EndSessionsByNameID(ctx context.Context, orgID int64, nameID string, sessionIndexes []string) (int, error)
	// DeleteExpired removes sessions and replay records past their time.
	DeleteExpired(ctx context.Context, now int64) error
}

// ReplayStore is the one-time-use record of assertion IDs, shared by every
// process on the backend.
type ReplayStore interface {
	// ConsumeAssertion records id until expiresAt (unix seconds); it returns
	// ErrReplayed when id is recorded already.
	ConsumeAssertion(ctx context.Context, id string, expiresAt int64) error
	// AssertionConsumed reports whether id is recorded. Like SignInStore's
	// reads, it must not be called from inside another store call.
	AssertionConsumed(ctx context.Context, id string) (bool, error)
}

// SignInStore holds the reads a SAML sign-in makes before it writes its
// session. A backend may serve them where that write keeps its cache warm
// (the SQLite store: on its one writer connection), so they must never be
// made from inside another store call's callback.
type SignInStore interface {
	// SignInLookup reports whether the org has verified domain and, when
	// it has, returns the org's member with email (ErrNotFound when none).
	SignInLookup(ctx context.Context, orgID int64, domain, email string) (verified bool, m Member, err error)
}

// SettingStore keeps small values the processes must agree on, such as the
// generated session key.
type SettingStore interface {
	// EnsureSetting returns the stored value of key, storing value first
	// if there is none. Every caller gets the same value.
	EnsureSetting(ctx context.Context, key string, value []byte) ([]byte, error)
	// PutSetting stores value under key, replacing what was there.
	PutSetting(ctx context.Context, key string, value []byte) error
	// Setting returns the value stored under key or ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
}

// ChangeFeed tells caches which members and orgs changed, by any process.
type ChangeFeed interface {
	// ChangesSince returns the members whose identity (state, role, names,
	// teams) changed or a live session of whom ended after seq, the orgs
	// whose connection, domains or existence changed, and the newest seq.
	// A seq of -1 returns nothing and the current seq.
	ChangesSince(ctx context.Context, seq int64) (Changes, int64, error)
	// OnChange registers fn to run synchronously after every write made
	// through this Store value that may change an identity or end a
	// session. A backend that hears of other processes' writes (the
	// PostgreSQL store, through LISTEN/NOTIFY) runs it for those too.
	OnChange(fn func())
}

// Outage follows an ErrUnavailable episode of one caller, so that its
// cause is logged once when it starts and once when it ends rather than
// at every request. The zero value is ready; it is safe for concurrent
// use and costs one atomic load on the good path.
type Outage struct{ down atomic.Bool }

// Fail records a failure and reports whether it starts an episode.
func (o *Outage) Fail() bool { return o.down.CompareAndSwap(false, true) }

// Recover records a success and reports whether it ends an episode.
func (o *Outage) Recover() bool { return o.down.Load() && o.down.CompareAndSwap(true, false) }
