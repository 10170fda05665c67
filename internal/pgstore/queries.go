package pgstore

// The queries of the hot paths, named as in the SQLite store.
const (
	qAccountIDByEmail = "SELECT id FROM accounts WHERE email = ?"
	qInsertAccount    = "INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id"
	qCountMembership  = "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND account_id = ?"
	qInsertMember     = `INSERT INTO memberships(id, org_id, account_id, given_name, family_name,
			display_name, external_id, role, active, attrs, source, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qMemberByID     = "SELECT " + memberColumns + memberFrom + "WHERE m.org_id = ? AND m.id = ?"
	qInsertSession  = `INSERT INTO sessions(id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDeleteSession  = "DELETE FROM sessions WHERE id = ?"
	qInsertReplay   = "INSERT INTO replay(assertion_id, expires_at) VALUES (?, ?)"
	qMemberByEmail  = "SELECT " + memberColumns + memberFrom + "WHERE m.org_id = ? AND a.email = ?"
	qDomainVerified = "SELECT COUNT(*) FROM domains WHERE org_id = ? AND name = ? AND status = 'verified'"
	qIdentity       = `SELECT m.id, o.id, o.name, a.email, m.given_name, m.family_name, m.role, m.active, m.epoch
		FROM memberships m JOIN accounts a ON a.id = m.account_id JOIN orgs o ON o.id = m.org_id
		WHERE m.id = ?`
	qIdentityTeams = `SELECT t.name, t.role FROM team_members tm JOIN teams t ON t.id = tm.team_id
		WHERE tm.member_id = ? ORDER BY t.name`
	qInsertAudit = `INSERT INTO audit(org_id, at, actor, actor_kind, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qReplaySeen  = "SELECT 1 FROM replay WHERE assertion_id = ?"
	qSessionByID = `SELECT id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index
		FROM sessions WHERE id = ?`
)
