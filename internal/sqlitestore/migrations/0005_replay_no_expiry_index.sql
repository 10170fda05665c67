-- Every sign-in writes a replay record; its expiry index was one more
-- B-tree page in each sign-in's write. The table holds only assertions
-- still inside their validity window (minutes), so the sweep every five
-- minutes scans it whole at no real cost.
DROP INDEX IF EXISTS replay_expires;
