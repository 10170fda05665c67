package sqlstore

// The queries of the hot paths: a sign-in (replay record, domain, member,
// identity, session), the gate's session load, a SCIM create and the
// audit event every SCIM change records. The SQLite store prepares them
// once (sqlitestore's stmts.go finds them by their text); PostgreSQL's
// driver caches each query's statement per connection.
const (
	QAccountIDByEmail = "SELECT id FROM accounts WHERE email = ?"
	QInsertAccount    = "INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id"
	QCountMembership  = "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND account_id = ?"
	QInsertMember     = `INSERT INTO memberships(id, org_id, account_id, given_name, family_name,
			display_name, external_id, role, active, attrs, source, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	QMemberByID     = "SELECT " + MemberColumns + MemberFrom + "WHERE m.org_id = ? AND m.id = ?"
	QInsertSession  = `INSERT INTO sessions(id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	QDeleteSession  = "DELETE FROM sessions WHERE id = ?"
	QInsertReplay   = "INSERT INTO replay(assertion_id, expires_at) VALUES (?, ?)"
	QMemberByEmail  = "SELECT " + MemberColumns + MemberFrom + "WHERE m.org_id = ? AND a.email = ?"
	QDomainVerified = "SELECT COUNT(*) FROM domains WHERE org_id = ? AND name = ? AND status = 'verified'"
	QIdentity       = `SELECT m.id, o.id, o.name, a.email, m.given_name, m.family_name, m.role, m.active, m.epoch
		FROM memberships m JOIN accounts a ON a.id = m.account_id JOIN orgs o ON o.id = m.org_id
		WHERE m.id = ?`
	QIdentityTeams = `SELECT t.name, t.role FROM team_members tm JOIN teams t ON t.id = tm.team_id
		WHERE tm.member_id = ? ORDER BY t.name`
	QInsertAudit = `INSERT INTO audit(org_id, at, actor, actor_kind, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	QReplaySeen  = "SELECT 1 FROM replay WHERE assertion_id = ?"
	QSessionByID = `SELECT id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index
		FROM sessions WHERE id = ?`
)

// MemberColumns are the columns ScanMember reads, from MemberFrom.
const MemberColumns = `m.id, m.org_id, m.account_id, a.email, m.given_name, m.family_name,
	m.display_name, m.external_id, m.role, m.active, m.epoch, m.attrs, m.source, m.created_at, m.updated_at, m.version`

// MemberFrom joins a membership (m) to its account (a).
const MemberFrom = " FROM memberships m JOIN accounts a ON a.id = m.account_id "
