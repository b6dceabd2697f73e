-- schemamig:parents 0002_teams
ALTER TABLE users ADD COLUMN team_id bigint;
ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;
-- schemamig:downgrade
ALTER TABLE users DROP COLUMN team_id;
