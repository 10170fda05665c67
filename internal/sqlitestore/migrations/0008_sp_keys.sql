-- SP keys: each org's signing and encryption key pairs, which its SP
-- metadata publishes, its requests and logout messages are signed with,
-- and IdPs encrypt assertions to. During a rotation a use has two: the
-- current key, and the next one published beside it until the current is
-- retired. And the attribute an org's IdP sends the member's groups in.

CREATE TABLE sp_keys (
	id          INTEGER PRIMARY KEY,
	org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	use         TEXT NOT NULL CHECK (use IN ('signing', 'encryption')),
	state       TEXT NOT NULL CHECK (state IN ('current', 'next')),
	-- PEM: a CERTIFICATE block, and a PKCS#8 PRIVATE KEY block (a secret:
	-- never shown, never logged).
	certificate TEXT NOT NULL,
	private_key TEXT NOT NULL,
	not_after   INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (org_id, use, state)
);

-- A key change changes the org's SP (its metadata, what it decrypts
-- with): an org-level event, so that every process's registry reloads the
-- org, as for its connection.
CREATE TRIGGER sp_keys_inserted AFTER INSERT ON sp_keys
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER sp_keys_updated AFTER UPDATE ON sp_keys
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', NEW.org_id);
END;
CREATE TRIGGER sp_keys_deleted AFTER DELETE ON sp_keys
BEGIN
	INSERT INTO changes(member_id, org_id) VALUES ('', OLD.org_id);
END;

-- The SAML attribute whose values are the member's teams ('': the
-- assertion's groups are ignored).
ALTER TABLE sso_connections ADD COLUMN groups_attribute TEXT NOT NULL DEFAULT '';
