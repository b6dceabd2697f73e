--
-- Drift with memory (src/drift.c): the schema is compared with what the
-- applied revisions explain.  Every legitimate kind of migration leaves no
-- drift; an ad-hoc change is never absorbed silently: under enforce
-- upgrade(), downgrade() and stamp() refuse (SM008) until accept_drift()
-- records it; under warn and off they record it themselves.
--
CREATE DATABASE regress_drift;
\c regress_drift
CREATE EXTENSION schemamig;

-- the first migration takes the baseline
SELECT schemamig.register('m1', 'CREATE TABLE m1 (id bigint PRIMARY KEY, v text)', 'DROP TABLE m1');
SELECT revision FROM schemamig.upgrade();
SELECT drift FROM schemamig.status();

-- begin_revision(): the client's DDL is explained by its revision
BEGIN;
SELECT schemamig.begin_revision('c1');
ALTER TABLE m1 ADD COLUMN w int;
CREATE INDEX m1_v ON m1 (v);
CREATE VIEW m1_view AS SELECT id, v FROM m1;
COMMIT;
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();

-- upgrade_each() that stops half way: what it applied is explained
SELECT schemamig.register('m2', 'CREATE TABLE m2 (id int)', 'DROP TABLE m2', '{c1}');
SELECT schemamig.register('m3', 'CREATE TABLE m3 (id int); SELECT 1/0;', 'DROP TABLE m3', '{m2}');
CALL schemamig.upgrade_each();
SELECT * FROM schemamig.current();
SELECT drift FROM schemamig.status();

-- a non-transactional revision run by its steps
SELECT schemamig.register('m3', 'CREATE TABLE m3 (id int)', 'DROP TABLE m3', '{m2}');
SELECT revision FROM schemamig.upgrade();
SELECT schemamig.register('m4', 'CREATE INDEX CONCURRENTLY m3_id ON m3 (id)', 'DROP INDEX CONCURRENTLY m3_id', '{m3}');
SELECT * FROM schemamig.steps() \gexec
SELECT drift FROM schemamig.status();

-- a downgrade, including a view recreated exactly as before
SELECT revision FROM schemamig.downgrade('m3');
SELECT drift FROM schemamig.status();
SELECT revision FROM schemamig.downgrade('c1');
SELECT drift FROM schemamig.status();

-- An ad-hoc change (allowed here by guard = off) is drift: drift() says
-- what changed
SET schemamig.guard = off;
ALTER TABLE m1 ALTER COLUMN v SET NOT NULL;
CREATE TABLE adhoc (id int);
RESET schemamig.guard;
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();

-- under enforce every migration with something to do refuses until it is
-- accepted
SELECT schemamig.register('m6', 'CREATE TABLE m6 (id int)', 'DROP TABLE m6', '{m4}');
\set VERBOSITY terse
SELECT revision FROM schemamig.upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.downgrade();
SELECT schemamig.stamp('c1');
\set VERBOSITY default
SELECT revision FROM schemamig.upgrade();

-- a later versioned change of the same table does not hide it
BEGIN;
SELECT schemamig.begin_revision('c2');
ALTER TABLE m1 ADD COLUMN x int;
COMMIT;
SELECT object_type, identity, change, property FROM schemamig.drift();

-- accept_drift(): a reason is required; the extension owner and the roles
-- it grants may call it
CREATE ROLE regress_drift_deployer;
SET ROLE regress_drift_deployer;
SELECT schemamig.accept_drift('mine');
RESET ROLE;
SELECT schemamig.accept_drift(NULL);
SELECT schemamig.accept_drift('  ');
SELECT schemamig.accept_drift('hotfix of incident 7, turned into a revision later');
SELECT action, detail->>'reason' AS reason,
       jsonb_array_length(detail->'drift') AS drift_rows,
       jsonb_array_length(detail->'unversioned') AS unversioned_statements
  FROM schemamig.journal WHERE action = 'accept_drift';
SELECT drift FROM schemamig.status();
SELECT revision FROM schemamig.upgrade();

-- under warn the migration records the drift itself, with a WARNING
SET schemamig.guard = warn;
CREATE INDEX adhoc_id ON adhoc (id);
SELECT schemamig.register('m5', 'CREATE TABLE m5 (id int)', 'DROP TABLE m5', '{c2}');
SELECT revision FROM schemamig.upgrade();
RESET schemamig.guard;
SELECT action, detail->>'reason' AS reason, detail->'drift'->0->>'identity' AS first
  FROM schemamig.journal WHERE action = 'accept_drift' ORDER BY id;
SELECT drift FROM schemamig.status();

-- an ad-hoc change undone before the next migration left no difference:
-- the migration goes on and the journal says so
SET schemamig.guard = off;
CREATE TABLE gone (id int);
DROP TABLE gone;
RESET schemamig.guard;
SELECT drift FROM schemamig.status();
SELECT revision FROM schemamig.downgrade();
SELECT detail->>'reason' AS reason, jsonb_array_length(detail->'unversioned') AS statements
  FROM schemamig.journal WHERE action = 'accept_drift' ORDER BY id DESC LIMIT 1;

-- clean up
\c contrib_regression
DROP DATABASE regress_drift;
DROP ROLE regress_drift_deployer;
