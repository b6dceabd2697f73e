-- schemamig:message the NOT VALID / VALIDATE split: VALIDATE in its own revision
ALTER TABLE users VALIDATE CONSTRAINT users_team_fk;
-- schemamig:downgrade
