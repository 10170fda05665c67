-- The schema of the SQLite store as of its migration 0009, on PostgreSQL:
-- the same tables and columns, NOCASE columns as citext, BLOBs as bytea,
-- and the same change feed kept by triggers, whichever process writes.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE orgs (
	id          BIGSERIAL PRIMARY KEY,
	name        TEXT COLLATE "C" NOT NULL UNIQUE,
	from_config INTEGER NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL
);

CREATE TABLE accounts (
	id         BIGSERIAL PRIMARY KEY,
	email      CITEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
	id           TEXT COLLATE "C" PRIMARY KEY,
	-- Insertion order, as SQLite's rowid: ties of created_at in
	-- Memberships, and the key of the SCIM list's pages.
	rowid        BIGSERIAL NOT NULL UNIQUE,
	org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	given_name   TEXT COLLATE "C" NOT NULL DEFAULT '',
	family_name  TEXT COLLATE "C" NOT NULL DEFAULT '',
	display_name TEXT COLLATE "C" NOT NULL DEFAULT '',
	external_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
	role         TEXT COLLATE "C" NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
	active       INTEGER NOT NULL DEFAULT 1,
	epoch        BIGINT NOT NULL DEFAULT 0,
	attrs        TEXT COLLATE "C" NOT NULL DEFAULT '{}',
	source       TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	version      BIGINT NOT NULL DEFAULT 1,
	UNIQUE (org_id, account_id)
);
CREATE INDEX memberships_account ON memberships(account_id);
CREATE INDEX memberships_org_created ON memberships(org_id, created_at, id);
CREATE INDEX memberships_external ON memberships(external_id);

CREATE TABLE teams (
	id          TEXT COLLATE "C" PRIMARY KEY,
	org_id      BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name        CITEXT NOT NULL,
	external_id TEXT COLLATE "C" NOT NULL DEFAULT '',
	role        TEXT COLLATE "C" NOT NULL DEFAULT '' CHECK (role IN ('', 'admin', 'member')),
	source      TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL DEFAULT 1,
	UNIQUE (org_id, name)
);

CREATE TABLE team_members (
	team_id   TEXT COLLATE "C" NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
	member_id TEXT COLLATE "C" NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	PRIMARY KEY (team_id, member_id)
);
CREATE INDEX team_members_member ON team_members(member_id);

CREATE TABLE domains (
	org_id      BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name        CITEXT NOT NULL,
	status      TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'verified')),
	txt_value   TEXT COLLATE "C" NOT NULL DEFAULT '',
	from_config INTEGER NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL,
	verified_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, name)
);
-- A domain is verified by one org at most.
CREATE UNIQUE INDEX domains_verified ON domains(name) WHERE status = 'verified';

CREATE TABLE tokens (
	id           TEXT COLLATE "C" PRIMARY KEY,
	org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name         TEXT COLLATE "C" NOT NULL DEFAULT '',
	scope        TEXT COLLATE "C" NOT NULL CHECK (scope IN ('scim', 'admin')),
	hash         BYTEA NOT NULL UNIQUE,
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE passwords (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	hash       TEXT COLLATE "C" NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
	id            TEXT COLLATE "C" PRIMARY KEY,
	member_id     TEXT COLLATE "C" NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	org_id        BIGINT NOT NULL DEFAULT 0,
	method        TEXT COLLATE "C" NOT NULL DEFAULT '',
	epoch         BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	last_seen     BIGINT NOT NULL,
	name_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
	session_index TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX sessions_member ON sessions(member_id);
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX sessions_org ON sessions(org_id);

CREATE TABLE replay (
	assertion_id TEXT COLLATE "C" PRIMARY KEY,
	expires_at   BIGINT NOT NULL
);

CREATE TABLE settings (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE member_emails (
	member_id  TEXT COLLATE "C" NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	org_id     BIGINT NOT NULL,
	value      CITEXT NOT NULL,
	type       CITEXT,
	is_primary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX member_emails_value ON member_emails(org_id, value);
CREATE INDEX member_emails_member ON member_emails(member_id);

-- Unlike SQLite's one row per org, rows that add up: one per membership
-- added or removed, folded together by the sweep (DeleteExpired). One row
-- per org, updated by every create, made an org's creates take turns
-- through their commits (160 creates/s from 16 clients).
CREATE TABLE member_counts (
	org_id  BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	members BIGINT NOT NULL,
	version BIGINT NOT NULL
);
CREATE INDEX member_counts_org ON member_counts(org_id);

CREATE TABLE sso_connections (
	org_id              BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
	idp_sso_url         TEXT COLLATE "C" NOT NULL DEFAULT '',
	idp_issuer          TEXT COLLATE "C" NOT NULL DEFAULT '',
	idp_certificates    TEXT COLLATE "C" NOT NULL DEFAULT '',
	idp_metadata_url    TEXT COLLATE "C" NOT NULL DEFAULT '',
	idp_metadata_xml    TEXT COLLATE "C" NOT NULL DEFAULT '',
	idp_slo_url         TEXT COLLATE "C" NOT NULL DEFAULT '',
	require_sso         INTEGER NOT NULL DEFAULT 0,
	idp_managed_access  INTEGER NOT NULL DEFAULT 0,
	allow_idp_initiated INTEGER NOT NULL DEFAULT 1,
	groups_attribute    TEXT COLLATE "C" NOT NULL DEFAULT '',
	state               TEXT COLLATE "C" NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'tested', 'enabled', 'disabled')),
	pinned              TEXT COLLATE "C" NOT NULL DEFAULT '',
	tested_at           BIGINT NOT NULL DEFAULT 0,
	created_at          BIGINT NOT NULL,
	updated_at          BIGINT NOT NULL,
	version             BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE sso_tests (
	id                 TEXT COLLATE "C" PRIMARY KEY,
	org_id             BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	connection_version BIGINT NOT NULL,
	created_at         BIGINT NOT NULL,
	expires_at         BIGINT NOT NULL,
	finished_at        BIGINT NOT NULL DEFAULT 0,
	ok                 INTEGER NOT NULL DEFAULT 0,
	outcome            TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX sso_tests_org ON sso_tests(org_id, created_at);

CREATE TABLE audit (
	id         BIGSERIAL PRIMARY KEY,
	org_id     BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	at         BIGINT NOT NULL,
	actor      TEXT COLLATE "C" NOT NULL,
	actor_kind TEXT COLLATE "C" NOT NULL,
	action     TEXT COLLATE "C" NOT NULL,
	target     TEXT COLLATE "C" NOT NULL DEFAULT '',
	before     TEXT COLLATE "C" NOT NULL DEFAULT '',
	after      TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX audit_org ON audit(org_id, id);

CREATE TABLE sp_keys (
	id          BIGSERIAL PRIMARY KEY,
	org_id      BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	use         TEXT COLLATE "C" NOT NULL CHECK (use IN ('signing', 'encryption')),
	state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('current', 'next')),
	certificate TEXT COLLATE "C" NOT NULL,
	private_key TEXT COLLATE "C" NOT NULL,
	not_after   BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (org_id, use, state)
);

-- The change feed. member_id names a member whose identity changed or a
-- live session of whom ended; org_id ('' member) an org whose connection,
-- domains, keys or existence changed.
--
-- A sequence number is taken at insert but seen at commit: were two
-- writers free to interleave, a reader could see seq 12 before 11 and
-- never read 11. So the trigger takes the seq under a transaction-level
-- advisory lock: writers of changes commit in seq order, and a reader
-- that sees a seq sees every smaller one. It also notifies the listeners
-- of every process, at commit.
CREATE SEQUENCE changes_seq;
CREATE TABLE changes (
	seq       BIGINT PRIMARY KEY,
	member_id TEXT COLLATE "C" NOT NULL,
	org_id    BIGINT NOT NULL DEFAULT 0,
	at        BIGINT NOT NULL DEFAULT extract(epoch FROM now())::bigint
);

CREATE FUNCTION ssogate_changes_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(5502625406);
	NEW.seq := nextval('changes_seq');
	PERFORM pg_notify('ssogate_changes', '');
	RETURN NEW;
END $$;
CREATE TRIGGER changes_seq BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION ssogate_changes_seq();

-- Member events.
CREATE FUNCTION ssogate_member_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO changes(member_id) VALUES (OLD.id);
	ELSE
		INSERT INTO changes(member_id) VALUES (NEW.id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER memberships_changed AFTER UPDATE OF given_name, family_name, display_name, role, active, epoch ON memberships
	FOR EACH ROW EXECUTE FUNCTION ssogate_member_changed();
CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships
	FOR EACH ROW EXECUTE FUNCTION ssogate_member_changed();

CREATE FUNCTION ssogate_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO changes(member_id) SELECT id FROM memberships WHERE account_id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER accounts_changed AFTER UPDATE OF email ON accounts
	FOR EACH ROW EXECUTE FUNCTION ssogate_account_changed();

CREATE FUNCTION ssogate_team_member_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO changes(member_id) VALUES (OLD.member_id);
	ELSE
		INSERT INTO changes(member_id) VALUES (NEW.member_id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER team_members_added AFTER INSERT ON team_members
	FOR EACH ROW EXECUTE FUNCTION ssogate_team_member_changed();
CREATE TRIGGER team_members_removed AFTER DELETE ON team_members
	FOR EACH ROW EXECUTE FUNCTION ssogate_team_member_changed();

CREATE FUNCTION ssogate_team_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO changes(member_id) SELECT member_id FROM team_members WHERE team_id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER teams_renamed AFTER UPDATE OF name ON teams
	FOR EACH ROW EXECUTE FUNCTION ssogate_team_changed();
CREATE TRIGGER teams_role_changed AFTER UPDATE OF role ON teams
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role) EXECUTE FUNCTION ssogate_team_changed();

-- Only sessions that were still live: the sweep of expired sessions puts
-- nothing on the feed.
CREATE FUNCTION ssogate_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO changes(member_id) VALUES (OLD.member_id);
	RETURN NULL;
END $$;
CREATE TRIGGER sessions_ended AFTER DELETE ON sessions
	FOR EACH ROW WHEN (OLD.expires_at > extract(epoch FROM now())) EXECUTE FUNCTION ssogate_session_ended();

-- Org events: orgs (id), and the tables keyed by org_id.
CREATE FUNCTION ssogate_org_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'orgs' THEN
		IF TG_OP = 'DELETE' THEN
			INSERT INTO changes(member_id, org_id) VALUES ('', OLD.id);
		ELSE
			INSERT INTO changes(member_id, org_id) VALUES ('', NEW.id);
		END IF;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO changes(member_id, org_id) VALUES ('', OLD.org_id);
	ELSE
		INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER orgs_changed AFTER INSERT OR DELETE ON orgs
	FOR EACH ROW EXECUTE FUNCTION ssogate_org_changed();
CREATE TRIGGER sso_connections_changed AFTER INSERT OR UPDATE OR DELETE ON sso_connections
	FOR EACH ROW EXECUTE FUNCTION ssogate_org_changed();
CREATE TRIGGER domains_changed AFTER INSERT OR UPDATE OR DELETE ON domains
	FOR EACH ROW EXECUTE FUNCTION ssogate_org_changed();
CREATE TRIGGER sp_keys_changed AFTER INSERT OR UPDATE OR DELETE ON sp_keys
	FOR EACH ROW EXECUTE FUNCTION ssogate_org_changed();

-- The emails of members (the SCIM "emails" list in attrs), for filters
-- on emails: an index probe instead of a scan of every member's JSON.
CREATE FUNCTION ssogate_member_emails() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	j jsonb;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		DELETE FROM member_emails WHERE member_id = NEW.id;
	END IF;
	IF NEW.attrs NOT LIKE '%"emails"%' THEN
		RETURN NULL;
	END IF;
	BEGIN
		j := NEW.attrs::jsonb;
	EXCEPTION WHEN others THEN
		RETURN NULL;
	END;
	IF jsonb_typeof(j) IS DISTINCT FROM 'object' OR jsonb_typeof(j->'emails') IS DISTINCT FROM 'array' THEN
		RETURN NULL;
	END IF;
	INSERT INTO member_emails(member_id, org_id, value, type, is_primary)
	SELECT NEW.id, NEW.org_id, e->>'value', e->>'type',
		CASE WHEN e->'primary' IN ('true'::jsonb, '1'::jsonb) THEN 1 ELSE 0 END
	FROM jsonb_array_elements(j->'emails') e
	WHERE jsonb_typeof(e) = 'object' AND jsonb_typeof(e->'value') = 'string';
	RETURN NULL;
END $$;
CREATE TRIGGER member_emails_inserted AFTER INSERT ON memberships
	FOR EACH ROW EXECUTE FUNCTION ssogate_member_emails();
CREATE TRIGGER member_emails_updated AFTER UPDATE OF attrs ON memberships
	FOR EACH ROW EXECUTE FUNCTION ssogate_member_emails();

-- The number of members of each org and a version bumped by every
-- membership added or removed (the SCIM list's total and page anchors).
CREATE FUNCTION ssogate_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') AND (TG_OP = 'DELETE' OR OLD.org_id != NEW.org_id) THEN
		INSERT INTO member_counts(org_id, members, version) VALUES (OLD.org_id, -1, 1);
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.org_id != NEW.org_id) THEN
		INSERT INTO member_counts(org_id, members, version) VALUES (NEW.org_id, 1, 1);
	ELSIF TG_OP = 'UPDATE' AND (OLD.created_at != NEW.created_at OR OLD.id != NEW.id) THEN
		INSERT INTO member_counts(org_id, members, version) VALUES (NEW.org_id, 0, 1);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER member_counts_changed AFTER INSERT OR DELETE OR UPDATE OF org_id, created_at, id ON memberships
	FOR EACH ROW EXECUTE FUNCTION ssogate_member_counts();
