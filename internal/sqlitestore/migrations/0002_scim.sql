-- The emails of members, for SCIM filters on emails (Entra may match users
-- by their work email). They live in the SCIM "emails" list of
-- memberships.attrs; triggers copy them here, whichever process writes, so
-- that an email lookup is an index probe instead of a scan of every
-- member's JSON. A member whose list is empty or absent has no rows: its
-- account email stands in (see sqlitestore's AnyEmail translation).

CREATE TABLE member_emails (
	member_id  TEXT NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
	org_id     INTEGER NOT NULL,
	value      TEXT NOT NULL COLLATE NOCASE,
	type       TEXT COLLATE NOCASE,
	is_primary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX member_emails_value ON member_emails(org_id, value);
CREATE INDEX member_emails_member ON member_emails(member_id);

CREATE TRIGGER member_emails_inserted AFTER INSERT ON memberships
BEGIN
	INSERT INTO member_emails(member_id, org_id, value, type, is_primary)
	SELECT NEW.id, NEW.org_id, json_extract(e.value, '$.value'), json_extract(e.value, '$.type'),
		IFNULL(json_extract(e.value, '$.primary'), 0) = 1
	FROM json_each(CASE WHEN json_valid(NEW.attrs) THEN NEW.attrs ELSE '{}' END, '$.emails') e
	WHERE e.type = 'object' AND json_type(e.value, '$.value') = 'text';
END;

CREATE TRIGGER member_emails_updated AFTER UPDATE OF attrs ON memberships
BEGIN
	DELETE FROM member_emails WHERE member_id = NEW.id;
	INSERT INTO member_emails(member_id, org_id, value, type, is_primary)
	SELECT NEW.id, NEW.org_id, json_extract(e.value, '$.value'), json_extract(e.value, '$.type'),
		IFNULL(json_extract(e.value, '$.primary'), 0) = 1
	FROM json_each(CASE WHEN json_valid(NEW.attrs) THEN NEW.attrs ELSE '{}' END, '$.emails') e
	WHERE e.type = 'object' AND json_type(e.value, '$.value') = 'text';
END;

INSERT INTO member_emails(member_id, org_id, value, type, is_primary)
SELECT m.id, m.org_id, json_extract(e.value, '$.value'), json_extract(e.value, '$.type'),
	IFNULL(json_extract(e.value, '$.primary'), 0) = 1
FROM memberships m, json_each(CASE WHEN json_valid(m.attrs) THEN m.attrs ELSE '{}' END, '$.emails') e
WHERE e.type = 'object' AND json_type(e.value, '$.value') = 'text';

-- externalId lookups (Entra may match on it) probe this index; the org
-- is checked on the few rows found.
CREATE INDEX memberships_external ON memberships(external_id);
