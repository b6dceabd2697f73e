-- schemamig:message teams
-- schemamig:parents 0001_users
CREATE TABLE teams (id bigint PRIMARY KEY, name text NOT NULL);
-- schemamig:downgrade
DROP TABLE teams;
