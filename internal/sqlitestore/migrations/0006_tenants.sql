-- Orgs as tenants: each org's SSO connection kept in the store, the test
-- sign-ins that vouch for it, team roles, the org each session belongs to,
-- and org-level events in the change feed, so that every process sees a
-- connection, domain or org change within one poll.

CREATE TABLE sso_connections (
	org_id              INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
	idp_sso_url         TEXT NOT NULL DEFAULT '',
	idp_issuer          TEXT NOT NULL DEFAULT '',
	-- PEM CERTIFICATE blocks, trusted together (rotation).
	idp_certificates    TEXT NOT NULL DEFAULT '',
	idp_metadata_url    TEXT NOT NULL DEFAULT '',
	-- The IdP's metadata: as given, or the last good copy fetched from
	-- idp_metadata_url.
	idp_metadata_xml    TEXT NOT NULL DEFAULT '',
	idp_slo_url         TEXT NOT NULL DEFAULT '',
	require_sso         INTEGER NOT NULL DEFAULT 0,
	idp_managed_access  INTEGER NOT NULL DEFAULT 0,
	allow_idp_initiated INTEGER NOT NULL DEFAULT 1,
	state               TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'tested', 'enabled', 'disabled')),
	-- Fields a Caddyfile sets for the org (comma-separated names): they
	-- win, and the admin API shows them read-only.
	pinned              TEXT NOT NULL DEFAULT '',
	tested_at           INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	version             INTEGER NOT NULL DEFAULT 1
);

-- A test sign-in: started by an admin, run by the gate, its outcome kept
-- for the admin to read. Only a test that succeeds moves a connection from
-- draft to tested, and only for the version it ran against.
CREATE TABLE sso_tests (
	id                 TEXT PRIMARY KEY,
	org_id             INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	connection_version INTEGER NOT NULL,
	created_at         INTEGER NOT NULL,
	expires_at         INTEGER NOT NULL,
	finished_at        INTEGER NOT NULL DEFAULT 0,
	ok                 INTEGER NOT NULL DEFAULT 0,
	-- What came back, as JSON (no assertion, no secret).
	outcome            TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sso_tests_org ON sso_tests(org_id, created_at);

-- A team may grant its members a role (never owner).
ALTER TABLE teams ADD COLUMN role TEXT NOT NULL DEFAULT '' CHECK (role IN ('', 'admin', 'member'));

-- The org a session belongs to, and how it began (saml or password).
ALTER TABLE sessions ADD COLUMN org_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT '';
UPDATE sessions SET org_id = (SELECT m.org_id FROM memberships m WHERE m.id = sessions.member_id);
UPDATE sessions SET method = CASE WHEN name_id != '' THEN 'saml' ELSE 'password' END;
CREATE INDEX sessions_org ON sessions(org_id);

-- Org-level events: member_id is '' and org_id names the org whose
-- connection, domains or existence changed.
ALTER TABLE changes ADD COLUMN org_id INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER teams_role_changed AFTER UPDATE OF role ON teams WHEN OLD.role != NEW.role
BEGIN
	INSERT INTO changes(member_id) SELECT member_id FROM team_members WHERE team_id = NEW.id;
END;
-- Deleting a team drops its rows in team_members (team_members_removed
-- records each member), so a role it granted ends with it.

CREATE TRIGGER orgs_inserted AFTER INSERT ON orgs
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.id);
END;
CREATE TRIGGER orgs_deleted AFTER DELETE ON orgs
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', OLD.id);
END;
CREATE TRIGGER sso_connections_inserted AFTER INSERT ON sso_connections
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER sso_connections_updated AFTER UPDATE ON sso_connections
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER sso_connections_deleted AFTER DELETE ON sso_connections
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', OLD.org_id);
END;
CREATE TRIGGER domains_inserted AFTER INSERT ON domains
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER domains_updated AFTER UPDATE ON domains
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER domains_deleted AFTER DELETE ON domains
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', OLD.org_id);
END;
