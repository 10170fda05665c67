-- What single logout needs to name the session at the IdP.
ALTER TABLE sessions ADD COLUMN name_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN session_index TEXT NOT NULL DEFAULT '';
