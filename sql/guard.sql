--
-- The guard and the DDL log.
--
CREATE EXTENSION schemamig;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT guard, event_triggers_installed, event_triggers_enabled FROM schemamig.status();
-- (the login trigger that PostgreSQL 17+ also gets: test/integration/seal_login.sh)
SELECT evtname, evtevent, evtenabled FROM pg_event_trigger WHERE evtevent <> 'login' ORDER BY evtname;

-- Ad-hoc schema changes are refused, whoever types them
CREATE TABLE adhoc (id int);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT schemamig.register('g1', $$
CREATE TABLE accounts (id int PRIMARY KEY, name text);
CREATE VIEW account_names AS SELECT name FROM accounts;
CREATE MATERIALIZED VIEW account_count AS SELECT count(*) FROM accounts;
CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE SEQUENCE counter
$$, $$
DROP SEQUENCE counter;
DROP FUNCTION one();
DROP MATERIALIZED VIEW account_count;
DROP VIEW account_names;
DROP TABLE accounts
$$);
SELECT revision, statements FROM schemamig.upgrade();
ALTER TABLE accounts ADD COLUMN x int;
DROP TABLE accounts;
COMMENT ON TABLE accounts IS 'x';
GRANT SELECT ON accounts TO PUBLIC;
CREATE INDEX ON accounts (name);
CREATE FUNCTION two() RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE VIEW v AS SELECT 1;
ALTER SEQUENCE counter RESTART;
CREATE SCHEMA s;
DROP EXTENSION schemamig;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY 1;
SELECT has_table_privilege('public', 'accounts', 'SELECT') AS public_can_select;

-- Temporary objects, and REFRESH MATERIALIZED VIEW, are not schema changes
CREATE TEMP TABLE scratch (id int);
CREATE INDEX ON scratch (id);
ALTER TABLE scratch ADD COLUMN note text;
CREATE TEMP VIEW scratch_v AS SELECT * FROM scratch;
CREATE FUNCTION pg_temp.helper() RETURNS int LANGUAGE sql AS 'SELECT 3';
DROP VIEW scratch_v;
DROP TABLE scratch;
DROP TABLE IF EXISTS scratch;
REFRESH MATERIALIZED VIEW account_count;
SELECT count(*) AS logged FROM schemamig.ddl_log WHERE revision IS NULL;

-- The log: one row per statement, exact text, number, revision, direction
SELECT revision, direction, statement_no, command_tag, statement
  FROM schemamig.ddl_log ORDER BY id;
SELECT role, session_role, backend_pid = pg_backend_pid() AS this_backend,
       xid IS NOT NULL AS has_xid
  FROM schemamig.ddl_log ORDER BY id LIMIT 1;
SELECT objects FROM schemamig.ddl_log WHERE statement_no = 1 AND revision = 'g1';

-- DROP logs the dropped objects; ALTER COLUMN TYPE logs the rewrite
SELECT schemamig.register('g2', $$
ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
DROP SEQUENCE counter
$$, 'CREATE SEQUENCE counter; ALTER TABLE accounts ALTER COLUMN id TYPE int');
SELECT revision FROM schemamig.upgrade();
SELECT statement_no, command_tag, jsonb_pretty(objects) FROM schemamig.ddl_log
 WHERE revision = 'g2' ORDER BY id;
SELECT revision FROM schemamig.downgrade();
SELECT revision, direction, statement_no, statement FROM schemamig.ddl_log
 WHERE direction = 'downgrade' ORDER BY id;

-- object names are data, whatever characters they hold
SELECT schemamig.register('g3', 'CREATE TABLE "pipe|name, [x]" (id int); DROP TABLE "pipe|name, [x]"',
                          'SELECT 1', parents => '{g1}');
SELECT revision FROM schemamig.upgrade('g3');
SELECT objects FROM schemamig.ddl_log WHERE revision = 'g3' AND command_tag = 'DROP TABLE';
SELECT revision FROM schemamig.downgrade('g1');
SELECT schemamig.unregister('g3');

-- Nobody edits the log, superusers included
UPDATE schemamig.ddl_log SET statement = 'forged';
DELETE FROM schemamig.ddl_log;
TRUNCATE schemamig.ddl_log;
DELETE FROM schemamig.journal;

-- begin_revision: a client-driven migration in one transaction
SELECT schemamig.begin_revision('c1');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.begin_revision('c1', 'client change');
CREATE TABLE client_made (id int); CREATE INDEX ON client_made (id);
COMMIT;
SELECT revision, parents, kind, message FROM schemamig.revision WHERE revision = 'c1';
SELECT * FROM schemamig.current();
SELECT direction, statement_no, statement FROM schemamig.ddl_log WHERE revision = 'c1' ORDER BY id;
-- the context ends with the transaction
CREATE TABLE after_commit (id int);

-- an aborted transaction leaves no revision, no applied row, no log rows
SELECT count(*) AS log_rows FROM schemamig.ddl_log \gset
BEGIN;
SELECT schemamig.begin_revision('c2');
CREATE TABLE doomed (id int);
ROLLBACK;
SELECT count(*) = :log_rows AS no_new_rows FROM schemamig.ddl_log;
SELECT count(*) AS c2 FROM schemamig.revision WHERE revision = 'c2';
SELECT to_regclass('doomed') IS NULL AS doomed_absent;

-- rolling back the savepoint that opened the context closes it
BEGIN;
SAVEPOINT s;
SELECT schemamig.begin_revision('c3');
ROLLBACK TO SAVEPOINT s;
CREATE TABLE after_savepoint (id int);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- end_revision closes it early
BEGIN;
SELECT schemamig.begin_revision('c4');
CREATE TABLE c4_table (id int);
SELECT schemamig.end_revision();
CREATE TABLE after_end (id int);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- warn and off: allowed, logged as unversioned
SET schemamig.guard = warn;
CREATE TABLE warned (id int);
SET schemamig.guard = off;
ALTER TABLE warned ADD COLUMN x int;
RESET schemamig.guard;
SELECT revision, direction, statement_no, command_tag, statement
  FROM schemamig.ddl_log WHERE direction = 'unversioned' ORDER BY id;
-- status() shows the guard's mode
SET schemamig.guard = warn;
SELECT guard FROM schemamig.status();
RESET schemamig.guard;

-- session_replication_role = replica does not switch the guard off
SET session_replication_role = replica;
CREATE TABLE replica_sneak (id int);
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;

-- a disabled event trigger shows in status(); disabling it is a change to
-- schemamig's own objects, refused (42501) unless the guard is off
\set VERBOSITY terse
ALTER EVENT TRIGGER schemamig_guard DISABLE;
\set VERBOSITY default
SET schemamig.guard = off;
ALTER EVENT TRIGGER schemamig_guard DISABLE;
SELECT event_triggers_installed, event_triggers_enabled FROM schemamig.status();
ALTER EVENT TRIGGER schemamig_guard ENABLE ALWAYS;
RESET schemamig.guard;
SELECT event_triggers_installed, event_triggers_enabled FROM schemamig.status();

-- An operator may index the log to query it: expression and partial
-- indexes are maintained like any index (the log row is inserted directly,
-- not through SQL, and must still keep them right).
SET schemamig.guard = off;
CREATE INDEX ddl_log_tag_lower ON schemamig.ddl_log (lower(command_tag));
CREATE INDEX ddl_log_versioned ON schemamig.ddl_log (id) WHERE revision IS NOT NULL;
RESET schemamig.guard;
BEGIN;
SELECT schemamig.begin_revision('g_indexed_log');
CREATE TABLE indexed_log_probe (id int);
COMMIT;
SET enable_seqscan = off;
SELECT revision, command_tag FROM schemamig.ddl_log
 WHERE lower(command_tag) = 'create table' AND revision = 'g_indexed_log';
SELECT count(*) AS versioned_rows_found_by_partial_index FROM schemamig.ddl_log
 WHERE revision IS NOT NULL AND id > 0;
SELECT count(*) AS versioned_rows FROM schemamig.ddl_log WHERE revision IS NOT NULL AND id + 0 > 0;
RESET enable_seqscan;

-- clean up
SET schemamig.guard = off;
DROP TABLE accounts, client_made, warned, indexed_log_probe CASCADE;
DROP SEQUENCE counter;
DROP FUNCTION one();
DROP EXTENSION schemamig;
