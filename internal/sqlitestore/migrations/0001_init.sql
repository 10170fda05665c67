-- The first schema: orgs, accounts, memberships, teams, domains, tokens,
-- passwords, sessions, the replay cache, settings and the change feed.

CREATE TABLE orgs (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	from_config INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL
);

CREATE TABLE accounts (
	id         INTEGER PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
	id           TEXT PRIMARY KEY,
	org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	given_name   TEXT NOT NULL DEFAULT '',
	family_name  TEXT NOT NULL DEFAULT '',
	display_name TEXT NOT NULL DEFAULT '',
	external_id  TEXT NOT NULL DEFAULT '',
	role         TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
	active       INTEGER NOT NULL DEFAULT 1,
	epoch        INTEGER NOT NULL DEFAULT 0,
	attrs        TEXT NOT NULL DEFAULT '{}',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL DEFAULT 1,
	UNIQUE (org_id, account_id)
);
CREATE INDEX memberships_account ON memberships(account_id);
CREATE INDEX memberships_org_created ON memberships(org_id, created_at, id);
CREATE INDEX memberships_org_external ON memberships(org_id, external_id);

CREATE TABLE teams (
	id          TEXT PRIMARY KEY,
	org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name        TEXT NOT NULL COLLATE NOCASE,
	external_id TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	version     INTEGER NOT NULL DEFAULT 1,
	UNIQUE (org_id, name)
);

CREATE TABLE team_members (
	team_id   TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
	member_id TEXT NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	PRIMARY KEY (team_id, member_id)
) WITHOUT ROWID;
CREATE INDEX team_members_member ON team_members(member_id);

CREATE TABLE domains (
	org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name        TEXT NOT NULL COLLATE NOCASE,
	status      TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
	txt_value   TEXT NOT NULL DEFAULT '',
	from_config INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	verified_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, name)
);
-- A domain is verified by one org at most.
CREATE UNIQUE INDEX domains_verified ON domains(name) WHERE status = 'verified';

CREATE TABLE tokens (
	id           TEXT PRIMARY KEY,
	org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name         TEXT NOT NULL DEFAULT '',
	scope        TEXT NOT NULL CHECK (scope IN ('scim', 'admin')),
	hash         BLOB NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE passwords (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	hash       TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	epoch      INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_member ON sessions(member_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE replay (
	assertion_id TEXT PRIMARY KEY,
	expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX replay_expires ON replay(expires_at);

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;

-- The change feed: every change to what a member's identity shows is
-- recorded here by triggers, whichever process makes it, so that gate
-- caches in every process can drop what went stale.
CREATE TABLE changes (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	member_id TEXT NOT NULL,
	at        INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE TRIGGER memberships_changed AFTER UPDATE OF given_name, family_name, display_name, role, active, epoch ON memberships
BEGIN
	INSERT INTO changes(member_id) VALUES (NEW.id);
END;
CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships
BEGIN
	INSERT INTO changes(member_id) VALUES (OLD.id);
END;
CREATE TRIGGER accounts_changed AFTER UPDATE OF email ON accounts
BEGIN
	INSERT INTO changes(member_id) SELECT id FROM memberships WHERE account_id = NEW.id;
END;
CREATE TRIGGER team_members_added AFTER INSERT ON team_members
BEGIN
	INSERT INTO changes(member_id) VALUES (NEW.member_id);
END;
CREATE TRIGGER team_members_removed AFTER DELETE ON team_members
BEGIN
	INSERT INTO changes(member_id) VALUES (OLD.member_id);
END;
CREATE TRIGGER teams_renamed AFTER UPDATE OF name ON teams
BEGIN
	INSERT INTO changes(member_id) SELECT member_id FROM team_members WHERE team_id = NEW.id;
END;
