// Package storetest is the conformance suite of storage.Store: the
// behaviour every backend must show, run by each backend's tests against
// a fresh database (internal/sqlitestore always, internal/pgstore when a
// PostgreSQL is at hand).
package storetest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// Backend opens stores for the suite.
type Backend struct {
	// Open returns a store on a fresh, empty database, closed at the
	// test's end.
	Open func(t *testing.T) storage.Store
	// Again returns a second store on s's database, as another process
	// would open it, closed at the test's end.
	Again func(t *testing.T, s storage.Store) storage.Store
	// SQL runs statements (with ? placeholders) on s's database, for the
	// tests that write or read rows by hand.
	SQL func(s storage.Store) SQL
	// SetClock makes s take the time from now.
	SetClock func(s storage.Store, now func() time.Time)
	// Notifies tells that a store runs its OnChange callbacks for other
	// processes' writes too.
	Notifies bool
}

// SQL is a database handle taking ? placeholders.
type SQL interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Run runs the suite, each test on stores of its own.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"OpenTwiceKeepsData", testOpenTwiceKeepsData},
		{"OrgIsolation", testOrgIsolation},
		{"ProcessesCreateMember", testProcessesCreateMember},
		{"ProcessesCreateAccountInOrgs", testProcessesCreateAccountInOrgs},
		{"ProcessesTeamAdds", testProcessesTeamAdds},
		{"ProcessesOneSessionPerAssertion", testProcessesOneSessionPerAssertion},
		{"ProcessesSeeDeactivation", testProcessesSeeDeactivation},
		{"FindMembers", testFindMembers},
		{"FindMembersPaging", testFindMembersPaging},
		{"MemberCountsFoldOnRead", testMemberCountsFoldOnRead},
		{"FindMembersUnfilteredPages", testFindMembersUnfilteredPages},
		{"FindMembersBadFilter", testFindMembersBadFilter},
		{"FindTeams", testFindTeams},
		{"ModifyMember", testModifyMember},
		{"MemberEmailsFollowAttrs", testMemberEmailsFollowAttrs},
		{"EndSessionsByNameID", testEndSessionsByNameID},
		{"SessionEndsOnFeed", testSessionEndsOnFeed},
		{"SPKeysLifecycle", testSPKeysLifecycle},
		{"SPKeysRefusals", testSPKeysRefusals},
		{"SPKeysFeed", testSPKeysFeed},
		{"EnsureSPKeysRace", testEnsureSPKeysRace},
		{"GroupsAttributeIsKept", testGroupsAttributeIsKept},
		{"MemberLifecycle", testMemberLifecycle},
		{"TeamConcurrentAdds", testTeamConcurrentAdds},
		{"Domains", testDomains},
		{"Replay", testReplay},
		{"SessionGrantedByAssertion", testSessionGrantedByAssertion},
		{"SignInLookup", testSignInLookup},
		{"SetMemberTeamsByName", testSetMemberTeamsByName},
		{"SetMemberTeamsByNameRefused", testSetMemberTeamsByNameRefused},
		{"ModifyConnectionCreatesAndUpdates", testModifyConnectionCreatesAndUpdates},
		{"ModifyConnectionWritesNothingOnRefusal", testModifyConnectionWritesNothingOnRefusal},
		{"LeavingEnabledEndsSAMLSessions", testLeavingEnabledEndsSAMLSessions},
		{"SSOTestLifecycle", testSSOTestLifecycle},
		{"CreateSSOTestKeepsRecentOnes", testCreateSSOTestKeepsRecentOnes},
		{"CreateSSOTestKeepsAtMost20", testCreateSSOTestKeepsAtMost20},
		{"ChangeFeedNamesOrgs", testChangeFeedNamesOrgs},
		{"OnChangeRunsForOrgWrites", testOnChangeRunsForOrgWrites},
		{"SharedAccountEmailIsRefused", testSharedAccountEmailIsRefused},
		{"SharedAccountCaseOnlyEmail", testSharedAccountCaseOnlyEmail},
		{"SetRoleKeepsAnOwner", testSetRoleKeepsAnOwner},
		{"SetRoleConcurrentDemotions", testSetRoleConcurrentDemotions},
		{"IdentityEffectiveRole", testIdentityEffectiveRole},
		{"SetTeamRole", testSetTeamRole},
		{"MembershipsAcrossOrgs", testMembershipsAcrossOrgs},
		{"TouchTokenNeverMovesBack", testTouchTokenNeverMovesBack},
		{"OrgByID", testOrgByID},
		{"ListVerifiedDomains", testListVerifiedDomains},
		{"Settings", testSettings},
		{"SetRoleDeactivatedOwnerDoesNotCount", testSetRoleDeactivatedOwnerDoesNotCount},
		{"ThrottleAcrossProcesses", testThrottleAcrossProcesses},
		{"ThrottleSimultaneous", testThrottleSimultaneous},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}
