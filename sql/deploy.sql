-- Deploys a pipeline can trust (#17): pending(), assert_at() (SM009),
-- run_step(), baseline(), the pg_dump rule, stamp() warnings.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS schemamig;
RESET client_min_messages;
SET schemamig.lint = warn;

-- baseline: refused for a NULL or invalid id, script-less when unknown
SELECT schemamig.baseline(NULL);
SELECT schemamig.baseline('head');
SET schemamig.guard = off;
CREATE TABLE legacy (id int PRIMARY KEY);
RESET schemamig.guard;
SELECT schemamig.baseline('b0');
SELECT revision, kind, parents, upgrade_sql, downgrade_sql IS NULL AS irreversible
  FROM schemamig.revision;
SELECT action, revision FROM schemamig.journal ORDER BY id;
SELECT "current", pending, drift FROM schemamig.status();
-- refused once anything is applied
SELECT schemamig.baseline('b1');
-- irreversible
SELECT revision FROM schemamig.downgrade('base');

-- pending() and assert_at()
SELECT schemamig.register('p1', 'CREATE TABLE p1 (id int)', 'DROP TABLE p1 -- schemamig:allow drop-table', '{b0}');
SELECT schemamig.register('p2', 'CREATE INDEX CONCURRENTLY p1_id_idx ON p1 (id)', 'DROP INDEX CONCURRENTLY p1_id_idx', '{p1}');
SELECT schemamig.register('p3', 'CREATE TABLE p3 (id int)', 'DROP TABLE p3 -- schemamig:allow drop-table', '{p2}');
SELECT * FROM schemamig.pending();
SELECT * FROM schemamig.pending('p1');
SELECT schemamig.assert_at('b0');
SELECT schemamig.assert_at();
SELECT schemamig.assert_at('+1');
SELECT schemamig.assert_at('nope');
-- upgrade() stops short with a WARNING naming what is left
SELECT revision FROM schemamig.upgrade();
SELECT schemamig.assert_at('p1');
SELECT schemamig.assert_at();
-- the SQLSTATEs a pipeline sees
\set VERBOSITY sqlstate
SELECT schemamig.assert_at();
SELECT schemamig.baseline('b1');
SELECT schemamig.baseline(NULL);
SELECT schemamig.assert_at('nope');
\set VERBOSITY default
SELECT schemamig.assert_at();
\set VERBOSITY terse

-- a step refused before anything ran leaves the revision pending, not partial
SELECT schemamig.begin_step('p2', 1);
CREATE INDEX CONCURRENTLY other_idx ON p1 (id);
SELECT partial FROM schemamig.status();
SELECT * FROM schemamig.downgrade_steps('b0');

-- run_step(): statements of a non-transactional revision that can run in a
-- transaction are run by schemamig, once
SELECT schemamig.register('p2', $$CREATE INDEX CONCURRENTLY p1_id_idx ON p1 (id);
INSERT INTO p1 VALUES (1);
CREATE MATERIALIZED VIEW p1_count AS SELECT count(*) AS n FROM p1;
CREATE TABLE p1_copy AS SELECT * FROM p1$$, $$DROP TABLE p1_copy;
DROP MATERIALIZED VIEW p1_count;
DELETE FROM p1;
DROP INDEX CONCURRENTLY p1_id_idx$$, '{p1}');
SELECT * FROM schemamig.steps();
SELECT schemamig.run_step('p2', 2);
SELECT schemamig.run_step('p2', 1);
SELECT schemamig.run_step('p1', 1);
SELECT schemamig.run_step('p2', 9);
SELECT schemamig.run_step('p2', NULL);
SELECT schemamig.begin_step('p2', 1);
CREATE INDEX CONCURRENTLY p1_id_idx ON p1 (id);
SELECT schemamig.run_step('p2', 2);
SELECT schemamig.run_step('p2', 2);
SELECT schemamig.run_step('p2', 3);
SELECT schemamig.run_step('p2', 4);
SELECT schemamig.finish_step('p2');
SELECT count(*) AS rows FROM p1;
SELECT n FROM p1_count;
SELECT statement_no, command_tag FROM schemamig.ddl_log WHERE revision = 'p2' ORDER BY id;
BEGIN;
SELECT schemamig.run_step('p2', 2);
ROLLBACK;
CALL schemamig.upgrade_each();
SELECT schemamig.assert_at();
-- downgrade through the steps: DML and DROP MATERIALIZED VIEW run by schemamig
SELECT * FROM schemamig.downgrade_steps('p1');

-- pg_dump's output registers: \restrict lines dropped, CREATE EXTENSION
-- schemamig, its comment and its schema skipped, the rest kept
SELECT schemamig.register('p4', E'\\restrict abc123\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config(''search_path'', '''', false);\nCREATE SCHEMA schemamig;\nALTER SCHEMA schemamig OWNER TO postgres;\nCREATE EXTENSION IF NOT EXISTS schemamig WITH SCHEMA schemamig;\nCOMMENT ON EXTENSION schemamig IS ''x'';\nCREATE TABLE public.p4 (id integer NOT NULL);\nALTER TABLE public.p4 OWNER TO postgres;\n\\unrestrict abc123\n', NULL, '{p3}');
SELECT upgrade_statements FROM schemamig.revision WHERE revision = 'p4';
SELECT statement_no, statement FROM schemamig.plan('p4') ORDER BY statement_no;
CALL schemamig.upgrade_each('p4');
SHOW search_path;
SELECT statement_no, command_tag FROM schemamig.ddl_log WHERE revision = 'p4' ORDER BY id;

-- baseline of a registered revision checks that its objects exist
SELECT schemamig.stamp('base');
SET schemamig.guard = off;
DROP TABLE p4;
RESET schemamig.guard;
SELECT schemamig.baseline('p1');
SELECT schemamig.register('r0', 'CREATE TABLE legacy (id int PRIMARY KEY); CREATE TABLE gone (id int); CREATE INDEX gone_idx ON gone (id); CREATE TYPE mood AS ENUM (''a'')', NULL, '{}');
SELECT schemamig.baseline('r0');
SELECT count(*) AS applied FROM schemamig.applied;

-- repair: an applied revision whose new text has the same statements
SELECT schemamig.unregister('r0');
SELECT schemamig.stamp('p3');
SELECT checksum AS old_checksum FROM schemamig.revision WHERE revision = 'p1' \gset
SELECT schemamig.register('p1', E'-- reindented\ncreate   TABLE p1 (\n    id int\n);', E'DROP TABLE p1 -- schemamig:allow drop-table', '{b0}');
SELECT r.checksum <> :'old_checksum' AS new_text, r.checksum = a.checksum AS applied_follows
  FROM schemamig.revision r JOIN schemamig.applied a USING (revision) WHERE revision = 'p1';
SELECT action, revision FROM schemamig.journal ORDER BY id DESC LIMIT 1;
-- anything else is SM002 naming the first statement that differs
\set VERBOSITY default
SELECT schemamig.register('p1', 'CREATE TABLE p1 (id bigint)', 'DROP TABLE p1 -- schemamig:allow drop-table', '{b0}');
SELECT schemamig.register('p1', 'CREATE TABLE p1 (id int)', NULL, '{b0}');
\set VERBOSITY terse

-- client-driven revisions show in heads() but never count for parent
-- inference or upgrade('head')
BEGIN;
SELECT schemamig.begin_revision('hotfix_1');
CREATE INDEX p3_id_idx ON p3 (id);
COMMIT;
SELECT * FROM schemamig.heads();
SELECT revision, kind, is_head FROM schemamig.history() WHERE is_head;
SELECT schemamig.register('p5', 'CREATE TABLE p5 (id int)', 'DROP TABLE p5 -- schemamig:allow drop-table');
SELECT parents FROM schemamig.revision WHERE revision = 'p5';
SELECT revision FROM schemamig.upgrade('head');
SELECT * FROM schemamig.heads();

-- a role without grants reads where the database stands, changes nothing
CREATE ROLE regress_deploy_stranger;
SET ROLE regress_deploy_stranger;
SELECT * FROM schemamig.pending();
SELECT schemamig.assert_at();
SELECT schemamig.baseline('x1');
SELECT schemamig.run_step('p2', 1);
RESET ROLE;
DROP ROLE regress_deploy_stranger;

-- clean up
SET schemamig.guard = off;
DROP TABLE legacy, p1, p3, p4, p5 CASCADE;
DROP EXTENSION schemamig;
