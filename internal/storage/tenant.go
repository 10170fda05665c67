package storage

import (
	"context"
	"fmt"
	"time"
)

// ErrSharedAccount reports a change to what several orgs share (an
// account's email) asked for by one of them. It matches ErrConflict too.
var ErrSharedAccount = fmt.Errorf("the account is also a member of another organization: %w", ErrConflict)

// ConnectionState is where an org's SSO connection is in its life:
// draft (being set up) → tested (a test sign-in succeeded) → enabled
// (signs people in) ⇄ disabled.
type ConnectionState string

// The connection states.
const (
	ConnectionDraft    ConnectionState = "draft"
	ConnectionTested   ConnectionState = "tested"
	ConnectionEnabled  ConnectionState = "enabled"
	ConnectionDisabled ConnectionState = "disabled"
)

// Connection is an org's SSO connection: its IdP (explicit values, or
// metadata by URL or document), its single-logout URL and the org's
// sign-in switches.
type Connection struct {
	OrgID int64
	// IDPSSOURL is the IdP's "Authentication URL", IDPIssuer its "Issuer
	// URL", IDPCertificates its "Public Certificates" as PEM blocks.
	IDPSSOURL       string
	IDPIssuer       string
	IDPCertificates string
	// IDPMetadataURL is where the IdP publishes its metadata;
	// IDPMetadataXML the document itself (as given, or the last good copy
	// fetched from the URL).
	IDPMetadataURL string
	IDPMetadataXML string
	// IDPSLOURL is the IdP's single-logout URL.
	IDPSLOURL string

	RequireSSO        bool
	IDPManagedAccess  bool
	AllowIDPInitiated bool
	// GroupsAttribute names the assertion attribute whose values are the
	// member's teams, set at each sign-in; "" ignores the groups.
	GroupsAttribute string

	State ConnectionState
	// Pinned names the fields a Caddyfile sets; they cannot be changed
	// through the admin API or the CLI.
	Pinned []string

	TestedAt  time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version grows with every change.
	Version int64
}

// NewConnection is the connection of an org that has none yet: a draft
// that accepts IdP-initiated sign-ins once enabled, as SPEC's default.
func NewConnection(orgID int64) Connection {
	return Connection{OrgID: orgID, State: ConnectionDraft, AllowIDPInitiated: true}
}

// IsPinned reports whether a Caddyfile sets field.
func (c Connection) IsPinned(field string) bool {
	for _, p := range c.Pinned {
		if p == field {
			return true
		}
	}
	return false
}

// SSOTest is a test sign-in of an org's connection.
type SSOTest struct {
	ID    string
	OrgID int64
	// ConnectionVersion is the version of the connection it tests: a
	// success moves that version, and no later one, to tested.
	ConnectionVersion int64
	CreatedAt         time.Time
	ExpiresAt         time.Time
	FinishedAt        time.Time
	OK                bool
	// Outcome is what came back, as a JSON object (names, attributes,
	// the rules and their results); never the assertion itself.
	Outcome []byte
}

// ConnectionStore keeps orgs' SSO connections and their test sign-ins.
type ConnectionStore interface {
	// Connection returns the org's connection, or ErrNotFound when it has
	// none yet.
	Connection(ctx context.Context, orgID int64) (Connection, error)
	// ListConnections returns every org's connection.
	ListConnections(ctx context.Context) ([]Connection, error)
	// ModifyConnection applies fn to the org's connection (NewConnection
	// when it has none) inside one write transaction and stores the
	// result; when fn returns an error nothing is written. When the state
	// leaves enabled, the org's SAML sessions end in the same write.
	ModifyConnection(ctx context.Context, orgID int64, fn func(*Connection) error) (Connection, error)
	// CreateSSOTest records a test sign-in about to start.
	CreateSSOTest(ctx context.Context, t SSOTest) error
	// SSOTest returns the org's test or ErrNotFound.
	SSOTest(ctx context.Context, orgID int64, id string) (SSOTest, error)
	// FinishSSOTest records a test's outcome, once: ErrConflict when it is
	// finished already. When ok and the connection is still the version
	// tested and a draft, the connection becomes tested in the same write.
	FinishSSOTest(ctx context.Context, orgID int64, id string, ok bool, outcome []byte) (SSOTest, error)
	// LatestSSOTest returns the org's newest finished test or ErrNotFound.
	LatestSSOTest(ctx context.Context, orgID int64) (SSOTest, error)
}

// VerifiedDomain is a domain verified by an org, for home-realm discovery.
type VerifiedDomain struct {
	Name  string
	OrgID int64
}

// Changes is what the change feed reports: members whose identity may
// show something else now, and orgs whose connection, domains or
// existence changed.
type Changes struct {
	Members []string
	Orgs    []int64
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Members) == 0 && len(c.Orgs) == 0 }

// Sources of members and teams: how they came to be.
const (
	SourceSCIM   = "scim"   // provisioned by the IdP
	SourceSSO    = "sso"    // made by a first SSO sign-in
	SourceInvite = "invite" // invited by an admin or the operator
	SourceManual = "manual" // a team an admin made
)

// Actor kinds of audit events.
const (
	ActorMember   = "member"   // a signed-in owner or admin, on the pages
	ActorToken    = "token"    // an admin token, on the admin API
	ActorSCIM     = "scim"     // an IdP, with a SCIM token
	ActorOperator = "operator" // the operator, with the CLI
)

// AuditEvent is one change to an org, for its activity log. It never holds
// a secret (a token, a password, an assertion).
type AuditEvent struct {
	ID        int64
	OrgID     int64
	At        time.Time
	Actor     string
	ActorKind string
	// Action names the change, such as sso.update or member.role.
	Action string
	// Target is what changed: an email, a domain, a team or token name.
	Target string
	// Before and After are JSON objects of the fields changed; nil when
	// there is nothing to show.
	Before, After []byte
}

// AuditStore keeps the orgs' activity logs.
type AuditStore interface {
	// RecordAudit appends an event to its org's log.
	RecordAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns a page of the org's events, newest first, and how
	// many there are.
	ListAudit(ctx context.Context, orgID int64, page Page) ([]AuditEvent, int, error)
}

// Uses and states of SP keys.
const (
	SPKeySigning    = "signing"    // signs AuthnRequests and logout messages
	SPKeyEncryption = "encryption" // IdPs encrypt assertions to it

	SPKeyCurrent = "current" // in use
	SPKeyNext    = "next"    // published beside the current key, during a rotation
)

// SPKey is one of an org's SP key pairs, as PEM: a CERTIFICATE block and a
// PKCS#8 PRIVATE KEY block. KeyPEM is a secret: never log, show or return
// it in an error; String leaves it out.
type SPKey struct {
	ID, OrgID int64
	// Use is SPKeySigning or SPKeyEncryption; State SPKeyCurrent or
	// SPKeyNext.
	Use            string
	State          string
	CertificatePEM string
	KeyPEM         string
	// NotAfter is the certificate's expiry.
	NotAfter  time.Time
	CreatedAt time.Time
}

// String describes the key without its private key, so that printing one
// by mistake does not print the secret.
func (k SPKey) String() string {
	return fmt.Sprintf("%s SP key (%s) %d of org %d, until %s", k.Use, k.State, k.ID, k.OrgID, k.NotAfter.UTC().Format(time.DateOnly))
}

// GoString is String, for %#v.
func (k SPKey) GoString() string { return k.String() }

// SPKeyStore keeps each org's SP key pairs: a current signing key and a
// current encryption key, and during a rotation a next key of a use
// beside its current one. Every list it returns is ordered signing before
// encryption, current before next.
type SPKeyStore interface {
	// SPKeys returns the org's keys (none when it has none yet).
	SPKeys(ctx context.Context, orgID int64) ([]SPKey, error)
	// EnsureSPKeys stores each of fresh (by its Use; its other fields but
	// the PEM and NotAfter are the store's) as the org's current key of
	// its use unless the org has one already, in one write, and returns
	// the org's keys. Callers generate fresh outside (RSA generation is
	// slow); callers racing, in any process, all get the same keys.
	EnsureSPKeys(ctx context.Context, orgID int64, fresh []SPKey) ([]SPKey, error)
	// RollSPKeys stores next (one per use given) as the org's next keys,
	// published beside the current ones, in one write, and returns the
	// org's keys. ErrConflict when a use has a next key already;
	// ErrNotFound when it has no current key.
	RollSPKeys(ctx context.Context, orgID int64, next []SPKey) ([]SPKey, error)
	// RetireSPKeys, for each use with a next key, deletes the current key
	// and makes the next one current, in one write, and returns the org's
	// keys. ErrConflict when no use has a next key.
	RetireSPKeys(ctx context.Context, orgID int64) ([]SPKey, error)
}
