-- A session's end is an event on the change feed, however it ends (logout,
-- a new password, deactivation, deletion, the IdP's logout, SSO switched
-- off), so that every gate in every process drops its cached copy within
-- one poll instead of serving it until the idle timeout.
--
-- Only sessions that were still live: an expired session is refused by
-- every gate on its own, so the periodic sweep of expired sessions
-- (DeleteExpired) puts nothing on the feed, and a mass expiry cannot make
-- every process drop and reload its whole cache.
CREATE TRIGGER sessions_ended AFTER DELETE ON sessions
WHEN OLD.expires_at > unixepoch()
BEGIN
	INSERT INTO changes(member_id) VALUES (OLD.member_id);
END;
