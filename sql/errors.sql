--
-- Every error of the spec, provoked, with its SQLSTATE; after each failing
-- call the revisions, the applied set, the journal, the DDL log and the
-- schema are exactly as before.
--
CREATE EXTENSION schemamig;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|',
    (SELECT string_agg(r::text, ',' ORDER BY revision) FROM schemamig.revision r),
    (SELECT string_agg(a::text, ',' ORDER BY revision) FROM schemamig.applied a),
    (SELECT string_agg(j::text, ',' ORDER BY id) FROM schemamig.journal j),
    (SELECT string_agg(l::text, ',' ORDER BY id) FROM schemamig.ddl_log l),
    (SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace)))
$$;
SELECT schemamig.register('e1', 'CREATE TABLE e1 (id int)', 'DROP TABLE e1');
SELECT schemamig.register('e2', 'CREATE TABLE e2 (id int)', NULL);
SELECT revision FROM schemamig.upgrade('e1');
SELECT pg_temp.state() AS before \gset
\set VERBOSITY default
\set SHOW_CONTEXT never

-- SM001: DDL outside a revision
CREATE TABLE adhoc (id int);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM002: an applied revision is never edited
SELECT schemamig.register('e1', 'CREATE TABLE e1 (id bigint)', 'DROP TABLE e1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e1', 'CREATE TABLE e1 (id int)', 'DROP TABLE e1', parents => '{e2}');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM004: the applied set forbids it (already applied, not applied, has
-- children, unregistering an applied revision)
SELECT schemamig.unregister('e1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM schemamig.verify('e1');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.begin_revision('e1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM003: unknown revisions and targets
SELECT revision FROM schemamig.upgrade('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.upgrade('+5');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.upgrade('-1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.downgrade('-2');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.downgrade('e2');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.stamp('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.unregister('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM004: graph errors
SELECT schemamig.register('e3', 'SELECT 1', '', parents => '{missing}');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e3', 'SELECT 1', '', parents => '{e3}');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e3', 'SELECT 1', '', parents => '{e1}');
SELECT schemamig.register('e1', 'CREATE TABLE e1 (id int)', 'DROP TABLE e1', parents => '{e3}');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e4', 'SELECT 2', '');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.upgrade('head');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e3b', 'SELECT 2', '', parents => '{e3}');
SELECT schemamig.unregister('e3');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.unregister('e3b');
SELECT schemamig.unregister('e3');
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM005: an irreversible revision on the downgrade path
SELECT revision FROM schemamig.upgrade('e2');
SELECT pg_temp.state() AS before \gset
SELECT revision FROM schemamig.downgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM006: the lint refuses unsafe scripts (e1 has a row: the statement
-- would fail)
INSERT INTO e1 VALUES (1);
SELECT schemamig.register('e7', 'ALTER TABLE e1 ADD COLUMN x int NOT NULL', 'ALTER TABLE e1 DROP COLUMN x');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- SM007: invalid ids and scripts
SELECT schemamig.register('bad id', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('heads', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('-1', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register(repeat('x', 129), 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register(NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e5', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a NULL or invalid id is SM007 in every function that takes one
SELECT schemamig.unregister(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.unregister('bad id');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_revision(NULL);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.begin_revision('bad id');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT schemamig.begin_step(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('bad id', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.finish_step(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.finish_step('bad id');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e5', E'CREATE TABLE ok (id int);\nCREATE TABEL broken (id int);');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e5', 'SELECT 1', 'DROP TABLE x; DROP TABLE (');
\echo :LAST_ERROR_SQLSTATE
-- a psql meta-command in a script: the hint names its line
SELECT schemamig.register('e5', E'CREATE TABLE ok (id int);\n  \\set x 1\nSELECT 1;');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e5', 'BEGIN; CREATE TABLE t (id int); COMMIT;');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('e5', 'CREATE TABLE t (id int)', 'SAVEPOINT s; DROP TABLE t');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- A failed call inside the caller's transaction can be caught; the
-- savepoint rollback restores everything, the migration context included.
BEGIN;
SAVEPOINT s;
SELECT schemamig.register('e6', 'CREATE TABLE e6 (id int); SELECT 1/0', 'DROP TABLE e6');
SELECT revision FROM schemamig.upgrade('e6');
ROLLBACK TO SAVEPOINT s;
CREATE TABLE after_rollback (id int);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.state() = :'before' AS unchanged;

-- clean up
SELECT schemamig.stamp('base');
SET schemamig.guard = off;
DROP TABLE e1, e2;
DROP EXTENSION schemamig;
