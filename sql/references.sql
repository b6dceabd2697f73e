--
-- The references of schemamig.applied and schemamig.progress to
-- schemamig.revision: constraint triggers that check what the foreign keys
-- of 0.1.0 checked, with the same names, messages and SQLSTATE (23503),
-- and stand aside while schemamig.restoring is on, so that a parallel
-- pg_restore may load the tables in any order (t/003_dump_restore.pl).
--
CREATE EXTENSION schemamig;
\set VERBOSITY default
SET client_min_messages = warning;
SELECT schemamig.register('f1', 'CREATE TABLE f1 (id int)', 'DROP TABLE f1');
SELECT schemamig.register('f2', 'CREATE TABLE f2 (id int)', 'DROP TABLE f2');
SELECT count(*) FROM schemamig.upgrade('f1');
RESET client_min_messages;

SELECT tgname, tgrelid::regclass, tgenabled, tgdeferrable
FROM pg_trigger WHERE tgrelid IN ('schemamig.revision'::regclass, 'schemamig.applied'::regclass,
  'schemamig.progress'::regclass) ORDER BY tgname;
SELECT count(*) AS foreign_keys FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'schemamig'::regnamespace;

-- a reference to a revision that is not registered
\set ON_ERROR_STOP 0
INSERT INTO schemamig.applied (revision, checksum) VALUES ('nope', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO schemamig.progress (revision, direction, statements) VALUES ('nope', 'upgrade', 1);
UPDATE schemamig.applied SET revision = 'nope' WHERE revision = 'f1';
-- a referenced revision is neither deleted nor renamed
DELETE FROM schemamig.revision WHERE revision = 'f1';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE schemamig.revision SET revision = 'f1_renamed' WHERE revision = 'f1';
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO schemamig.progress (revision, direction, statements) VALUES ('f2', 'upgrade', 1);
\set ON_ERROR_STOP 0
DELETE FROM schemamig.revision WHERE revision = 'f2';
\set ON_ERROR_STOP 1
ROLLBACK;

-- what the foreign keys allowed stays allowed
BEGIN;
UPDATE schemamig.revision SET message = 'changed' WHERE revision = 'f1';
UPDATE schemamig.revision SET revision = revision WHERE revision = 'f1';
DELETE FROM schemamig.revision WHERE revision = 'f2';
ROLLBACK;
SELECT schemamig.unregister('f2');

-- while restoring, rows arrive in any order
BEGIN;
SET LOCAL schemamig.restoring = on;
INSERT INTO schemamig.applied (revision, checksum) VALUES ('later', 'x');
INSERT INTO schemamig.revision (revision, upgrade_sql, checksum) VALUES ('later', '', 'x');
SELECT revision FROM schemamig.applied ORDER BY revision;
ROLLBACK;

-- clean up
SELECT schemamig.stamp('base');
SET schemamig.guard = off;
DROP TABLE f1;
DROP EXTENSION schemamig;
