-- Failed-password counters and locks shared by every replica
-- (storage.ThrottleStore). key is a SHA-256 of the account or address, so
-- no email or IP sits here; times are unix milliseconds. The sweep
-- (DeleteExpired) drops rows quiet for an hour.
CREATE TABLE throttle (
	key          TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	in_flight    INTEGER NOT NULL,
	locked_until BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
