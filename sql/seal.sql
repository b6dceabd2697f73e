--
-- The seal (#12): schemamig's own objects are refused to everyone but a
-- superuser with the guard off, inside a revision too (42501).  This file
-- runs as a superuser under enforce; test/integration/seal_routes.sh tries
-- every route as non-superusers, with and without full coverage.
--
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SELECT coverage FROM schemamig.status();
SELECT schemamig.register('s1', $$
CREATE TABLE seal_t (id int PRIMARY KEY, v text);
CREATE INDEX seal_t_v ON seal_t (v);
CREATE TABLE seal_parent (id int)
$$, 'DROP TABLE seal_t, seal_parent');
SELECT revision FROM schemamig.upgrade();

-- inside a revision, every change to schemamig's own objects is refused
BEGIN;
SELECT schemamig.begin_revision('s2');
SAVEPOINT a;
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER ddl_log_append_only;
ROLLBACK TO a;
DROP TRIGGER journal_append_only ON schemamig.journal;
ROLLBACK TO a;
CREATE TABLE schemamig.planted (id int);
ROLLBACK TO a;
CREATE OR REPLACE FUNCTION schemamig.refuse_change() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
ROLLBACK TO a;
ALTER FUNCTION schemamig.status() OWNER TO CURRENT_USER;
ROLLBACK TO a;
ALTER TABLE schemamig.journal ADD COLUMN note text;
ROLLBACK TO a;
CREATE INDEX ON schemamig.journal (at);
ROLLBACK TO a;
CREATE POLICY p ON schemamig.revision USING (true);
ROLLBACK TO a;
COMMENT ON TABLE schemamig.ddl_log IS 'mine';
ROLLBACK TO a;
COMMENT ON EXTENSION schemamig IS 'mine';
ROLLBACK TO a;
ALTER SCHEMA schemamig RENAME TO not_schemamig;
ROLLBACK TO a;
DROP SCHEMA schemamig CASCADE;
ROLLBACK TO a;
ALTER EVENT TRIGGER schemamig_log_ddl DISABLE;
ROLLBACK TO a;
ALTER TABLE seal_t SET SCHEMA schemamig;
ROLLBACK TO a;
ALTER EXTENSION schemamig ADD TABLE seal_parent;
ROLLBACK TO a;
ALTER EXTENSION plpgsql ADD TABLE seal_parent;
ROLLBACK TO a;
DROP EXTENSION schemamig;
ROLLBACK TO a;
-- allowed: grants, maintenance, and CLUSTER's internal alters of every index
GRANT SELECT ON schemamig.revision TO PUBLIC;
REVOKE SELECT ON schemamig.revision FROM PUBLIC;
REINDEX TABLE schemamig.journal;
CLUSTER seal_t USING seal_t_v;
CLUSTER seal_t;
-- logged in the revision: the EXPLAIN ANALYZE that creates, the CLUSTER that marks
-- (plan output discarded: PostgreSQL 18 prints actual rows as 1.00, 15 and 17 as 1)
\o /dev/null
EXPLAIN (ANALYZE, COSTS off, TIMING off, SUMMARY off) CREATE TABLE seal_made AS SELECT 1 AS a;
\o
COMMIT;
SELECT command_tag, statement, objects FROM schemamig.ddl_log WHERE revision = 's2' ORDER BY id;

-- outside a revision the same statements are unversioned schema changes
CLUSTER seal_t USING seal_t_pkey;
EXPLAIN (ANALYZE, COSTS off) SELECT 1 AS a INTO seal_into;
CREATE TEMP TABLE seal_tmp () INHERITS (seal_parent);
CREATE TEMP TABLE seal_tmp2 (id int);
ALTER TABLE seal_tmp2 INHERIT seal_parent;
-- temporary all the way is allowed
CREATE TEMP TABLE seal_tmp3 () INHERITS (seal_tmp2);
-- (plan output discarded: PostgreSQL 18 prints actual rows as 1.00, 15 and 17 as 1)
\o /dev/null
EXPLAIN (ANALYZE, COSTS off, TIMING off, SUMMARY off) CREATE TEMP TABLE seal_tmp4 AS SELECT 1;
\o

-- a SET in a migration ends with its revision
SELECT schemamig.register('s3', $$SET lock_timeout = '42s'; SELECT set_config('search_path', 'pg_catalog', false)$$, '');
SELECT revision FROM schemamig.upgrade();
SHOW lock_timeout;
SHOW search_path;

-- scripts that cannot run, begin_revision() of a scripted revision, limits
SELECT schemamig.register('s4', 'COPY seal_t FROM STDIN');
SELECT schemamig.register('s4', 'SELECT 1', 'COPY seal_t TO STDOUT');
SELECT schemamig.register('s5', 'CREATE TABLE seal_s5 (id int)', 'DROP TABLE seal_s5');
BEGIN;
SELECT schemamig.begin_revision('s5');
ROLLBACK;
SELECT schemamig.register('s6', 'SELECT 1', 'SELECT 1', (SELECT array_agg('p' || i) FROM generate_series(1, 1001) i));
SELECT schemamig.register('s6', 'SELECT 1', 'SELECT 1', message => repeat('m', 65537));
SELECT * FROM schemamig.upgrade(repeat('z', 129));
SELECT schemamig.register(repeat('é', 100), 'SELECT 1');

-- the deliberate uninstall
BEGIN;
SELECT schemamig.prepare_uninstall('');
ROLLBACK;
SELECT schemamig.prepare_uninstall('outside a transaction block');
BEGIN;
SELECT schemamig.prepare_uninstall('regression test');
SELECT action, target FROM schemamig.journal ORDER BY id DESC LIMIT 1;
DROP EXTENSION schemamig;
SELECT count(*) FROM pg_extension WHERE extname = 'schemamig';
ROLLBACK;

-- a superuser with the guard off may do anything
SET schemamig.guard = off;
ALTER EVENT TRIGGER schemamig_log_ddl DISABLE;
ALTER EVENT TRIGGER schemamig_log_ddl ENABLE ALWAYS;
DROP TABLE seal_t, seal_parent, seal_made CASCADE;
DROP EXTENSION schemamig;
