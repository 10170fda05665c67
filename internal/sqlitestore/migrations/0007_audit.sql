-- The org's activity log: every change made through the Access Security
-- pages, the admin API, the CLI and SCIM, with who made it and the values
-- before and after (never a secret). And where members and teams come
-- from, for the pages to show.

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id  INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	at      INTEGER NOT NULL,
	-- who: a member's email, a token's name and ID, the operator
	actor   TEXT NOT NULL,
	-- member, token, scim or operator
	actor_kind TEXT NOT NULL,
	-- what, such as sso.update, token.create, member.role
	action  TEXT NOT NULL,
	-- on what: an email, a domain, a team or token name
	target  TEXT NOT NULL DEFAULT '',
	-- JSON objects of the fields changed, or ''
	before  TEXT NOT NULL DEFAULT '',
	after   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_org ON audit(org_id, id);

-- How a member or team came to be: scim, sso (a first sign-in), invite,
-- manual (made by an admin). Older rows: scim when SCIM attributes were
-- stored with them.
ALTER TABLE memberships ADD COLUMN source TEXT NOT NULL DEFAULT '';
UPDATE memberships SET source = 'scim' WHERE attrs != '{}' AND attrs != '';
ALTER TABLE teams ADD COLUMN source TEXT NOT NULL DEFAULT '';
UPDATE teams SET source = 'scim';
