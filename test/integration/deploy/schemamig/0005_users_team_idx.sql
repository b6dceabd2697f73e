CREATE INDEX CONCURRENTLY users_team_idx ON users (team_id);
UPDATE users SET team_id = NULL WHERE team_id IS NOT NULL AND false;
-- schemamig:downgrade
DROP INDEX CONCURRENTLY users_team_idx;
